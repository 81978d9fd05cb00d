"""The counters the projections keep answer exactly what counting rows answers. Task KPIs: for tasks
left at every step of the loop (reopened, extended, escalated, parked, rejected ...); feedback rates:
for items answered late and on time, reassigned, called back, not reached, corrected. In several
units and months, applied in micro-batches of every size, at several moments, grouped by community
and street; on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from conftest import recorded_event
from services.feedback.tests.unit import test_rates as feedback_rates
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.application.queries import kpis
from fourlinks_assignments.projections.tasks import TasksProjection, task_close_hours, task_counts
from fourlinks_contracts import assignments as ev
from fourlinks_contracts import feedback as fb
from fourlinks_contracts import full_registry
from fourlinks_feedback.application.queries import rates
from fourlinks_feedback.projections.feedback import FeedbackProjection, feedback_counts
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import Projection, ProjectionRunner
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
    return merged(rng, [a_task(n, rng) for n in range(tasks)])


def merged(
    rng: random.Random, histories: list[list[tuple[DomainEvent, datetime]]]
) -> list[tuple[DomainEvent, datetime]]:
    """Histories in one log, each in its order (times need not rise along the log)."""
    pending = [history for history in histories if history]
    log = []
    while pending:
        history = rng.choice(pending)
        log.append(history.pop(0))
        if not history:
            pending.remove(history)
    return log


async def project_in_batches(
    engine: AsyncEngine, log: list[tuple[DomainEvent, datetime]], rng: random.Random, projection: Projection
) -> None:
    recorded = {
        position: recorded_event(
            event,
            position=position,
            at=at,
            context="assignments" if isinstance(event, ev.TaskEvent) else "feedback",
            aggregate_type="task" if isinstance(event, ev.TaskEvent) else "feedback",
            aggregate_id=str(getattr(event, "task_id", None) or getattr(event, "feedback_id", "")),
        )
        for position, (event, at) in enumerate(log, start=1)
    }

    async def decode(stored: StoredEvent) -> RecordedEvent:
        return recorded[stored.position]

    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    runner = ProjectionRunner(
        projection,
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
    await project_in_batches(engine, log, rng, TasksProjection(zone=ZONE.key))
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


# -- feedback rates ----------------------------------------------------------------------------------
LIMIT = timedelta(hours=24)


def an_item(number: int, rng: random.Random) -> list[tuple[DomainEvent, datetime]]:
    """An item's history: responded within the limit or not (assigned or answered, some twice), then
    maybe called back: answered, not reached, or answered, corrected and answered again."""
    feedback_id, task_id = f"item-{number}", f"task-of-{number}"
    start = T0 + timedelta(days=rng.choice((0, 0, 20, 45)), hours=rng.randint(0, 23))
    kind = rng.choice(list(fb.FeedbackKind))
    submitted = feedback_rates.submitted(feedback_id).model_copy(
        update={"kind": kind, "org_unit": rng.choice(UNITS), "member_id": rng.choice(("m-1", "m-2"))}
    )
    history: list[tuple[DomainEvent, datetime]] = [(submitted, start)]

    def after(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    if kind == fb.FeedbackKind.PROBLEM:
        routed = fb.FeedbackRouted(
            feedback_id=feedback_id,
            task_id=task_id,
            category="repairs",
            urgency=submitted.urgency,
            org_unit=submitted.org_unit,
            household_id=None,
            enterprise_id=None,
            description=None,
            data_subject=feedback_id,
        )
        history.append((routed, after(1)))
        assigned = ev.TaskAssigned(
            task_id=task_id, member_id="m-1", helpers=[], party_day_id=None, by_default=True
        )
        history.append((assigned, after(rng.choice((2, 30)))))
        if rng.random() < 0.3:
            moved = ev.TaskReassigned(
                task_id=task_id, from_member="m-1", to_member="m-2", helpers=[], reason="r"
            )
            history.append((moved, after(40)))
    else:
        for hours in rng.sample((3, 30, 50), k=rng.randint(0, 2)):
            answer = fb.FeedbackAnswered(
                feedback_id=feedback_id, answered_by="s", answer=None, data_subject=feedback_id
            )
            history.append((answer, after(hours)))
    history.sort(key=lambda step: step[1])
    return history + called_back(feedback_id, rng, after(60))


def called_back(feedback_id: str, rng: random.Random, at: datetime) -> list[tuple[DomainEvent, datetime]]:
    outcome = rng.choice(("none", "answered", "not reached", "corrected"))
    if outcome == "none":
        return []
    calls: list[tuple[DomainEvent, datetime]] = [(feedback_rates.scheduled(feedback_id, 1), at)]
    if outcome == "not reached":
        missed = fb.CallbackNotReached(
            feedback_id=feedback_id, task_id=f"task-{feedback_id}", round=1, kind=fb.CallbackKind.FIRST
        )
        return [*calls, (missed, at + timedelta(days=3))]
    first = rng.choice(list(fb.Satisfaction))
    calls.append((feedback_rates.answered(feedback_id, 1, first), at + timedelta(days=1)))
    if outcome == "corrected":
        again = fb.CorrectionRequested(
            feedback_id=feedback_id, task_id=f"task-{feedback_id}", round=2, reason=None, data_subject="h"
        )
        calls.append((again, at + timedelta(days=2)))
        calls.append((feedback_rates.scheduled(feedback_id, 2), at + timedelta(days=5)))
        last = rng.choice(list(fb.Satisfaction))
        calls.append((feedback_rates.answered(feedback_id, 2, last), at + timedelta(days=6)))
    return calls


async def rates_both_ways(
    engine: AsyncEngine, **asked: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        answers = [
            await rates(conn, zone=ZONE, response_limit=LIMIT, now=now, **asked) for now in (True, False)
        ]
    return answers[0], answers[1]


async def test_rate_counters_answer_as_counting_the_items_does(engine: AsyncEngine) -> None:
    rng = random.Random(20261202)  # noqa: S311 - a repeatable mix of histories, not a secret
    log = merged(rng, [an_item(n, rng) for n in range(80)])
    await project_in_batches(engine, log, rng, FeedbackProjection(zone=ZONE.key, response_limit=LIMIT))
    async with engine.connect() as conn:
        kept = await conn.scalar(select(feedback_counts.c.basis).limit(1))
    assert kept == "Asia/Shanghai 24h"
    now = max(at for _, at in log) + timedelta(days=1)
    for unit, by in itertools.product(("yuhang", "yuhang/nanyuan/xinghe"), ("community", "street")):
        for month in (None, "2026-06", "2026-07", "2026-08", "2026-09"):
            counted, from_rows = await rates_both_ways(engine, unit=unit, by=by, month=month, as_of=now)
            assert (unit, by, month, counted) == (unit, by, month, from_rows)
    everything, _ = await rates_both_ways(engine, unit="yuhang", by="street", month=None, as_of=now)
    assert sum(f["feedback"] for f in everything) == 80
    assert 0 < sum(f["responded"] for f in everything) < 80
    assert all(sum(f[n] for f in everything) > 0 for n in ("satisfied", "not_reached", "callbacks_answered"))
