"""What the transparency log costs on a data set's events stream (docs/benchmarks.md, docs/audit.md).

    .venv/bin/python tools/audit_cost.py DATASET_NATS_DIR [PROOFS]

On a copy of the store, in one run: the baseline (read every event and SHA-256 its bytes), building
the tiles from the first position (what `fourlinks audit checkpoint --rebuild-tiles` does), the full
`audit verify` walk (chains and tree, against one checkpoint), PROOFS inclusion proofs of events
spread over the log, and the tile store's size. Wall time and CPU seconds of this process and of
nats-server for each. A figure, not a test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from fourlinks_audit.merkle import inclusion_proof
from fourlinks_audit.notes import SignerKey
from fourlinks_audit.tiles import TileStore
from fourlinks_audit.transparency import (
    CheckpointDirectory,
    LeafCollector,
    catch_up,
    check_checkpoints,
    write_checkpoint,
)
from fourlinks_audit.verify import verify
from fourlinks_bench.measure import cpu_seconds
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.jetstream import JetStreamEventStore, JetStreamSettings
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(
    name: str, server_pid: int, work: Callable[[], Awaitable[Any]], figures: dict[str, Any]
) -> Any:
    started, mine, server = time.perf_counter(), own_cpu(), cpu_seconds(server_pid)
    result = await work()
    figures[name] = {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s_tool": round(own_cpu() - mine, 2),
        "cpu_s_nats": round(cpu_seconds(server_pid) - server, 2),
    }
    print(name, figures[name], file=sys.stderr, flush=True)
    return result


async def measure(source: Path, proofs: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copytree(source, work / "nats", ignore=shutil.ignore_patterns("ports", "*.conf", "*.log"))
        server = start_nats(work / "nats")
        nc = await connect(Settings(nats_url=server.url), name="audit-cost")
        try:
            store = JetStreamEventStore(nc, EventCodec(full_registry()), JetStreamSettings())
            events = await store.last_position()
            figures["events"] = events

            async def baseline() -> None:
                async for stored in store.read():
                    hashlib.sha256(stored.payload).digest()

            await timed("read_and_sha256", server.process.pid, baseline, figures)
            tiles = TileStore(create_engine(f"sqlite:///{work / 'audit.db'}"))
            await timed("build_tiles", server.process.pid, lambda: catch_up(store, tiles), figures)
            key = SignerKey.generate("fourlinks-bench")
            checkpoints = CheckpointDirectory(work / "checkpoints")
            write_checkpoint(tiles, key, "fourlinks/FOURLINKS_EVENTS", checkpoints)

            async def verify_all() -> None:
                leaves = LeafCollector()
                report = await verify(store, progress=False, observe=leaves)
                _, findings = check_checkpoints(leaves, checkpoints.notes(), key.verifier, tiles)
                if report.findings or findings:
                    raise RuntimeError(f"the copy does not verify: {report.findings[:3]} {findings[:3]}")

            await timed("verify_chains_and_tree", server.process.pid, verify_all, figures)
            fresh = TileStore(create_engine(f"sqlite:///{work / 'audit.db'}"))  # cold: tiles from disk

            async def prove() -> int:
                size = 0
                for n in range(proofs):
                    path = inclusion_proof(fresh, (n * 7919) % events, events)
                    size = max(size, len(path))
                return size

            hashes = await timed("inclusion_proofs", server.process.pid, prove, figures)
            figures["inclusion_proofs"]["count"] = proofs
            figures["inclusion_proofs"]["ms_each"] = round(
                figures["inclusion_proofs"]["seconds"] * 1000 / proofs, 3
            )
            figures["proof_hashes"] = hashes
            figures["proof_bytes"] = hashes * 32
            figures["tile_store_mb"] = round((work / "audit.db").stat().st_size / 2**20, 1)
            figures["peak_rss_tool_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        finally:
            await nc.close()
            server.stop()
    return figures


if __name__ == "__main__":
    result = asyncio.run(measure(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
    print(json.dumps(result, indent=2))
