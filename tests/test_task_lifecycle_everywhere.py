"""The task lifecycle is written once (in the contracts): the task aggregate, the assignments read
model and the feedback read model, fed every task event type, always show the same state."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import merged, project_in_batches, recorded_event
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.application.queries import kpis
from fourlinks_assignments.domain.tasks import Task
from fourlinks_assignments.projections.tasks import (
    PERSONAL,
    TasksProjection,
    task_as_of,
    task_close_hours,
    task_counts,
    tasks,
    timeline,
)
from fourlinks_contracts import assignments as ev
from fourlinks_contracts import feedback as fb
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.projections.feedback import FeedbackProjection, items
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.instants import as_utc
from fourlinks_kernel.rows import sync_writer
from fourlinks_runtime.engines import create_engine as create_async_engine

TASK, FEEDBACK, MEMBER, OTHER = "task-1", "feedback-1", "member-1", "member-2"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_positions = itertools.count(1)


def recorded(event: DomainEvent, aggregate: str = "task") -> RecordedEvent:
    position = next(_positions)
    return recorded_event(
        event,
        position=position,
        at=T0 + timedelta(minutes=position),
        context="assignments" if aggregate == "task" else "feedback",
        aggregate_type=aggregate,
        aggregate_id=TASK if aggregate == "task" else FEEDBACK,
    )


def the_whole_loop() -> Iterator[DomainEvent]:
    """Every task event type, with every adjustment on the way and a correction round."""
    due = T0 + timedelta(days=7)
    yield ev.TaskRaised(
        task_id=TASK,
        source=ev.TaskSource.FEEDBACK,
        source_ref=FEEDBACK,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit="yuhang/nanyuan/xinghe",
        household_id=None,
        enterprise_id=None,
        description="楼道灯不亮",
        party_day_id=None,
        data_subject=TASK,
    )
    yield ev.TaskTriaged(task_id=TASK, triaged_at=T0, due_at=due)
    yield ev.TaskAssigned(
        task_id=TASK, member_id=MEMBER, helpers=["helper-1"], party_day_id=None, by_default=True
    )
    yield ev.TaskParked(task_id=TASK, reason="等物业")
    yield ev.TaskUnparked(task_id=TASK, note="物业回复了")
    yield ev.TaskReturned(task_id=TASK, member_id=MEMBER, reason="不在本楼")
    yield ev.TaskReassigned(task_id=TASK, from_member=None, to_member=OTHER, helpers=[], reason="就近")
    yield ev.TaskAccepted(task_id=TASK, member_id=OTHER)
    yield ev.ProgressReported(task_id=TASK, member_id=OTHER, note="买了灯泡")
    yield ev.DeadlineExtensionRequested(
        task_id=TASK, requested_by=OTHER, new_due_at=due + timedelta(days=3), reason="缺货"
    )
    yield ev.DeadlineExtended(
        task_id=TASK,
        approved_by="secretary",
        previous_due_at=due,
        new_due_at=due + timedelta(days=3),
        reason="同意",
    )
    yield ev.DeadlineExtensionRequested(
        task_id=TASK, requested_by=OTHER, new_due_at=due + timedelta(days=9), reason="再等"
    )
    yield ev.DeadlineExtensionRefused(task_id=TASK, refused_by="secretary", reason="不行")
    yield ev.TaskEscalated(
        task_id=TASK, from_unit="yuhang/nanyuan/xinghe", to_unit="yuhang/nanyuan", reason="难"
    )
    yield ev.TaskPushedDown(
        task_id=TASK, from_unit="yuhang/nanyuan", to_unit="yuhang/nanyuan/xinghe", guidance="办"
    )
    yield ev.DeadlineApproaching(task_id=TASK, due_at=due, assignee=OTHER)
    yield ev.TaskParked(task_id=TASK, reason="雨天")
    yield ev.DeadlineMissed(task_id=TASK, due_at=due, assignee=OTHER)
    yield ev.TaskUnparked(task_id=TASK, note="晴了")
    yield ev.TaskFlaggedForReassignment(
        task_id=TASK, member_id=OTHER, suggested_member_id=None, reason="left"
    )
    yield ev.ResolutionReported(
        task_id=TASK, member_id=OTHER, summary="换了灯", result=ev.ResolutionResult.RESOLVED, evidence=[]
    )
    yield ev.SpotCheckFailed(task_id=TASK, inspector_id="inspector", reason="还是暗", rework_count=1)
    yield ev.ResolutionReported(
        task_id=TASK, member_id=OTHER, summary="换了亮的", result=ev.ResolutionResult.RESOLVED, evidence=[]
    )
    yield ev.SpotCheckPassed(task_id=TASK, inspector_id="inspector", note="亮了")
    yield ev.TaskClosed(
        task_id=TASK,
        closed_by="secretary",
        reason=ev.CloseReason.RESOLVED,
        note="",
        responsible_party=None,
        duplicate_of=None,
        assignee=OTHER,
        on_time=True,
        escalated=True,
    )
    yield ev.TaskReopened(
        task_id=TASK, reason="居民不满意", correction_ref=f"{FEEDBACK}:2", assignee=OTHER, data_subject=TASK
    )
    yield ev.TaskParked(task_id=TASK, reason="等材料")
    yield ev.TaskUnparked(task_id=TASK, note="到了")


def rejected() -> Iterator[DomainEvent]:
    first = next(the_whole_loop())
    yield first
    yield ev.TaskRejected(
        task_id=TASK,
        reason=ev.RejectionReason.NO_ACTION_NEEDED,
        duplicate_of=None,
        responsible_party=None,
        note="",
    )


@pytest.fixture
def sqlite() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    TasksProjection.metadata.create_all(engine)
    FeedbackProjection.metadata.create_all(engine)
    yield engine
    engine.dispose()


def routed_feedback() -> list[RecordedEvent]:
    submitted = fb.FeedbackSubmitted(
        feedback_id=FEEDBACK,
        reference="FL-20261102-ABCDEFGH",
        channel=fb.Channel.CARD_QR,
        kind=fb.FeedbackKind.PROBLEM,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit="yuhang/nanyuan/xinghe",
        household_id=None,
        enterprise_id=None,
        submitted_by="resident",
        on_behalf_by_member=None,
        member_id=MEMBER,
        anonymous=False,
        confidential=False,
        description="楼道灯不亮",
        data_subject=FEEDBACK,
    )
    routed = fb.FeedbackRouted(
        feedback_id=FEEDBACK,
        task_id=TASK,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit="yuhang/nanyuan/xinghe",
        household_id=None,
        enterprise_id=None,
        description="楼道灯不亮",
        data_subject=FEEDBACK,
    )
    return [recorded(submitted, "feedback"), recorded(routed, "feedback")]


@pytest.mark.parametrize("history", [the_whole_loop, rejected], ids=["whole loop", "rejected"])
def test_every_task_event_leaves_the_task_in_the_same_state_everywhere(
    sqlite: Engine, history: object
) -> None:
    assert callable(history)
    task, assignments, feedback = Task(TASK), TasksProjection(), FeedbackProjection()
    seen: set[str] = set()
    with sqlite.begin() as conn:
        for event in routed_feedback():
            feedback.apply(conn, event)
    for event in history():
        one = recorded(event)
        task.apply(event)
        with sqlite.begin() as conn:
            assignments.apply(conn, one)
            if event.event_type in feedback.handles:
                feedback.apply(conn, one)
            in_assignments = conn.scalar(select(tasks.c.state).where(tasks.c.task_id == TASK))
            in_feedback = conn.scalar(select(items.c.task_state).where(items.c.feedback_id == FEEDBACK))
            row = conn.execute(select(tasks).where(tasks.c.task_id == TASK)).mappings().one()
            lines = conn.execute(
                select(timeline.c.event_type, timeline.c.at, timeline.c.details)
                .where(timeline.c.task_id == TASK)
                .order_by(timeline.c.position)
            ).all()
        # The row as of any moment is the timeline up to it, folded the way the projection writes.
        assert comparable(task_as_of(TASK, [tuple(line) for line in lines])) == comparable(row)
        assert (event.event_type, in_assignments, in_feedback) == (
            event.event_type,
            task.state.value,
            task.state.value,
        )
        seen.add(event.event_type)
    if history is the_whole_loop:
        task_events = {e.event_type for e in ev.EVENTS} - {ev.ThemedPartyDayHeld.event_type, "TaskRejected"}
        assert task_events <= seen  # the loop above really covers every task event type


def comparable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The row without personal columns (not on the timeline), every time in UTC."""
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items() if k not in PERSONAL}


