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
        assert (await client.get("/integrity")).json() == {"detail": "no integrity check has run yet"}
        checkpoints.add(5, "first\n")
        checkpoints.add(12, "second\n")
        checkpoints.keep_integrity(json.dumps({"intact": True, "events": 12}))
        assert (await client.get("/checkpoint")).text == "second\n"
        assert (await client.get("/integrity")).json() == {"intact": True, "events": 12}
        assert (await client.get("/health/ready")).status_code == 200
