"""The three rates read each item's latest call-back answer from its own row; an "as of" before an
item's call-backs last changed answers from the call-backs' history, and both agree."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import recorded_event
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_contracts import feedback as ev
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application import queries
from fourlinks_feedback.projections.feedback import FeedbackProjection
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
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
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
    engine: AsyncEngine,
) -> None:
    assert counts(await rates(engine, T0 + timedelta(days=30))) == (3, 1, 1, 1)
    assert counts(await rates(engine, T0 + timedelta(days=30), month="2026-10")) == (3, 1, 1, 1)
    assert await rates(engine, T0 + timedelta(days=30), month="2026-11") == []


async def test_an_earlier_as_of_answers_from_the_call_backs_history(engine: AsyncEngine) -> None:
    # After the first, dissatisfied answer and before the second: answered, not satisfied; the
    # call-back of "b" was not yet given up.
    assert counts(await rates(engine, T0 + timedelta(days=3))) == (3, 1, 0, 0)
    assert counts(await rates(engine, T0 + timedelta(days=6))) == (3, 1, 0, 1)


async def test_both_ways_agree_once_nothing_changed_after_the_as_of(engine: AsyncEngine) -> None:
    as_of = T0 + timedelta(days=30)
    async with engine.connect() as conn:
        history = await queries._callbacks_as_of(conn, UNIT, as_of)
    assert history.answers == {"a": {"resolved": "yes", "satisfaction": "satisfied"}}
    assert history.unreached == {"b"}