async def kpis_of(
    path: Path, events: list[RecordedEvent], *, as_of: datetime, from_history: bool
) -> list[dict[str, Any]]:
    """The task KPIs of a read model made from `events`, as of a moment."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    writer = sync_writer(engine)
    TasksProjection.metadata.create_all(writer)
    with writer.begin() as conn:
        for one in events:
            TasksProjection().apply(conn, one)
    writer.dispose()
    async with engine.connect() as conn:
        figures = await kpis(
            conn, unit="yuhang", by="community", month=None, zone=UTC, as_of=as_of, from_history=from_history
        )
    await engine.dispose()
    return figures


async def test_task_kpis_as_of_any_moment_equal_those_of_the_log_cut_there(tmp_path: Path) -> None:
    """After every event of the whole loop: the KPIs "as of" that moment, from the timelines of the
    whole log, are what a read model of the log up to that moment answers."""
    whole = [recorded(event) for event in the_whole_loop()]
    for n, cut in enumerate(whole, start=1):
        moment = cut.envelope.occurred_at
        then = await kpis_of(tmp_path / f"cut-{n}.db", whole[:n], as_of=moment, from_history=False)
        remembered = await kpis_of(tmp_path / f"all-{n}.db", whole, as_of=moment, from_history=True)
        assert (cut.event.event_type, remembered) == (cut.event.event_type, then)
    assert [(f["tasks"], f["closed"], f["rework_count"]) for f in then] == [(1, 0, 2)]  # reopened at the end


def test_a_task_apply_refuses_an_event_it_does_not_know() -> None:
    from fourlinks_kernel.errors import UnknownEventType

    with pytest.raises(UnknownEventType):
        Task(TASK).apply(
            ev.ThemedPartyDayHeld(session_id="s", community="c", held_on=T0.date(), agenda=["a"])
        )


# -- the KPIs' counters ------------------------------------------------------------------------------
# The counters the tasks projection keeps answer exactly what counting the tasks' rows answers: for
# tasks left at every step of the loop, in several units and months, fed in micro-batches of every
# size, at several moments, by community and street; on SQLite and PostgreSQL.
ZONE = ZoneInfo("Asia/Shanghai")
# The same offset without the zone's name: the query then counts rows (no counters kept in it).
SAME_OFFSET = timezone(timedelta(hours=8))
UNITS = ("yuhang/nanyuan/xinghe", "yuhang/nanyuan/xinghe/grid-2", "yuhang/linping/jiangnan")
T_MONTHS = datetime(2026, 6, 30, 15, 30, tzinfo=UTC)  # raised across a month's end, in the zone's months


def a_task(number: int, rng: random.Random) -> list[tuple[DomainEvent, datetime]]:
    """A task's history cut after a random step, raised in a random unit and month."""
    task_id, unit = f"task-{number}", rng.choice(UNITS)
    history = list(rejected() if rng.random() < 0.15 else the_whole_loop())
    kept = history[: rng.randint(1, len(history))]
    start = T_MONTHS + timedelta(days=rng.choice((0, 0, 20, 45)), hours=rng.randint(0, 23))
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
    for as_of in (T_MONTHS + timedelta(days=3), T_MONTHS + timedelta(days=30), last + timedelta(days=60)):
        for unit, by in itertools.product(("yuhang", "yuhang/nanyuan/xinghe"), ("community", "street")):
            for month in (None, "2026-06", "2026-07", "2026-08", "2026-09"):
                counted, from_rows = await both_ways(engine, unit=unit, by=by, month=month, as_of=as_of)
                assert (unit, by, month, counted) == (unit, by, month, from_rows)
    everything, _ = await both_ways(engine, unit="yuhang", by="street", month=None, as_of=last)
    assert sum(f["tasks"] for f in everything) > 20
    assert sum(f["rework_count"] for f in everything) > 0
    assert any(f["extended"] for f in everything)
    assert any(f["median_hours_to_close"] for f in everything)
