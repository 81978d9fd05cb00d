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
