"""What a backup and a restore cost on a data set (docs/benchmarks.md, docs/operations.md).

    .venv/bin/python tools/backup_cost.py DATASET_DIR

In one run, on a copy of the data set's store: `fourlinks backup`, then into two fresh servers (each
after `fourlinks nats init`) the baseline, the backup's events published one at a time, each
waiting for its acknowledgement as the first restore did, and `fourlinks restore` (atomic batches).
Wall time and CPU seconds of the command (or this process, for the baseline) and of nats-server for
each. A figure, not a test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fourlinks_bench.measure import cpu_seconds
from fourlinks_kernel.envelope import type_headers
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings


def cpu_of(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(name: str, server: EmbeddedNats, work: Callable[[], None], figures: dict[str, Any]) -> None:
    started, own, children = (
        time.perf_counter(),
        cpu_of(resource.RUSAGE_SELF),
        cpu_of(resource.RUSAGE_CHILDREN),
    )
    nats_cpu = cpu_seconds(server.process.pid)
    work()
    seconds = time.perf_counter() - started
    figures[name] = {
        "seconds": round(seconds, 2),
        "events_per_s": round(figures["events"] / seconds),
        "cpu_s_command": round(
            cpu_of(resource.RUSAGE_SELF) - own + cpu_of(resource.RUSAGE_CHILDREN) - children, 2
        ),
        "cpu_s_nats": round(cpu_seconds(server.process.pid) - nats_cpu, 2),
    }
    print(name, figures[name], file=sys.stderr, flush=True)


def fourlinks(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


def environment(server: EmbeddedNats, master_key: str, var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FOURLINKS_NATS_URL": server.url,
        "FOURLINKS_MASTER_KEY": master_key,
        "FOURLINKS_VAR_DIR": str(var_dir),
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }


def one_at_a_time(server: EmbeddedNats, events: Path) -> None:
    """The first restore: each event published and its acknowledgement awaited before the next."""

    async def publish() -> None:
        nc = await connect(Settings(nats_url=server.url), name="restore-baseline")
        js = nc.jetstream()
        try:
            with events.open() as lines:
                for text in lines:
                    line = json.loads(text)
                    headers = {
                        **type_headers(line["event_type"], line["schema_version"]),
                        "Nats-Expected-Last-Sequence": str(line["position"] - 1),
                    }
                    await js.publish(line["subject"], base64.b64decode(line["payload"]), headers=headers)
        finally:
            await nc.close()

    asyncio.run(publish())


def fresh_server(work: Path, name: str, master_key: str) -> tuple[EmbeddedNats, dict[str, str]]:
    server = start_nats(work / name)
    env = environment(server, master_key, work / f"{name}-var")
    fourlinks(env, "nats", "init", "--monitor-url", server.monitor_url)
    return server, env


def measure(dataset: Path) -> dict[str, Any]:
    master_key = (dataset / "master.key").read_text().strip()
    figures: dict[str, Any] = {"events": json.loads((dataset / "manifest.json").read_text())["events"]}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copytree(
            dataset / "nats", work / "nats", ignore=shutil.ignore_patterns("ports", "*.conf", "*.log")
        )
        original = start_nats(work / "nats")
        try:
            env = environment(original, master_key, work / "var")
            timed(
                "backup", original, lambda: fourlinks(env, "backup", "--out", str(work / "backup")), figures
            )
        finally:
            original.stop()
        figures["backup_mb"] = round(
            sum(f.stat().st_size for f in (work / "backup").rglob("*") if f.is_file()) / 1e6, 1
        )
        baseline, _ = fresh_server(work, "baseline", master_key)
        try:
            timed(
                "one_at_a_time",
                baseline,
                lambda: one_at_a_time(baseline, work / "backup" / "events.jsonl"),
                figures,
            )
        finally:
            baseline.stop()
        target, env = fresh_server(work, "restored", master_key)
        try:
            timed(
                "restore", target, lambda: fourlinks(env, "restore", "--from", str(work / "backup")), figures
            )
        finally:
            target.stop()
    figures["restore_vs_one_at_a_time"] = round(
        figures["restore"]["seconds"] / figures["one_at_a_time"]["seconds"], 3
    )
    return figures


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1])), indent=2))
