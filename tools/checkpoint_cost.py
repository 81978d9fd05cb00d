"""What signing a checkpoint within seconds of every event costs (docs/benchmarks.md, docs/audit.md).

    .venv/bin/python tools/checkpoint_cost.py [SECONDS_A_PHASE] [RATE ...]

Starts a nats-server and `fourlinks audit checkpoint --follow` (publishing on a free port), then
measures the follower's CPU seconds per wall second idle (nobody reading it), and under a steady
load of each RATE events a second (events of about the size the services write) while a client
reads /checkpoint four times a second to time how long each event waited for a published
checkpoint that covers it. A figure, not a test.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from fourlinks_audit.notes import SignerKey
from fourlinks_bench.measure import cpu_seconds
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import ProvisionOptions, stream_config
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

STREAM = "COST_EVENTS"
PAYLOAD = b'{"data":{"name":{"$enc":"' + b"x" * 500 + b'"}},"meta":{"v":1}}'  # ~550 bytes, like an event


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(phase: float, rates: list[float]) -> dict[str, Any]:
    """Idle, then each rate: the follower's CPU share and each event's wait for a checkpoint."""
    with tempfile.TemporaryDirectory() as work:
        server = start_nats(Path(work) / "nats")
        nc = await connect(Settings(nats_url=server.url), name="checkpoint-cost")
        config = stream_config(ProvisionOptions(jetstream=JetStreamSettings(stream=STREAM, prefix="cost")))
        await nc.request(f"$JS.API.STREAM.CREATE.{STREAM}", json.dumps(config).encode(), timeout=5)
        await nc.request("cost.x", PAYLOAD, timeout=5)
        port = free_port()
        key = SignerKey.generate_unique()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")},
            "FOURLINKS_NATS_URL": server.url,
            "FOURLINKS_STREAM": STREAM,
            "FOURLINKS_SUBJECT_PREFIX": "cost",
            "FOURLINKS_VAR_DIR": str(Path(work) / "var"),
            "FOURLINKS_CHECKPOINT_KEY": key.encoded(),
            "FOURLINKS_RATE_LIMITS": "false",
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        command = [
            sys.executable,
            "-m",
            "fourlinks_cli",
            "audit",
            "checkpoint",
            "--follow",
            "--port",
            str(port),
        ]
        follower = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        figures: dict[str, Any] = {}
        try:
            await asyncio.sleep(8)  # started, first checkpoint signed, first integrity check done
            figures["idle"] = await phase_at(nc, follower.pid, port, 0, phase)
            for rate in rates:
                figures[f"{rate:g}/s"] = await phase_at(nc, follower.pid, port, rate, phase)
        finally:
            follower.terminate()
            await asyncio.wait_for(follower.wait(), timeout=30)
            await nc.close()
            server.stop()
    idle = figures["idle"]["cpu_share"]
    for figure in figures.values():
        figure["ratio_to_idle"] = round(figure["cpu_share"] / idle, 1) if idle else None
    return figures


async def phase_at(nc: Any, pid: int, port: int, rate: float, seconds: float) -> dict[str, Any]:
    """The follower's CPU share over `seconds` while `rate` events a second are appended."""
    loop = asyncio.get_running_loop()
    appended: dict[int, float] = {}
    waited: dict[int, float] = {}
    stop = loop.time() + seconds

    async def watch() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while (loop.time() < stop + 6 and len(waited) < len(appended)) or loop.time() < stop:
                size = int((await client.get("/checkpoint")).text.split("\n")[1])
                now = loop.time()
                for position in [p for p in appended if p <= size and p not in waited]:
                    waited[position] = now - appended[position]
                await asyncio.sleep(0.25)

    cpu, wall = cpu_seconds(pid), time.monotonic()
    watcher = asyncio.create_task(watch() if rate else asyncio.sleep(0))  # idle: nobody asks
    while loop.time() < stop:
        if rate:
            ack = json.loads((await nc.request("cost.x", PAYLOAD, timeout=5)).data)
            appended[int(ack["seq"])] = loop.time()
            await asyncio.sleep(1 / rate)
        else:
            await asyncio.sleep(0.5)
    used, elapsed = cpu_seconds(pid) - cpu, time.monotonic() - wall
    await watcher
    waits = sorted(waited.values())
    return {
        "events": len(appended),
        "cpu_seconds": round(used, 2),
        "cpu_share": round(used / elapsed, 4),
        "wait_median_s": round(statistics.median(waits), 2) if waits else None,
        "wait_max_s": round(waits[-1], 2) if waits else None,
        "uncovered": len(appended) - len(waited),
    }


if __name__ == "__main__":
    phase = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    rates = [float(r) for r in sys.argv[2:]] or [10.0, 100.0]
    print(json.dumps(asyncio.run(measure(phase, rates)), indent=2))
