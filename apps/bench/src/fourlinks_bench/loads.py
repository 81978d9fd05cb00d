"""Loading aggregates in a long log as commands do: those written when the year began (households,
members, cards) and those written last, warm and right after a server restart, with the server's
CPU per load; and what a full cache of kept aggregates weighs."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import replace
from typing import Any

from nats.aio.client import Client

from fourlinks_assignments.domain.tasks import Task
from fourlinks_bench.measure import cpu_seconds, percentile
from fourlinks_contracts import full_registry
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import StreamId
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.kept import KeptAggregates
from fourlinks_members.domain.cards import ServiceCard
from fourlinks_members.domain.contacts import Enterprise, Household
from fourlinks_members.domain.members import Member
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.settings import Settings

KINDS: dict[str, type[Aggregate]] = {
    cls.aggregate_type: cls for cls in (Household, Enterprise, Member, ServiceCard, Task)
}


def uncached_store(nc: Client, settings: Settings) -> JetStreamEventStore:
    """The event store as a service opens it, without the kept stored bytes: every load asks
    the server."""
    store, _ = open_event_store(nc, settings, full_registry())
    return JetStreamEventStore(nc, store.codec, replace(store.settings, cached_streams=0))


async def streams_at(store: JetStreamEventStore, first: int, last: int, wanted: int) -> list[StreamId]:
    """Distinct aggregates of the kinds commands touch, among the events at these positions."""
    seen: dict[StreamId, None] = {}
    async for stored in store.read(from_position=max(first, 1), until_position=last):
        stream = store.codec.envelope_of(stored)[0].stream
        if stream.aggregate_type in KINDS:
            seen[stream] = None
            if len(seen) >= wanted:
                break
    return list(seen)


def sample_households(manifest: dict[str, Any], count: int) -> list[StreamId]:
    """Households of the data set's sample: registered when the year began and visited all year,
    their events spread over the whole log."""
    return [StreamId("members", "household", h["id"]) for h in manifest["sample"]["households"][:count]]


async def timed_loads(store: JetStreamEventStore, streams: list[StreamId], server_pid: int) -> dict[str, Any]:
    """Each aggregate loaded and decoded once: wall p50/p99 and the server's CPU per load."""
    took = []
    cpu = cpu_seconds(server_pid)
    for stream in streams:
        started = time.perf_counter()
        await store.load(stream)
        took.append((time.perf_counter() - started) * 1000)
    server_ms = (cpu_seconds(server_pid) - cpu) * 1000 / max(len(streams), 1)
    return {
        "loads": len(took),
        "p50_ms": round(statistics.median(took), 2) if took else 0.0,
        "p99_ms": round(percentile(took, 0.99), 2),
        "first_ms": round(took[0], 2) if took else 0.0,
        "server_cpu_ms_per_load": round(server_ms, 3),
    }


async def kept_weight(store: JetStreamEventStore, streams: list[StreamId]) -> dict[str, Any]:
    """Python memory held by a cache of kept aggregates filled with `streams` (tracemalloc)."""
    kept = KeptAggregates(len(streams))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for stream in streams:
        history = await store.load(stream)
        folded = KINDS[stream.aggregate_type].replay(stream.aggregate_id, [r.event for r in history.events])
        commands = {r.envelope.command_id for r in history.events}
        kept.keep(stream, folded, history.state, command_ids=commands, people=())
        del history
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "aggregates": len(kept),
        "mib": round(held / 2**20, 1),
        "kib_per_aggregate": round(held / 1024 / max(len(kept), 1), 1),
    }
