"""What loading one aggregate costs nats-server in a long log, by subject layout.

    .venv/bin/python tools/aggregate_load_cost.py old-layout DATASET_NATS_DIR COPY_DIR
        a copy of a data set's events stream in the earlier layout (type in the subject, no type
        headers): what a stream written before this release looks like
    .venv/bin/python tools/aggregate_load_cost.py loads NATS_DIR [READS]
        reads the aggregates written first and last in the log, warm and right after a server
        restart: wall time per read (p50/p99) and the server's CPU per read (from /proc)

Works on a copy of NATS_DIR (the server rewrites index files). A figure, not a test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fourlinks_bench.measure import cpu_seconds
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import SUBJECT_LAYOUT
from fourlinks_kernel.jetstream import (
    JetStreamEventStore,
    JetStreamSettings,
    Message,
    publish_batch,
    subject_layout,
)
from fourlinks_kernel.provisioning import ProvisionOptions, stream_config
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

SETTINGS = JetStreamSettings()


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("ports", "*.conf", "*.log"))
    return target


async def _store(server: EmbeddedNats) -> JetStreamEventStore:
    nc = await connect(Settings(nats_url=server.url), name="aggregate-load-cost")
    return JetStreamEventStore(nc, EventCodec(full_registry()), SETTINGS)


async def make_old_layout(source: Path, target: Path) -> None:
    """Copy every event into a fresh store under `<aggregate>.<type>` subjects, no type headers."""
    with tempfile.TemporaryDirectory() as scratch:
        reading = start_nats(_copy(source, Path(scratch) / "nats"))
        writing = start_nats(target)
        try:
            src, dst = await _store(reading), await _store(writing)
            config = {k: v for k, v in stream_config(ProvisionOptions()).items() if k != "metadata"}
            await dst.nc.request(f"$JS.API.STREAM.CREATE.{SETTINGS.stream}", json.dumps(config).encode())
            total = await src.last_position()
            bar, batch = Progress("old layout", total), list[Message]()
            async for stored in src.read():
                batch.append((f"{stored.subject}.{stored.event_type}", stored.payload, {}))
                if len(batch) == 500:
                    await publish_batch(dst.nc, batch)
                    bar.advance(len(batch))
                    batch = []
            if batch:
                await publish_batch(dst.nc, batch)
                bar.advance(len(batch))
            bar.finish()
        finally:
            reading.stop()
            writing.stop()


async def _aggregates(store: JetStreamEventStore, positions: range) -> list[str]:
    """The distinct aggregate subjects (without any type token) of events at these positions."""
    seen: dict[str, None] = {}
    async for stored in store.read(from_position=positions.start, until_position=positions.stop):
        envelope, _ = store.codec.envelope_of(stored)
        seen[f"{SETTINGS.prefix}.{envelope.stream}"] = None
    return list(seen)


async def _read_all(store: JetStreamEventStore, subjects: list[str], literal: bool) -> list[float]:
    """Each aggregate's events with one batch direct get, as a load does; wall ms per read."""
    took = []
    for subject in subjects:
        started = time.perf_counter()
        _ = [s async for s in store.read(subjects=subject if literal else f"{subject}.*")]
        took.append((time.perf_counter() - started) * 1000)
    return took


def _figures(label: str, took: list[float], server_cpu: float) -> str:
    ordered = sorted(took)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{label:<28} reads {len(took):>4}  p50 {statistics.median(took):7.2f} ms  p99 {p99:7.2f} ms  "
        f"server CPU {server_cpu * 1000 / len(took):7.3f} ms a read"
    )


async def _measure(server: EmbeddedNats, reads: int) -> tuple[list[str], list[str], bool]:
    store = await _store(server)
    info = json.loads((await store.nc.request(f"$JS.API.STREAM.INFO.{SETTINGS.stream}", b"")).data)
    literal = subject_layout(info) == SUBJECT_LAYOUT
    last = int(info["state"]["last_seq"])
    old = (await _aggregates(store, range(1, reads * 4)))[:reads]
    new = (await _aggregates(store, range(last - reads * 4, last)))[:reads]
    print(
        f"{last:,} events, layout {'literal (one subject per aggregate)' if literal else 'type in subject'}"
    )
    for label, subjects in (("written first, warm", old), ("written last, warm", new)):
        await _read_all(store, subjects, literal)  # warm the server's caches
        cpu = cpu_seconds(server.process.pid)
        took = await _read_all(store, subjects, literal)
        print(_figures(label, took, cpu_seconds(server.process.pid) - cpu))
    await store.nc.close()
    return old, new, literal


async def _after_restart(server: EmbeddedNats, old: list[str], literal: bool, count: int) -> None:
    store = await _store(server)
    cpu = cpu_seconds(server.process.pid)
    took = await _read_all(store, old[:count], literal)
    print(_figures("written first, after restart", took, cpu_seconds(server.process.pid) - cpu))
    print(f"{'':<28} first read after the restart {took[0]:.1f} ms")
    await store.nc.close()


def loads(nats_dir: Path, reads: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        copy = _copy(nats_dir, Path(scratch) / "nats")
        server = start_nats(copy)
        try:
            old, _, literal = asyncio.run(_measure(server, reads))
        finally:
            server.stop()
        server = start_nats(copy)
        try:
            asyncio.run(_after_restart(server, old, literal, 20))
        finally:
            server.stop()


def main(argv: list[str]) -> None:
    if argv[:1] == ["old-layout"] and len(argv) == 3:
        asyncio.run(make_old_layout(Path(argv[1]), Path(argv[2])))
    elif argv[:1] == ["loads"] and len(argv) in (2, 3):
        loads(Path(argv[1]), int(argv[2]) if len(argv) == 3 else 200)
    else:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
