"""The three rates read each item's latest call-back answer from its own row; an "as of" before an
item's call-backs last changed answers from the call-backs' history, and both agree."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import merged, project_in_batches, recorded_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_contracts import assignments as tasks_ev
from fourlinks_contracts import feedback as ev
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application import queries
from fourlinks_feedback.projections.feedback import FeedbackProjection, feedback_counts
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import sync_writer
from fourlinks_runtime.engines import create_engine

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
UNIT = "yuhang/nanyuan/xinghe"


def recorded(event: ev.FeedbackEvent, position: int, at: datetime) -> RecordedEvent:
    return recorded_event(
        event,
        position=position,
        at=at,
        context="feedback",
        aggregate_type="feedback",
        aggregate_id=event.feedback_id,
    )


def submitted(feedback_id: str) -> ev.FeedbackSubmitted:
    return ev.FeedbackSubmitted(
        feedback_id=feedback_id,
        reference=f"ref-{feedback_id}",
        channel=ev.Channel.WEB,
        kind=ev.FeedbackKind.PROBLEM,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=UNIT,
        household_id="household-1",
        enterprise_id=None,
        submitted_by="household-1",
        on_behalf_by_member=None,
        member_id="member-1",
        anonymous=False,
        confidential=False,
        description=None,
        data_subject="household-1",
    )


def scheduled(feedback_id: str, round_: int) -> ev.CallbackScheduled:
    due = T0 + timedelta(days=round_)
    return ev.CallbackScheduled(
        feedback_id=feedback_id,
        task_id=f"task-{feedback_id}",
        round=round_,
        kind=ev.CallbackKind.FIRST,
        due_at=due,
        answer_by=due + timedelta(days=3),
    )


def answered(feedback_id: str, round_: int, satisfaction: ev.Satisfaction) -> ev.SatisfactionRecorded:
    return ev.SatisfactionRecorded(
        feedback_id=feedback_id,
        task_id=f"task-{feedback_id}",
        round=round_,
        kind=ev.CallbackKind.FIRST,
        resolved=ev.Resolved.YES if satisfaction != ev.Satisfaction.DISSATISFIED else ev.Resolved.NO,
        satisfaction=satisfaction,
        comment=None,
        member_id="member-1",
        data_subject="household-1",
    )


def a_month_of_feedback() -> Iterator[tuple[DomainEvent, datetime]]:
    """Three items: one answered dissatisfied and then, after a correction, satisfied; one whose
    call-back nobody answered; one never called back."""
    for feedback_id in ("a", "b", "c"):
        yield submitted(feedback_id), T0
    yield scheduled("a", 1), T0 + timedelta(days=1)
    yield answered("a", 1, ev.Satisfaction.DISSATISFIED), T0 + timedelta(days=2)
    yield (
        ev.CorrectionRequested(feedback_id="a", task_id="task-a", round=2, reason=None, data_subject="h"),
        (T0 + timedelta(days=2)),
    )
    yield scheduled("b", 1), T0 + timedelta(days=1)
    yield (
        ev.CallbackNotReached(feedback_id="b", task_id="task-b", round=1, kind=ev.CallbackKind.FIRST),
        (T0 + timedelta(days=5)),
    )
    yield scheduled("a", 2), T0 + timedelta(days=6)
    yield answered("a", 2, ev.Satisfaction.SATISFIED), T0 + timedelta(days=8)


@pytest.fixture
async def a_month(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'feedback.db'}")
    writer = sync_writer(engine)
    FeedbackProjection.metadata.create_all(writer)
    projection, positions = FeedbackProjection(), itertools.count(1)
    with writer.begin() as conn:
        for event, at in a_month_of_feedback():
            assert isinstance(event, ev.FeedbackEvent)
            projection.apply(conn, recorded(event, next(positions), at))
    writer.dispose()
    yield engine
    await engine.dispose()


async def rates(engine: AsyncEngine, as_of: datetime, month: str | None = None) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await queries.rates(
            conn,
            unit=UNIT,
            by="community",
            month=month,
            zone=ZONE,
            as_of=as_of,
            response_limit=timedelta(days=1),
        )


def counts(figures: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    (row,) = figures
    return row["feedback"], row["callbacks_answered"], row["satisfied"], row["not_reached"]


async def test_the_latest_answer_counts_and_an_unanswered_call_back_is_not_reached(
    a_month: AsyncEngine,
) -> None:
    assert counts(await rates(a_month, T0 + timedelta(days=30))) == (3, 1, 1, 1)
    assert counts(await rates(a_month, T0 + timedelta(days=30), month="2026-10")) == (3, 1, 1, 1)
    assert await rates(a_month, T0 + timedelta(days=30), month="2026-11") == []


async def test_an_earlier_as_of_answers_from_the_call_backs_history(a_month: AsyncEngine) -> None:
    # After the first, dissatisfied answer and before the second: answered, not satisfied; the
    # call-back of "b" was not yet given up.
    assert counts(await rates(a_month, T0 + timedelta(days=3))) == (3, 1, 0, 0)
    assert counts(await rates(a_month, T0 + timedelta(days=6))) == (3, 1, 0, 1)


async def test_both_ways_agree_once_nothing_changed_after_the_as_of(a_month: AsyncEngine) -> None:
    as_of = T0 + timedelta(days=30)
    async with a_month.connect() as conn:
        history = await queries._callbacks_as_of(conn, UNIT, as_of)
    assert history.answers == {"a": {"resolved": "yes", "satisfaction": "satisfied"}}
    assert history.unreached == {"b"}


# -- the rates' counters ----------------------------------------------------------------------------
# The counters the feedback projection keeps answer exactly what counting the items answers: for
# items answered late and on time, reassigned, called back, not reached, corrected, in several units
# and months, fed in micro-batches of every size, by community and street; on SQLite and PostgreSQL.
T_MONTHS = datetime(2026, 6, 30, 15, 30, tzinfo=UTC)  # submitted across a month's end, in the zone's months
# ----------------------------------------------------------------------------------
LIMIT = timedelta(hours=24)


def an_item(number: int, rng: random.Random) -> list[tuple[DomainEvent, datetime]]:
    """An item's history: responded within the limit or not (assigned or answered, some twice), then
    maybe called back: answered, not reached, or answered, corrected and answered again."""
    feedback_id, task_id = f"item-{number}", f"task-of-{number}"
    start = T_MONTHS + timedelta(days=rng.choice((0, 0, 20, 45)), hours=rng.randint(0, 23))
    kind = rng.choice(list(ev.FeedbackKind))
    unit = rng.choice((UNIT, f"{UNIT}/grid-2", "yuhang/linping/jiangnan"))
    item = submitted(feedback_id).model_copy(
        update={"kind": kind, "org_unit": unit, "member_id": rng.choice(("m-1", "m-2"))}
    )
    history: list[tuple[DomainEvent, datetime]] = [(item, start)]

    def after(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    if kind == ev.FeedbackKind.PROBLEM:
        routed = ev.FeedbackRouted(
            feedback_id=feedback_id,
            task_id=task_id,
            category="repairs",
            urgency=item.urgency,
            org_unit=item.org_unit,
            household_id=None,
            enterprise_id=None,
            description=None,
            data_subject=feedback_id,
        )
        history.append((routed, after(1)))
        assigned = tasks_ev.TaskAssigned(
            task_id=task_id, member_id="m-1", helpers=[], party_day_id=None, by_default=True
        )
        history.append((assigned, after(rng.choice((2, 30)))))
        if rng.random() < 0.3:
            moved = tasks_ev.TaskReassigned(
                task_id=task_id, from_member="m-1", to_member="m-2", helpers=[], reason="r"
            )
            history.append((moved, after(40)))
    else:
        for hours in rng.sample((3, 30, 50), k=rng.randint(0, 2)):
            answer = ev.FeedbackAnswered(
                feedback_id=feedback_id, answered_by="s", answer=None, data_subject=feedback_id
            )
            history.append((answer, after(hours)))
    history.sort(key=lambda step: step[1])
    return history + called_back(feedback_id, rng, after(60))


def called_back(feedback_id: str, rng: random.Random, at: datetime) -> list[tuple[DomainEvent, datetime]]:
    outcome = rng.choice(("none", "answered", "not reached", "corrected"))
    if outcome == "none":
        return []
    calls: list[tuple[DomainEvent, datetime]] = [(scheduled(feedback_id, 1), at)]
    if outcome == "not reached":
        missed = ev.CallbackNotReached(
            feedback_id=feedback_id, task_id=f"task-{feedback_id}", round=1, kind=ev.CallbackKind.FIRST
        )
        return [*calls, (missed, at + timedelta(days=3))]
    first = rng.choice(list(ev.Satisfaction))
    calls.append((answered(feedback_id, 1, first), at + timedelta(days=1)))
    if outcome == "corrected":
        again = ev.CorrectionRequested(
            feedback_id=feedback_id, task_id=f"task-{feedback_id}", round=2, reason=None, data_subject="h"
        )
        calls.append((again, at + timedelta(days=2)))
        calls.append((scheduled(feedback_id, 2), at + timedelta(days=5)))
        last = rng.choice(list(ev.Satisfaction))
        calls.append((answered(feedback_id, 2, last), at + timedelta(days=6)))
    return calls


async def rates_both_ways(
    engine: AsyncEngine, **asked: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with engine.connect() as conn:
        answers = [
            await queries.rates(conn, zone=ZONE, response_limit=LIMIT, now=now, **asked)
            for now in (True, False)
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
    for unit, by in itertools.product(("yuhang", UNIT), ("community", "street")):
        for month in (None, "2026-06", "2026-07", "2026-08", "2026-09"):
            counted, from_rows = await rates_both_ways(engine, unit=unit, by=by, month=month, as_of=now)
            assert (unit, by, month, counted) == (unit, by, month, from_rows)
    everything, _ = await rates_both_ways(engine, unit="yuhang", by="street", month=None, as_of=now)
    assert sum(f["feedback"] for f in everything) == 80
    assert 0 < sum(f["responded"] for f in everything) < 80
    assert all(sum(f[n] for f in everything) > 0 for n in ("satisfied", "not_reached", "callbacks_answered"))
