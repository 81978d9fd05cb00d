"""Read models of tasks: one row per task (its current state and the figures KPIs need), its
timeline, and themed party days; and what a resident asked of their feedback until its task is
raised (a task raised before tasks carried the wishes takes them from there)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from fourlinks_assignments.projections.task_counters import TaskCounters, counters_tables
from fourlinks_assignments.projections.task_figures import STATE
from fourlinks_contracts import assignments as ev
from fourlinks_contracts.feedback import CONTEXT as FEEDBACK
from fourlinks_contracts.feedback import FeedbackSubmitted
from fourlinks_contracts.members import CONTEXT as MEMBERS
from fourlinks_contracts.members import HouseholdErased
from fourlinks_kernel.batch_rows import BatchRows
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import (
    Added,
    CopiedFrom,
    folded_row,
    insert_row,
    update_rows,
    upsert_row,
)
from fourlinks_runtime.settings import Settings

metadata = MetaData()
ID = String(36)
tasks = Table(
    "tasks",
    metadata,
    Column("task_id", ID, primary_key=True),
    Column("state", String(20), nullable=False, index=True),
    Column("parked_from", String(20)),
    Column("source", String(20), nullable=False),
    Column("source_ref", String(64), index=True),
    Column("category", String(60), nullable=False, index=True),
    Column("urgency", String(20), nullable=False),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("origin_unit", String(512), nullable=False, index=True),  # KPIs count by origin
    Column("household_id", ID),
    Column("enterprise_id", ID),
    Column("description", Text),
    # What the resident asked of the feedback the task came from (`fourlinks_contracts.visibility`).
    Column("confidential", Boolean, nullable=False, default=False),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("party_day_id", ID, index=True),
    Column("assignee", ID, index=True),
    Column("helpers", Text, nullable=False, default="[]"),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("triaged_at", UtcDateTime()),
    Column("original_due_at", UtcDateTime()),
    Column("due_at", UtcDateTime(), index=True),
    Column("extended", Boolean, nullable=False, default=False),
    Column("extension_requested", Boolean, nullable=False, default=False),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("rework_count", Integer, nullable=False, default=0),
    Column("reminded_for", UtcDateTime()),
    Column("missed", Boolean, nullable=False, default=False),
    Column("needs_reassignment", Boolean, nullable=False, default=False),
    Column("suggested_member", ID),
    Column("resolution_result", String(30)),
    Column("closed_at", UtcDateTime()),
    Column("closed_by", String(64)),
    Column("close_reason", String(30)),
    Column("closed_assignee", ID),
    Column("on_time", Boolean),
    Column("hours_to_close", Float),
    Column("rejection_reason", String(40)),
    # A month's tasks by category and building (`/kpis/categories`): the month is a range of this.
    Index("tasks_by_raising", "raised_at"),
)
timeline = Table(
    "task_timeline",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("task_id", ID, nullable=False, index=True),
    Column("event_type", String(60), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("details", Text, nullable=False),
)
party_days = Table(
    "party_days",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("community", String(512), nullable=False, index=True),
    Column("held_on", Date, nullable=False),
    Column("agenda", Text, nullable=False),
)
feedback_wishes = Table(
    "feedback_wishes",
    metadata,
    Column("feedback_id", ID, primary_key=True),
    Column("confidential", Boolean, nullable=False),
    Column("anonymous", Boolean, nullable=False),
)
task_counts, task_close_hours = counters_tables(metadata)
PERSONAL = frozenset({"description"})
"""What a task's row keeps of its contact's words (never on its timeline)."""
PERSONAL_ON_THE_TIMELINE = {
    e.event_type: e.personal_fields for e in ev.EVENTS if e.personal_fields and e is not ev.TaskRaised
}
"""What a timeline line keeps of the contact's words (a reopening's reason): gone with the contact."""


class TasksProjection:
    """tasks, task_timeline, party_days, feedback_wishes, and the KPIs' counters (task_counts,
    task_close_hours)."""

    name: ClassVar[str] = "assignments.tasks"
    # 2: tasks.origin_unit indexed; 3: the KPIs' counters; 4: tasks.confidential and anonymous
    # 5: a task raised before v2 takes its feedback's wishes; an erasure clears reopenings' reasons
    # 6: tasks indexed by the moment they were raised
    version: ClassVar[int] = 6
    metadata: ClassVar[MetaData] = metadata
    # Beyond its own context: a household's erasure (members) clears what its tasks say of it; a
    # resident's wishes (feedback) reach the tasks raised before TaskRaised carried them.
    subjects: ClassVar[tuple[str, ...]] = (f"{ev.CONTEXT}.>", f"{MEMBERS}.>", f"{FEEDBACK}.>")
    handles: ClassVar[frozenset[str]] = frozenset(e.event_type for e in ev.EVENTS) | {
        HouseholdErased.event_type,
        FeedbackSubmitted.event_type,
    }
    # Of a feedback item, only the wishes its task inherits (its description is not decrypted here).
    reads_only: ClassVar[Mapping[str, frozenset[str]]] = {
        FeedbackSubmitted.event_type: frozenset({"feedback_id", "confidential", "anonymous"}),
    }

    def __init__(self, zone: str | None = None) -> None:
        self.counters = TaskCounters(task_counts, task_close_hours, zone or Settings().timezone)
        # Within a micro-batch: its tasks' KPI columns as they stand (read once at its start).
        self.states = BatchRows(tasks, STATE, "task_id")

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """The KPI columns of the tasks the batch changes, in one read; the counters they touch."""
        raised = {
            e.event.task_id: _state_of_raised(e.event, e.envelope.occurred_at)
            for e in events
            if isinstance(e.event, ev.TaskRaised)
        }
        changed = {e.event.task_id for e in events if isinstance(e.event, ev.TaskEvent)} - raised.keys()
        self.states.begin(conn, changed)
        closing = {e.event.task_id for e in events if isinstance(e.event, ev.TaskClosed | ev.TaskReopened)}
        known = [raised.get(task_id) or self.states.get(conn, task_id) for task_id in closing]
        self.counters.begin(conn, [state for state in known if state is not None])

    def end_batch(self, conn: Connection) -> None:
        self.counters.end(conn)
        self.states.end()

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """One row change per event, and a line on the task's timeline."""
        event, when = recorded.event, recorded.envelope.occurred_at
        if isinstance(event, HouseholdErased):
            _erase(conn, event.household_id)
            return
        if isinstance(event, FeedbackSubmitted):
            _keep_wishes(conn, event)
            return
        if isinstance(event, ev.ThemedPartyDayHeld):
            insert_row(
                conn,
                party_days,
                {
                    "session_id": event.session_id,
                    "community": event.community,
                    "held_on": event.held_on,
                    "agenda": json.dumps(event.agenda, ensure_ascii=False),
                },
            )
            return
        if isinstance(event, ev.TaskRaised):
            event = _with_wishes(conn, event, recorded.envelope.schema_version)
            insert_row(conn, tasks, _raised(event, when))
            self._count(conn, None, _state_of_raised(event, when))
        else:
            before = self.states.get(conn, _task_id(event))
            raised_at = functools.partial(_raised_at, before, _task_id(event))
            changes = _changes(event, when, raised_at) | _lifecycle(event)
            if changes:
                update_rows(conn, tasks, {"task_id": _task_id(event)}, changes)
                if before is not None:
                    self._count(conn, before, folded_row(before, changes))
        insert_row(
            conn,
            timeline,
            {
                "position": recorded.position,
                "task_id": _task_id(event),
                "event_type": event.event_type,
                "actor_id": recorded.envelope.actor_id,
                "at": when,
                "details": _details(event),
            },
        )

    def _count(self, conn: Connection, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Move the task's share of the KPIs' counters to how it stands now."""
        self.counters.moved(conn, before, after)
        if not self.states.in_batch:  # an event applied on its own: written at once
            self.counters.end(conn)
        self.states.put(after)


def task_as_of(task_id: str, lines: Iterable[tuple[str, datetime, str]]) -> dict[str, Any]:
    """A task's row as it stood after the given timeline lines (event type, time, details, in
    order): the projection's own changes, folded in memory instead of written. The timeline holds
    no personal data, so the personal columns stay empty."""
    row: dict[str, Any] = dict(_COLUMN_DEFAULTS)
    for event_type, when, details in lines:
        kind = _EVENT_TYPES[event_type]
        data = {"task_id": task_id, "data_subject": task_id, **json.loads(details)}
        data |= dict.fromkeys(kind.personal_fields)
        event = kind.model_validate({k: v for k, v in data.items() if k in kind.model_fields})
        if isinstance(event, ev.TaskRaised):
            row.update(_raised(event, when))
            continue
        changes = _changes(event, when, functools.partial(row.__getitem__, "raised_at")) | _lifecycle(event)
        row = folded_row(row, changes)
    return row


_COLUMN_DEFAULTS = {c.name: getattr(c.default, "arg", None) for c in tasks.columns}
_STATE_DEFAULTS = {c: _COLUMN_DEFAULTS[c] for c in STATE}


def _state_of_raised(event: ev.TaskRaised, when: datetime) -> dict[str, Any]:
    raised = _raised(event, when)
    return {column: raised.get(column, default) for column, default in _STATE_DEFAULTS.items()}


_EVENT_TYPES = {e.event_type: e for e in ev.EVENTS if e is not ev.ThemedPartyDayHeld}


def _task_id(event: DomainEvent) -> str:
    assert isinstance(event, ev.TaskEvent)  # every event here but a party day's is a task's
    return event.task_id


_JSON: dict[str, Any] = {"ensure_ascii": False, "sort_keys": True}


def _details(event: DomainEvent) -> str:
    data = event.model_dump(mode="json", exclude={"task_id", "data_subject", *PERSONAL})
    return json.dumps(data, **_JSON)


def _raised(event: ev.TaskRaised, when: datetime) -> dict[str, Any]:
    return {
        "task_id": event.task_id,
        "state": ev.TaskState.RAISED.value,
        "source": event.source.value,
        "source_ref": event.source_ref,
        "category": event.category,
        "urgency": event.urgency.value,
        "org_unit": event.org_unit,
        "origin_unit": event.org_unit,
        "household_id": event.household_id,
        "enterprise_id": event.enterprise_id,
        "description": event.description,
        "confidential": event.confidential,
        "anonymous": event.anonymous,
        "party_day_id": event.party_day_id,
        "raised_at": when,
        "helpers": "[]",
    }


def _erase(conn: Connection, household_id: str) -> None:
    """What an erased household said is gone from its tasks: their descriptions, and the reasons
    on their timelines (a correction's reason is the resident's words)."""
    update_rows(conn, tasks, {"household_id": household_id}, dict.fromkeys(PERSONAL))
    theirs = select(tasks.c.task_id).where(tasks.c.household_id == household_id)
    lines = conn.execute(
        select(timeline.c.position, timeline.c.event_type, timeline.c.details).where(
            timeline.c.task_id.in_(theirs), timeline.c.event_type.in_(list(PERSONAL_ON_THE_TIMELINE))
        )
    ).all()
    for position, event_type, details in lines:
        emptied = json.loads(details) | dict.fromkeys(PERSONAL_ON_THE_TIMELINE[event_type])
        update_rows(conn, timeline, {"position": position}, {"details": json.dumps(emptied, **_JSON)})


def _keep_wishes(conn: Connection, submitted: FeedbackSubmitted) -> None:
    """A confidential or anonymous item's wishes, kept until its task is raised."""
    if submitted.confidential or submitted.anonymous:
        wishes = {"confidential": submitted.confidential, "anonymous": submitted.anonymous}
        upsert_row(conn, feedback_wishes, {"feedback_id": submitted.feedback_id, **wishes}, ["feedback_id"])


