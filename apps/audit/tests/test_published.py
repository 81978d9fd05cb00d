"""What the checkpointer publishes: the latest signed checkpoint and the latest integrity check."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from fourlinks_audit.published import published_app
from fourlinks_audit.transparency import CheckpointDirectory


async def test_nothing_yet_then_the_latest_checkpoint_and_integrity_check(tmp_path: Path) -> None:
    checkpoints = CheckpointDirectory(tmp_path / "checkpoints")
    transport = httpx.ASGITransport(app=published_app(checkpoints))
    async with httpx.AsyncClient(transport=transport, base_url="http://checkpoints") as client:
        assert (await client.get("/checkpoint")).status_code == 404
        assert "fourlinks_integrity_intact NaN" in (await client.get("/metrics")).text
        assert (await client.get("/integrity")).json() == {"detail": "no integrity check has run yet"}
        checkpoints.add(5, "fourlinks/X\n5\n" + "A" * 43 + "=\n\n— k sig\n")
        checkpoints.add(12, "fourlinks/X\n12\n" + "A" * 43 + "=\n\n— k sig\n")
        found = {"intact": False, "checked_at": "2026-11-30T09:00:00+00:00", "findings": [{"position": 7}]}
        checkpoints.keep_integrity(json.dumps(found))
        assert (await client.get("/checkpoint")).text.startswith("fourlinks/X\n12\n")
        assert (await client.get("/integrity")).json() == found
        metrics = (await client.get("/metrics")).text
        assert "fourlinks_integrity_intact 0.0" in metrics
        assert "fourlinks_integrity_findings 1.0" in metrics
        assert "fourlinks_checkpoint_tree_size 12.0" in metrics
        assert (await client.get("/health/ready")).status_code == 200


async def test_the_services_public_signing_keys_are_published_with_the_checkpoints(tmp_path: Path) -> None:
    from fourlinks_runtime.signing_keys import ensure_signing_keys

    signers = ensure_signing_keys(tmp_path, ["members", "feedback"])
    app = published_app(CheckpointDirectory(tmp_path / "checkpoints"), signers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
        answer = (await client.get("/signers")).json()
    assert answer["signed_from"] == 1
    assert {entry["context"] for entry in answer["signers"]} == {"members", "feedback"}
    assert not any("seed" in key or "private" in key for entry in answer["signers"] for key in entry)
    assert oct((tmp_path / "signing" / "members.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "signing").stat().st_mode & 0o777) == "0o700"
