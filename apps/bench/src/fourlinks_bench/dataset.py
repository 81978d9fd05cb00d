"""The benchmark's data set: a district's year in a JetStream store directory, made once and reused.

Making it: the year is simulated through the real handlers on the in-memory store (no I/O, so a
million events take minutes, not hours), then its exact stored bytes are loaded into a fresh
nats-server in atomic batches of up to 1,000 messages, in log order, and the per-person keys into the
key bucket. The stream is the same as one written live: same subjects, same payloads, same hash
chains. Each benchmark run works on a copy, so the cached set stays pristine.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from fourlinks_audit.consumers import durable_consumers
from fourlinks_bench.simulate import District, SimulatedClock, read_district, simulate, year_start
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import (
    InMemoryKeyStore,
    PersonalDataCipher,
    generate_master_key,
    parse_master_key,
)
from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.jetstream import publish_batch
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.provisioning import ProvisionOptions, ensure_consumers, provision
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

EVENTS_AT_FULL_SCALE = 1_000_000
BATCH = 1000  # the server's limit of messages in one atomic batch
FORMAT = 2  # bump when the simulation changes, so old cached sets are not reused


@dataclass(frozen=True)
class Dataset:
    """A made data set: where its NATS store lies, its master key and what it holds."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def nats_dir(self) -> Path:
        """The nats-server data directory (JetStream store inside)."""
        return self.directory / "nats"

    @property
    def master_key(self) -> str:
        """The master key the personal data was sealed under."""
        return (self.directory / "master.key").read_text().strip()

    @property
    def events(self) -> int:
        """How many events the stream holds."""
        return int(self.manifest["events"])

    def copy_to(self, target: Path) -> Path:
        """A working copy of the NATS data directory (the benchmark writes to it)."""
        shutil.copytree(self.nats_dir, target, ignore=shutil.ignore_patterns("ports", "*.conf", "*.log"))
        return target


def name_of(scale: float, seed: int) -> str:
    """The cache directory name of a data set."""
    return f"v{FORMAT}-scale-{scale:g}-seed-{seed}"


async def ensure_dataset(root: Path, *, scale: float, seed: int = 2021) -> Dataset:
    """The cached data set for (scale, seed), made first if absent or unfinished."""
    directory = root / name_of(scale, seed)
    manifest = directory / "manifest.json"
    if manifest.exists():
        return Dataset(directory, json.loads(manifest.read_text()))
    if directory.exists():
        shutil.rmtree(directory)  # an interrupted build: start again
    building = directory.with_name(directory.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    made = await _build(building, scale=scale, seed=seed)
    (building / "manifest.json").write_text(json.dumps(made, indent=2, ensure_ascii=False) + "\n")
    building.rename(directory)
    return Dataset(directory, made)


async def _build(directory: Path, *, scale: float, seed: int) -> dict[str, Any]:
    master_key = generate_master_key()
    (directory / "master.key").write_text(master_key + "\n")
    keys = InMemoryKeyStore()
    cipher = PersonalDataCipher(master_key=parse_master_key(master_key), keys=keys)
    clock = SimulatedClock(year_start(date.today()))
    store = InMemoryEventStore(EventCodec(full_registry(), cipher, clock))
    target = max(2_000, round(EVENTS_AT_FULL_SCALE * scale))
    made: dict[str, Any] = await simulate(
        store,
        clock,
        scale=scale,
        target=target,
        seed=seed,
        phone_index=lambda phone: cipher.blind_index(phone, purpose="phone"),
    )
    await _load(directory / "nats", store._log, store.codec, keys, master_key)
    made.update(scale=scale, seed=seed, format=FORMAT, sample=_sample(read_district(store)))
    return made


async def _load(
    nats_dir: Path, log: list[StoredEvent], codec: EventCodec, keys: InMemoryKeyStore, master_key: str
) -> None:
    """Publish the log in order, in atomic batches, and the keys into the bucket."""
    server = start_nats(nats_dir)
    try:
        settings = Settings(nats_url=server.url, master_key=master_key, log_level="ERROR")
        nc = await connect(settings, name="fourlinks-bench-load")
        await provision(nc, ProvisionOptions(monitor_url=server.monitor_url))
        progress = Progress("load events", len(log))
        for start in range(0, len(log), BATCH):
            chunk = log[start : start + BATCH]
            await publish_batch(nc, [(s.subject, s.payload, codec.headers_of(s)) for s in chunk])
            progress.advance(len(chunk))
        progress.finish()
        await _load_keys(nc, keys)
        await _policies_after_history(nc, settings, len(log))
        await nc.drain()
    finally:
        server.stop()


async def _policies_after_history(nc: Any, settings: Settings, last: int) -> None:
    """Every policy's durable consumer, starting after the year: the simulation ran the year's
    reactions inline, as the live policies would have, so they must not react to it again."""
    consumers = [replace(c, start_after=last) for c in durable_consumers(settings)]
    await ensure_consumers(nc, settings.stream, consumers)


async def _load_keys(nc: Any, keys: InMemoryKeyStore) -> None:
    kv = await nc.jetstream().key_value("FOURLINKS_KEYS")
    subjects = await keys.subjects()
    progress = Progress("load keys", len(subjects))
    for start in range(0, len(subjects), 200):
        chunk = subjects[start : start + 200]
        wrapped = [await keys.get(subject) for subject in chunk]
        await asyncio.gather(*(kv.put(f"person.{s}", w) for s, w in zip(chunk, wrapped, strict=True)))
        progress.advance(len(chunk))
    progress.finish()


def _sample(district: District) -> dict[str, Any]:
    """Who the benchmark acts as: covered households with their member and community."""
    covered = [c for c in district.covered() if c.kind.value == "household"]
    step = max(1, len(covered) // 2000)
    return {
        "households": [
            {"id": c.contact_id, "org_unit": c.org_unit, "community": c.community, "member_id": c.member_id}
            for c in covered[::step]
        ],
        "communities": sorted(district.communities),
    }
