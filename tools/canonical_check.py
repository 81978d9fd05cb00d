"""Every stored event of a data set re-encoded as canonical JSON (orjson) gives its stored bytes.

    .venv/bin/python tools/canonical_check.py DATASET_NATS_DIR

Works on a copy of the directory. Prints how many events were compared and any that differ.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import canonical_json
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings


async def check(url: str) -> int:
    nc = await connect(Settings(nats_url=url), name="canonical-check")
    store = JetStreamEventStore(nc, EventCodec(full_registry()))
    bar, differ, compared = Progress("compare", await store.last_position()), 0, 0
    async for stored in store.read():
        compared += 1
        if canonical_json(json.loads(stored.payload)) != stored.payload:
            differ += 1
            print(f"differs at position {stored.position} ({stored.subject})")
        bar.advance()
    bar.finish()
    await nc.close()
    print(f"{compared:,} events compared, {differ} differ")
    return 1 if differ else 0


def main(nats_dir: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "nats"
        shutil.copytree(nats_dir, copy, ignore=shutil.ignore_patterns("ports", "*.conf", "*.log"))
        server = start_nats(copy)
        try:
            return asyncio.run(check(server.url))
        finally:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
