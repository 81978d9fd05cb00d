"""The KPIs' counters the tasks projection keeps answer exactly what counting the tasks' rows answers:
for tasks left at every step of the loop (reopened, extended, escalated, parked, rejected ...), in
several units and months, applied in micro-batches of every size, at several moments, grouped at
every level; on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from conftest import recorded_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.application.queries import kpis
from fourlinks_assignments.projections.tasks import TasksProjection, task_close_hours, task_counts
from fourlinks_contracts import assignments as ev
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import ProjectionRunner
from tests.test_task_lifecycle_everywhere import rejected, the_whole_loop

ZONE = ZoneInfo("Asia/Shanghai")
# The same offset without the zone's name: the query then counts rows (no counters kept in it).
SAME_OFFSET = timezone(timedelta(hours=8))
UNITS = ("yuhang/nanyuan/xinghe", "yuhang/nanyuan/xinghe/grid-2", "yuhang/linping/jiangnan")
T0 = datetime(2026, 6, 30, 15, 30, tzinfo=UTC)  # raised across a month's end, in the zone's months


def a_task(number: int, rng: random.Random) -> list[tuple[DomainEvent, datetime]]:
    """A task's history cut after a random step, raised in a random unit and month."""
    task_id, unit = f"task-{number}", rng.choice(UNITS)
    history = list(rejected() if rng.random() < 0.15 else the_whole_loop())
    kept = history[: rng.randint(1, len(history))]
    start = T0 + timedelta(days=rng.choice((0, 0, 20, 45)), hours=rng.randint(0, 23))
    events = []
    for step, event in enumerate(kept):
        changes: dict[str, Any] = {"task_id": task_id}
        if isinstance(event, ev.TaskRaised):
            changes |= {"org_unit": unit, "data_subject": task_id}
        events.append((event.model_copy(update=changes), start + timedelta(hours=7 * step)))
    return events


def interleaved(rng: random.Random, tasks: int) -> list[tuple[DomainEvent, datetime]]:
    """The tasks' events in one log, each task's in its order."""
    pending = [a_task(n, rng) for n in range(tasks)]
    log = []
    while pending:
        history = rng.choice(pending)
        log.append(history.pop(0))
        if not history:
            pending.remove(history)
    return log


async def project_in_batches(
    engine: AsyncEngine, log: list[tuple[DomainEvent, datetime]], rng: random.Random
) -> None:
    recorded = {
        position: recorded_event(
            event,
            position=position,
            at=at,
            context="assignments",
            aggregate_type="task",
            aggregate_id=getattr(event, "task_id", ""),
        )
        for position, (event, at) in enumerate(log, start=1)
    }

    async def decode(stored: StoredEvent) -> RecordedEvent:
        return recorded[stored.position]

    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    runner = ProjectionRunner(
        TasksProjection(zone=ZONE.key),
        store=InMemoryEventStore(EventCodec(full_registry(), cipher)),
        engine=engine,
    )
    await runner.rebuild()
    await runner.prepare()
    stored = [StoredEvent(p, "subject", b"", r.event.event_type) for p, r in recorded.items()]
    while stored:
        size = rng.choice((1, 2, 3, 7, 50))
        await runner.take(stored[:size], decode)
        stored = stored[size:]
    runner.close()


async def both_ways(engine: AsyncEngine, **asked: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        counted = await kpis(conn, zone=ZONE, **asked)
        from_rows = await kpis(conn, zone=SAME_OFFSET, **asked)
    return counted, from_rows


async def test_counters_answer_as_counting_the_rows_does(engine: AsyncEngine) -> None:
    rng = random.Random(20261201)  # noqa: S311 - a repeatable mix of histories, not a secret
    log = interleaved(rng, tasks=60)
    await project_in_batches(engine, log, rng)
    async with engine.connect() as conn:
        kept = await conn.scalar(select(task_counts.c.basis).limit(1))
        hours = (await conn.execute(select(task_close_hours.c.hours))).scalars().all()
    assert kept == ZONE.key
    assert any(values != "[]" for values in hours)  # some tasks closed and stayed closed
    last = max(at for _, at in log)
    for as_of in (T0 + timedelta(days=3), T0 + timedelta(days=30), last + timedelta(days=60)):
        for unit, by in itertools.product(("yuhang", "yuhang/nanyuan/xinghe"), ("community", "street")):
            for month in (None, "2026-06", "2026-07", "2026-08", "2026-09"):
                counted, from_rows = await both_ways(engine, unit=unit, by=by, month=month, as_of=as_of)
                assert (unit, by, month, counted) == (unit, by, month, from_rows)
    everything, _ = await both_ways(engine, unit="yuhang", by="street", month=None, as_of=last)
    assert sum(f["tasks"] for f in everything) > 20
    assert sum(f["rework_count"] for f in everything) > 0
    assert any(f["extended"] for f in everything)
    assert any(f["median_hours_to_close"] for f in everything)
