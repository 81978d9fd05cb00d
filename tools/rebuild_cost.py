"""What a SQLite rebuild costs built in place against built in a fresh file and swapped in.

    .venv/bin/python tools/rebuild_cost.py [SCALE] [SERVICE] [ROUNDS]

A district of SCALE (`fourlinks seed`, default 0.2: 1,200 members, 6,000 households) on a
nats-server of its own; SERVICE's read models (default members) rebuilt over a populated file,
`--in-place` and the default (a fresh file) alternately, ROUNDS times each. Wall time and CPU
seconds of the command and of nats-server. A figure, not a test.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fourlinks_bench.measure import cpu_seconds
from fourlinks_runtime.embedded import EmbeddedNats, start_nats

MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk="


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fourlinks(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )


def rebuild(
    env: dict[str, str], server: EmbeddedNats, service: str, target: Path, *extra: str
) -> tuple[float, ...]:
    started, cpu, nats = time.perf_counter(), children_cpu(), cpu_seconds(server.process.pid)
    fourlinks(env, "replay", "rebuild", service, "--database-url", f"sqlite:///{target}", *extra)
    return (
        time.perf_counter() - started,
        children_cpu() - cpu,
        cpu_seconds(server.process.pid) - nats,
    )


def main(scale: float, service: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = start_nats(Path(scratch) / "nats")
        env = {
            **os.environ,
            "FOURLINKS_NATS_URL": server.url,
            "FOURLINKS_MASTER_KEY": MASTER_KEY,
            "FOURLINKS_VAR_DIR": scratch,
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        try:
            fourlinks(env, "nats", "init", "--monitor-url", server.monitor_url)
            fourlinks(env, "seed", "--scale", str(scale))
            target = Path(scratch) / f"{service}.db"
            rebuild(env, server, service, target)  # populate the file both kinds then rebuild over
            figures: dict[str, list[tuple[float, ...]]] = {"in place": [], "fresh file": []}
            for _ in range(rounds):
                figures["in place"].append(rebuild(env, server, service, target, "--in-place"))
                figures["fresh file"].append(rebuild(env, server, service, target))
            base = statistics.median(f[0] for f in figures["in place"])
            for name, runs in figures.items():
                wall = statistics.median(r[0] for r in runs)
                print(
                    f"{name:10} wall {wall:.2f} s ({wall / base:.2f}x), CPU command "
                    f"{statistics.median(r[1] for r in runs):.2f} s, nats-server "
                    f"{statistics.median(r[2] for r in runs):.2f} s; runs {[round(r[0], 2) for r in runs]}"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 0.2,
        sys.argv[2] if len(sys.argv) > 2 else "members",
        int(sys.argv[3]) if len(sys.argv) > 3 else 3,
    )