def _with_wishes(conn: Connection, raised: ev.TaskRaised, version: int) -> ev.TaskRaised:
    """The task as raised, with its feedback's wishes where the event was written before it carried
    them (v1 reads as neither confidential nor anonymous); the wishes are kept no longer."""
    if raised.source != ev.TaskSource.FEEDBACK or raised.source_ref is None:
        return raised
    theirs = feedback_wishes.c.feedback_id == raised.source_ref
    wishes = conn.execute(
        select(feedback_wishes.c.confidential, feedback_wishes.c.anonymous).where(theirs)
    ).first()
    if wishes is None:
        return raised
    conn.execute(feedback_wishes.delete().where(theirs))
    if version > 1:
        return raised
    return raised.model_copy(update={"confidential": wishes.confidential, "anonymous": wishes.anonymous})


def _raised_at(state: dict[str, Any] | None, task_id: str) -> datetime:
    """When the task was raised, from its row as the batch holds it (already read if it exists)."""
    if state is None:  # the projection halts on it, as on any event it cannot apply
        raise LookupError(f"task {task_id} is not in the read model")
    raised_at: datetime = state["raised_at"]
    return raised_at


def _changes(event: DomainEvent, when: datetime, raised_at: Callable[[], datetime]) -> dict[str, Any]:
    for step in (_start_changes, _work_changes, _adjust_changes):
        changes = step(event)
        if changes is not None:
            return changes
    if isinstance(event, ev.TaskClosed):
        raised = raised_at()
        return {
            "closed_at": when,
            "closed_by": event.closed_by,
            "close_reason": event.reason.value,
            "closed_assignee": event.assignee,
            "on_time": event.on_time,
            "escalated": event.escalated,
            "hours_to_close": _hours(raised, when),
        }
    if isinstance(event, ev.TaskReopened):
        return {
            "closed_at": None,
            "close_reason": None,
            "on_time": None,
            "hours_to_close": None,
            "rework_count": Added(1),
        }
    return {}


