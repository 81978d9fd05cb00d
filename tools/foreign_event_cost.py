"""What a running service pays for another service's events: a service (members by default), as
a real process (`fourlinks-serve SERVICE`), follows the log while task commands it handles none of are
appended (one progress report each, as a member's command writes it). Its CPU time per command is
read from /proc, less what it spends idle over the same time.

    .venv/bin/python tools/foreign_event_cost.py [COMMANDS] [SERVICE]

The feedback service also runs a policy watching every task (`callback-on-closure`): its figure
includes receiving each task event on that consumer and acknowledging it unread.

A figure, not a test: run it before and after a change and compare.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fourlinks_assignments.application.commands import ReportProgress
from fourlinks_assignments.application.handlers import report_progress
from fourlinks_bench.baselines import _started_task
from fourlinks_bench.measure import cpu_seconds
from fourlinks_contracts import full_registry
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import free_port

MEMBER = Actor(id="cost-member", roles=("member",), scope="yuhang")
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk="


def positions(port: int) -> list[int]:
    """Every projection's position, from the service's readiness answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as reply:
            body = json.load(reply)
    except OSError as exc:  # 503 while catching up still carries the body
        body = json.load(exc) if hasattr(exc, "read") else {"projections": {}}
    return [p["position"] for p in body.get("projections", {}).values()]


async def until_positions(port: int, position: int) -> None:
    while True:
        seen = positions(port)
        if seen and min(seen) >= position:
            return
        await asyncio.sleep(0.05)


async def measure(
    service: subprocess.Popen[bytes], port: int, settings: Settings, commands: int, service_name: str
) -> str:
    """Task commands appended while the service follows; its CPU per command, idle subtracted."""
    nc = await connect(settings, name="foreign-event-cost")
    store, _ = open_event_store(nc, settings, full_registry())
    task_ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(32)]
    for task_id in task_ids:
        await run_command(store, CommandContext.new(MEMBER), _started_task(task_id, MEMBER.id))
    await until_positions(port, await store.last_position())
    await asyncio.sleep(2.0)
    idle_started, idle_cpu = time.monotonic(), cpu_seconds(service.pid)
    await asyncio.sleep(3.0)
    idle_rate = (cpu_seconds(service.pid) - idle_cpu) / (time.monotonic() - idle_started)

    started, cpu = time.monotonic(), cpu_seconds(service.pid)
    for n in range(commands):
        progress = ReportProgress(MEMBER, task_ids[n % len(task_ids)], "已联系物业")

        async def work(uow: UnitOfWork, progress: ReportProgress = progress) -> None:
            await report_progress(progress, uow)

        await run_command(store, CommandContext.new(MEMBER), work)
    await until_positions(port, await store.last_position())
    spent = cpu_seconds(service.pid) - cpu - idle_rate * (time.monotonic() - started)
    await nc.close()
    return (
        f"{service_name} service, {commands:,} task commands it handles none of: "
        f"{spent * 1000 / commands:.3f} ms CPU a command (idle {idle_rate * 1000:.1f} ms/s subtracted)"
    )


def main(commands: int, service_name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = start_nats(Path(scratch) / "nats")
        env = {
            **os.environ,
            "FOURLINKS_NATS_URL": server.url,
            "FOURLINKS_VAR_DIR": scratch,
            "FOURLINKS_MASTER_KEY": MASTER_KEY,
            "FOURLINKS_JWT_SECRET": "a-secret-for-measuring-only-not-for-use",
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        init = [sys.executable, "-m", "fourlinks_cli", "nats", "init", "--consumers"]
        init += ["--monitor-url", server.monitor_url]
        subprocess.run(init, env=env, check=True, capture_output=True)
        port = free_port()
        serve = [sys.executable, "-m", "fourlinks_runtime.serve", service_name, "--port", str(port)]
        service = subprocess.Popen(serve, env=env)
        try:
            settings = Settings(nats_url=server.url, var_dir=Path(scratch), master_key=MASTER_KEY)
            print(asyncio.run(measure(service, port, settings, commands, service_name)))
        finally:
            service.terminate()
            service.wait(10)
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2] if len(sys.argv) > 2 else "members")
