"""Read models of feedback: items (with their task's state, from the assignments' events),
call-backs per round, a personal-data-free history for the resident's follow-up view, ratings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from fourlinks_contracts import assignments as tasks_ev
from fourlinks_contracts import feedback as ev
from fourlinks_contracts.members import CONTEXT as MEMBERS
from fourlinks_contracts.members import HouseholdErased, community_or_above
from fourlinks_feedback.projections.rate_counters import STATE, basis_of, counts_now, counts_table
from fourlinks_kernel.batch_rows import CHUNK, BatchRows
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import CopiedFrom, KeepFirst, folded_row, insert_row, select_rows_by, update_rows
from fourlinks_kernel.tally import GROUP, Tally
from fourlinks_runtime.figures import month_of
from fourlinks_runtime.settings import Settings

metadata = MetaData()
ID = String(36)
items = Table(
    "feedback_items",
    metadata,
    Column("feedback_id", ID, primary_key=True),
    Column("reference", String(40), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("category", String(60), nullable=False),
    Column("urgency", String(20), nullable=False),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("household_id", ID, index=True),
    Column("enterprise_id", ID, index=True),
    Column("member_id", ID, index=True),
    Column("submitted_by", String(64), nullable=False),
    Column("on_behalf_by_member", ID),
    Column("anonymous", Boolean, nullable=False),
    Column("confidential", Boolean, nullable=False),
    # Nobody vouched for the reporter (a service card's QR code, no phone confirmed by a code):
    # the secretaries see it so; and whether the reporter asked their member to call them back.
    Column("unconfirmed", Boolean, nullable=False, default=False),
    Column("call_back", Boolean, nullable=False, default=False),
    Column("description", Text),
    Column("state", String(20), nullable=False, index=True),
    Column("task_id", ID, unique=True),
    Column("task_state", String(20)),
    Column("task_parked_from", String(20)),
    Column("task_closed_at", UtcDateTime()),
    Column("task_assignee", ID),
    Column("answer", Text),
    Column("outcome", String(40)),
    Column("duplicate_of", ID),  # the item this one says again (closed as its duplicate)
    Column("rounds", Integer, nullable=False, default=1),
    Column("submitted_at", UtcDateTime(), nullable=False),
    Column("assigned_at", UtcDateTime()),
    Column("answered_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
    # The rates' inputs kept on the item, so the rates read one row per item: its latest call-back
    # answer, whether a call-back went unanswered, and when either last changed (an "as of" before
    # that answers from the call-backs' history instead).
    Column("answer_resolved", String(10)),
    Column("answer_satisfaction", String(30)),
    Column("callback_not_reached", Boolean, nullable=False, default=False),
    Column("callbacks_changed_at", UtcDateTime()),
    # A month's items by category and building (`/kpis/categories`): the month is a range of this.
    Index("feedback_items_by_submission", "submitted_at"),
)
callbacks = Table(
    "callbacks",
    metadata,
    Column("feedback_id", ID, primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("task_id", ID, nullable=False),
    Column("member_id", ID, index=True),
    Column("due_at", UtcDateTime(), nullable=False, index=True),
    Column("answer_by", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    Column("resolved", String(10)),
    Column("satisfaction", String(30)),
    Column("comment", Text),
    Column("not_reached", Boolean, nullable=False, default=False),
)
history = Table(
    "feedback_history",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("feedback_id", ID, nullable=False, index=True),
    Column("what", String(60), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("detail", String(200)),
)
photos = Table(
    "feedback_photos",
    metadata,
    Column("feedback_id", ID, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("number", Integer, nullable=False),
)
ratings = Table(
    "ratings",
    metadata,
    Column("rating_id", ID, primary_key=True),
    Column("household_id", ID, nullable=False, index=True),
    Column("member_id", ID, nullable=False, index=True),
    Column("period", String(10), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text),
    Column("rated_at", UtcDateTime(), nullable=False),
)

feedback_counts = counts_table(metadata)
_COUNTED = frozenset(STATE) - {"feedback_id", "task_id"}


class FeedbackProjection:
    """feedback_items, callbacks, feedback_history, feedback_photos, ratings, and the rates'
    counters (feedback_counts)."""

    name: ClassVar[str] = "feedback.items"
    # 2: the task lifecycle shared with assignments; outcome on a good call-back
    # 3: the latest call-back answer and "not reached" kept on the item for the rates
    # 4: the photos sent with an item
    # 5: the rates' counters
    # 6: whether nobody vouched for the reporter, and whether they asked to be called back
    # 7: an item closed as a duplicate names its original; items indexed by submission time; an
    #    opinion or question turned into a task is responded to when its task is assigned
    version: ClassVar[int] = 7
    metadata: ClassVar[MetaData] = metadata
    # Beyond its own context: the tasks' lifecycle (assignments), a household's erasure (members).
    subjects: ClassVar[tuple[str, ...]] = (f"{ev.CONTEXT}.>", f"{tasks_ev.CONTEXT}.>", f"{MEMBERS}.>")
    handles: ClassVar[frozenset[str]] = frozenset(
        {e.event_type for e in ev.EVENTS} | tasks_ev.TASK_LIFECYCLE_EVENTS | {HouseholdErased.event_type}
    )
    # Of a task's lifecycle, the item keeps its state and assignee: a task's description and a
    # reopening's reason are not decrypted here (the events without personal data decode whole:
    # a few fields of them cost as much as all).
    reads_only: ClassVar[Mapping[str, frozenset[str]]] = {
        "TaskRaised": frozenset({"task_id"}),
        "TaskReopened": frozenset({"task_id", "assignee"}),
    }

    def __init__(self, zone: str | None = None, response_limit: timedelta | None = None) -> None:
        if zone is None or response_limit is None:  # the service's own settings
            settings = Settings()
            zone = zone or settings.timezone
            response_limit = response_limit or timedelta(hours=settings.response_limit_hours)
        self.limit = response_limit
        self.basis, self.zone = basis_of(zone, response_limit), ZoneInfo(zone)
        self.tally = Tally(feedback_counts, GROUP)
        # Within a micro-batch: its items' counted columns as they stand (read once at its start).
        self.states = BatchRows(items, STATE, "feedback_id")
        self.by_task: dict[str, str | None] = {}  # None: no item (a task raised on a visit)

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """The counted columns of the items the batch changes, in one read (two: by item, by task)."""
        self.tally.forget()
        items_of = sorted({e.event.feedback_id for e in events if isinstance(e.event, ev.FeedbackEvent)})
        tasks_of = sorted({e.event.task_id for e in events if isinstance(e.event, tasks_ev.TaskEvent)})
        self.states.begin(conn, items_of)
        self.by_task = dict.fromkeys(tasks_of)
        for start in range(0, len(tasks_of), CHUNK):
            for row in select_rows_by(
                conn, items, STATE, "task_id", tasks_of[start : start + CHUNK]
            ).values():
                self._keep(row)

    def end_batch(self, conn: Connection) -> None:
        self.tally.write(conn)
        self.states.end()
        self.by_task = {}

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """Feedback events change their rows; task events update the feedback they belong to."""
        event, when = recorded.event, recorded.envelope.occurred_at
        if isinstance(event, HouseholdErased):
            _erase(conn, event.household_id)
            return
        if event.event_type in tasks_ev.TASK_LIFECYCLE_EVENTS:
            self._task(conn, event, when)
            return
        self._feedback(conn, event, when)
        line = _history_line(event)
        if line is not None:
            insert_row(
                conn,
                history,
                {
                    "position": recorded.position,
                    "feedback_id": _feedback_id(event),
                    "what": line[0],
                    "detail": line[1],
                    "at": when,
                },
            )

    def _task(self, conn: Connection, event: DomainEvent, when: datetime) -> None:
        assert isinstance(event, tasks_ev.TaskEvent)  # only lifecycle events come here
        task_id = event.task_id
        values = _task_lifecycle(event)
        if isinstance(event, tasks_ev.TaskClosed | tasks_ev.TaskReopened):
            values["task_closed_at"] = when if isinstance(event, tasks_ev.TaskClosed) else None
        if isinstance(event, tasks_ev.TaskAssigned | tasks_ev.TaskReassigned):
            values["task_assignee"] = (
                event.member_id if isinstance(event, tasks_ev.TaskAssigned) else event.to_member
            )
            values["assigned_at"] = KeepFirst(when)  # the first assignment counts
        update_rows(conn, items, {"task_id": task_id}, values)
        if values.keys() & _COUNTED:
            self._moved(conn, self._item_of_task(conn, task_id), values)

    def _update(self, conn: Connection, feedback_id: str, **values: Any) -> None:
        update_rows(conn, items, {"feedback_id": feedback_id}, values)
        if values.keys() & (_COUNTED | {"task_id"}):  # a task handed the item: known by it from now
            self._moved(conn, self._item(conn, feedback_id), values)

    def _moved(self, conn: Connection, before: dict[str, Any] | None, changes: dict[str, Any]) -> None:
        """An item's counted columns changed: move its share of the counters."""
        if before is None:  # no such item (nothing was updated)
            return
        after = folded_row(before, changes) if changes else before
        group = self._group(after)  # an item's group never changes
        self.tally.move((group, counts_now(before, self.limit)), (group, counts_now(after, self.limit)))
        self._keep(after)
        if not self.states.in_batch:  # an event applied on its own: written at once
            self.tally.write(conn)

    def _added(self, conn: Connection, item: dict[str, Any]) -> None:
        """A new item joins its group's counters."""
        row = {column: item.get(column) for column in STATE}
        self.tally.move(None, (self._group(row), counts_now(row, self.limit)))
        self._keep(row)
        if not self.states.in_batch:
            self.tally.write(conn)

    def _group(self, row: dict[str, Any]) -> tuple[str, str, str]:
        return self.basis, community_or_above(row["org_unit"]), month_of(row["submitted_at"], self.zone)

    def _keep(self, row: dict[str, Any]) -> None:
        self.states.put(row)
        if self.states.in_batch and row["task_id"] is not None:
            self.by_task[row["task_id"]] = row["feedback_id"]

    def _item(self, conn: Connection, feedback_id: str) -> dict[str, Any] | None:
        return self.states.get(conn, feedback_id)

    def _item_of_task(self, conn: Connection, task_id: str) -> dict[str, Any] | None:
        if task_id in self.by_task:
            feedback_id = self.by_task[task_id]
            return None if feedback_id is None else self._item(conn, feedback_id)
        found = select_rows_by(conn, items, STATE, "task_id", [task_id])
        return next(iter(found.values()), None)

    def _feedback(self, conn: Connection, event: DomainEvent, when: datetime) -> None:
        match event:
            case ev.FeedbackSubmitted():
                item = {
                    "feedback_id": event.feedback_id,
                    "reference": event.reference,
                    "kind": event.kind.value,
                    "channel": event.channel.value,
                    "category": event.category,
                    "urgency": event.urgency.value,
                    "org_unit": event.org_unit,
                    "household_id": event.household_id,
                    "enterprise_id": event.enterprise_id,
                    "member_id": event.member_id,
                    "submitted_by": event.submitted_by,
                    "on_behalf_by_member": event.on_behalf_by_member,
                    "anonymous": event.anonymous,
                    "confidential": event.confidential,
                    "unconfirmed": event.unconfirmed,
                    "call_back": event.call_back,
                    "description": event.description,
                    "state": "submitted",
                    "rounds": 1,
                    "submitted_at": when,
                    "callback_not_reached": False,
                }
                insert_row(conn, items, item)
                self._added(conn, item)
                for number, photo in enumerate(event.photos, start=1):
                    insert_row(
                        conn,
                        photos,
                        {"feedback_id": event.feedback_id, "number": number, **photo.model_dump()},
                    )
            case ev.FeedbackRouted():
                self._update(
                    conn, event.feedback_id, state="routed", task_id=event.task_id, task_state="raised"
                )
            case ev.FeedbackAnswered():
                self._update(conn, event.feedback_id, answer=event.answer, answered_at=when)
            case ev.FeedbackMarkedDuplicate():
                # The original's answer answers it: the secretary's mark is its response.
                self._update(conn, event.feedback_id, duplicate_of=event.duplicate_of, answered_at=when)
            case ev.FeedbackClosed():
                closed_at = KeepFirst(when)  # the first confirmation counts
                self._update(
                    conn, event.feedback_id, state="closed", outcome=event.outcome, closed_at=closed_at
                )
            case ev.CallbackScheduled():
                insert_row(
                    conn,
                    callbacks,
                    {
                        "feedback_id": event.feedback_id,
                        "round": event.round,
                        "kind": event.kind.value,
                        "task_id": event.task_id,
                        "due_at": event.due_at,
                        "answer_by": event.answer_by,
                        "not_reached": False,
                    },
                )
                state = "follow_up_due" if event.kind == ev.CallbackKind.FOLLOW_UP else "callback_due"
                self._update(conn, event.feedback_id, state=state)
            case ev.SatisfactionRecorded():
                update_rows(
                    conn,
                    callbacks,
                    _callback(event.feedback_id, event.round, event.kind),
                    {
                        "answered_at": when,
                        "resolved": event.resolved.value,
                        "satisfaction": event.satisfaction.value,
                        "comment": event.comment,
                        "member_id": event.member_id,
                    },
                )
                self._update(
                    conn,
                    event.feedback_id,
                    answer_resolved=event.resolved.value,
                    answer_satisfaction=event.satisfaction.value,
                    callbacks_changed_at=when,
                )
                if _confirms_resolution(event):  # the resident says it is fixed: the item has its outcome
                    self._update(
                        conn,
                        event.feedback_id,
                        outcome="resolved",
                        closed_at=KeepFirst(when),
                    )
            case ev.CallbackNotReached():
                update_rows(
                    conn,
                    callbacks,
                    _callback(event.feedback_id, event.round, event.kind),
                    {"not_reached": True},
                )
                self._update(
                    conn,
                    event.feedback_id,
                    state="not_reached",
                    callback_not_reached=True,
                    callbacks_changed_at=when,
                )
            case ev.CorrectionRequested():
                self._update(
                    conn,
                    event.feedback_id,
                    state="correction",
                    rounds=event.round,
                    outcome=None,
                    closed_at=None,
                )
            case ev.MemberRated():
                insert_row(
                    conn,
                    ratings,
                    {
                        "rating_id": event.rating_id,
                        "household_id": event.household_id,
                        "member_id": event.member_id,
                        "period": event.period,
                        "score": event.score,
                        "comment": event.comment,
                        "rated_at": when,
                    },
                )