def _start_changes(event: DomainEvent) -> dict[str, Any] | None:
    match event:
        case ev.TaskTriaged():
            return {
                "triaged_at": event.triaged_at,
                "due_at": event.due_at,
                "original_due_at": event.due_at,
            }
        case ev.TaskRejected():
            return {"rejection_reason": event.reason.value}
        case ev.TaskAssigned():
            assigned = {
                "assignee": event.member_id,
                "helpers": json.dumps(event.helpers),
            }
            if event.party_day_id:  # otherwise the task keeps the party day it was raised on
                assigned["party_day_id"] = event.party_day_id
            return assigned
        case ev.TaskAccepted():
            return {}
        case ev.TaskReturned():
            return {"assignee": None, "helpers": "[]"}
    return None


def _work_changes(event: DomainEvent) -> dict[str, Any] | None:
    match event:
        case ev.ProgressReported():
            return {}
        case ev.ResolutionReported():
            return {"resolution_result": event.result.value}
        case ev.SpotCheckPassed():
            return {}
        case ev.SpotCheckFailed():
            return {"rework_count": event.rework_count}
        case ev.DeadlineApproaching():
            return {"reminded_for": event.due_at}
        case ev.DeadlineMissed():
            return {"missed": True}
        case ev.TaskFlaggedForReassignment():
            return {"needs_reassignment": True, "suggested_member": event.suggested_member_id}
    return None


