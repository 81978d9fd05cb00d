"""What rebuilding read models from a benchmark data set costs, into SQLite or PostgreSQL.

    .venv/bin/python tools/dataset_rebuild_cost.py DATASET SERVICE [--postgres URL] [-- EXTRA...]

DATASET is a data set `fourlinks bench` made (var/bench/datasets/v2-scale-0.05-seed-2021 after
`make bench-quick`); SERVICE a service, or `--all` for every service side by side. Its log is
copied and served by a nats-server of its own; `fourlinks replay rebuild` runs into a new SQLite
file, or a new database on the PostgreSQL server of URL (dropped afterwards), with EXTRA options
(`--in-place`). Prints wall time and the CPU seconds of the command, of its nats-server and of
PostgreSQL's processes. To compare two commits, run it from a worktree of the other one too, with
`PYTHONPATH=$(ls -d ../base/{shared,services,apps}/*/src | paste -sd:)`. A figure, not a test.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from fourlinks_bench.measure import cpu_seconds
from fourlinks_runtime.embedded import start_nats


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu() -> float:
    """CPU seconds of PostgreSQL's processes, ended backends included (the postmaster reaps them)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / tick
    return total


SERVICES = ("members", "assignments", "feedback", "notifications")


def database_url(scratch: Path, postgres: str | None, service: str) -> tuple[str, list[str]]:
    """Where to rebuild (`{service}` in it for `--all`), and the PostgreSQL databases to drop."""
    name = "{service}" if service == "--all" else service
    if postgres is None:
        return f"sqlite:///{scratch}/{name}.db", []
    stem = f"rebuild_{uuid.uuid4().hex[:8]}"
    databases = [f"{stem}_{one}" for one in (SERVICES if service == "--all" else (service,))]
    with psycopg.connect(postgres, autocommit=True) as conn:
        for database in databases:
            conn.execute(f'CREATE DATABASE "{database}"')
    return f"{postgres.rsplit('/', 1)[0]}/{stem}_{name}", databases


def drop(postgres: str, databases: list[str]) -> None:
    with psycopg.connect(postgres, autocommit=True) as conn:
        for database in databases:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main(dataset: Path, service: str, postgres: str | None, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        shutil.copytree(dataset / "nats", scratch / "nats")
        server = start_nats(scratch / "nats")
        env = {
            **os.environ,
            "FOURLINKS_NATS_URL": server.url,
            "FOURLINKS_MASTER_KEY": (dataset / "master.key").read_text().strip(),
            "FOURLINKS_VAR_DIR": str(scratch),
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        url, databases = database_url(scratch, postgres, service)
        try:
            started, cpu, database_cpu = time.perf_counter(), children_cpu(), postgres_cpu()
            nats_cpu = cpu_seconds(server.process.pid)
            command = [sys.executable, "-m", "fourlinks_cli", "replay", "rebuild", service]
            done = subprocess.run(
                [*command, "--database-url", url, *extra], env=env, check=True, capture_output=True, text=True
            )
            wall, cpu = time.perf_counter() - started, children_cpu() - cpu
            nats_cpu = cpu_seconds(server.process.pid) - nats_cpu
            database_cpu = postgres_cpu() - database_cpu if postgres else 0.0
        finally:
            server.stop()
            if postgres:
                drop(postgres, databases)
    print(done.stdout.strip().splitlines()[-1])
    print(
        f"wall {wall:.1f} s; CPU: command {cpu:.1f} s, nats-server {nats_cpu:.1f} s, "
        f"PostgreSQL {database_cpu:.1f} s"
    )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    extra = arguments[arguments.index("--") + 1 :] if "--" in arguments else []
    arguments = arguments[: arguments.index("--")] if "--" in arguments else arguments
    postgres = None
    if "--postgres" in arguments:
        at = arguments.index("--postgres")
        postgres = arguments[at + 1]
        del arguments[at : at + 2]
    main(Path(arguments[0]), arguments[1], postgres, extra)