def _callback(feedback_id: str, round_: int, kind: ev.CallbackKind) -> dict[str, Any]:
    return {"feedback_id": feedback_id, "round": round_, "kind": kind.value}


def _feedback_id(event: DomainEvent) -> str:
    assert isinstance(event, ev.FeedbackEvent)  # every event with a history line is an item's
    return event.feedback_id


def _history_line(event: DomainEvent) -> tuple[str, str | None] | None:
    """What the follow-up view shows: states and dates, never anyone's personal data."""
    match event:
        case ev.FeedbackSubmitted():
            return "submitted", event.category
        case ev.FeedbackAcknowledged():
            return "acknowledged", event.reference
        case ev.FeedbackRouted():
            return "handed to a task", None
        case ev.FeedbackAnswered():
            return "answered", None
        case ev.FeedbackMarkedDuplicate():
            return "marked as a duplicate", None  # not the original's reference: another household's
        case ev.CallbackScheduled():
            return f"call-back scheduled ({event.kind.value})", event.due_at.isoformat()
        case ev.SatisfactionRecorded():
            return "call-back answered", f"resolved: {event.resolved.value}; {event.satisfaction.value}"
        case ev.CallbackNotReached():
            return "call-back not reached", None
        case ev.CorrectionRequested():
            return "correction requested", f"round {event.round}"
        case ev.FeedbackClosed():
            return "closed", event.outcome
    return None