def _adjust_changes(event: DomainEvent) -> dict[str, Any] | None:
    match event:
        case ev.TaskReassigned():
            return {
                "assignee": event.to_member,
                "helpers": json.dumps(event.helpers),
                "needs_reassignment": False,
                "suggested_member": None,
            }
        case ev.DeadlineExtensionRequested():
            return {"extension_requested": True}
        case ev.DeadlineExtended():
            return {
                "due_at": event.new_due_at,
                "extended": True,
                "extension_requested": False,
                "missed": False,
            }
        case ev.DeadlineExtensionRefused():
            return {"extension_requested": False}
        case ev.TaskEscalated():
            return {"org_unit": event.to_unit, "escalated": True}
        case ev.TaskPushedDown():
            return {"org_unit": event.to_unit}
        case ev.TaskParked() | ev.TaskUnparked():
            return {}
    return None


def _lifecycle(event: DomainEvent) -> dict[str, Any]:
    """The row's state by the lifecycle the task aggregate and the feedback service share."""
    target = ev.task_state_after(event)
    if isinstance(event, ev.TaskParked):
        return {"state": ev.TaskState.PARKED.value, "parked_from": CopiedFrom("state")}
    if target is ev.Resume.PARKED_FROM:
        resumed = CopiedFrom("parked_from", otherwise=ev.TaskState.ACCEPTED.value)
        return {"state": resumed, "parked_from": None}
    return {} if target is None else {"state": target.value}


def _hours(start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=end.tzinfo)
    return round((end - start).total_seconds() / 3600, 4)