def _task_lifecycle(event: DomainEvent) -> dict[str, Any]:
    """The task's state on its feedback item, by the lifecycle the task itself follows."""
    target = tasks_ev.task_state_after(event)
    if isinstance(event, tasks_ev.TaskParked):
        return {"task_state": tasks_ev.TaskState.PARKED.value, "task_parked_from": CopiedFrom("task_state")}
    if target is tasks_ev.Resume.PARKED_FROM:
        resumed = CopiedFrom("task_parked_from", otherwise=tasks_ev.TaskState.ACCEPTED.value)
        return {"task_state": resumed, "task_parked_from": None}
    return {} if target is None else {"task_state": target.value}


def _confirms_resolution(event: ev.SatisfactionRecorded) -> bool:
    return event.resolved != ev.Resolved.NO and event.satisfaction != ev.Satisfaction.DISSATISFIED


def _erase(conn: Connection, household_id: str) -> None:
    """What an erased household wrote is gone from these tables as its key is from the key table
    (its photos stay listed: their bytes, sealed under that key, can no longer be opened)."""
    theirs = select(items.c.feedback_id).where(items.c.household_id == household_id)
    conn.execute(callbacks.update().where(callbacks.c.feedback_id.in_(theirs)).values(comment=None))
    update_rows(conn, items, {"household_id": household_id}, {"description": None, "answer": None})
    update_rows(conn, ratings, {"household_id": household_id}, {"comment": None})
