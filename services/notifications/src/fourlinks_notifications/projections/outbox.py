"""The notices to send and what they are worked from: the members' public phones, the
contacts' phones, the tasks' units and assignees, the feedback items' references and whether their
resident asked to be told. Phones are personal data: an erased person's phone is gone from here
as from every read model, and their notices find no one to send to."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from fourlinks_contracts import assignments as task_events
from fourlinks_contracts import feedback as feedback_events
from fourlinks_contracts import members as member_events
from fourlinks_contracts import notifications as notice_events
from fourlinks_kernel.batch_rows import BatchRows
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import update_rows, upsert_row
from fourlinks_notifications.domain.messages import Message
from fourlinks_notifications.domain.notice import notice_id_for
from fourlinks_notifications.domain.rules import (
    Draft,
    FeedbackFacts,
    Recipient,
    RecipientKind,
    TaskFacts,
    feedback_drafts,
    task_drafts,
)

metadata = MetaData()
ID = String(36)
UNIT = String(512)
# Members' and contacts' units are the shared members' directory's (kept beside this read model);
# what only the notifier needs of them is here.
members = Table(
    "notify_members",
    metadata,
    Column("member_id", ID, primary_key=True),
    Column("public_phone", String(40)),
)
phones = Table(
    "notify_phones",
    metadata,
    Column("person_id", ID, primary_key=True),
    Column("contact_id", ID, nullable=False, index=True),
    Column("phone", String(40)),
    Column("position", BigInteger, nullable=False),
)
tasks = Table(
    "notify_tasks",
    metadata,
    Column("task_id", ID, primary_key=True),
    Column("org_unit", UNIT, nullable=False),
    Column("category", String(100), nullable=False),
    Column("assignee", ID),
)
feedback_items = Table(
    "notify_feedback",
    metadata,
    Column("feedback_id", ID, primary_key=True),
    Column("reference", String(40), nullable=False),
    Column("org_unit", UNIT, nullable=False),
    Column("contact_kind", String(20)),
    Column("contact_id", ID),
    Column("notify", Boolean, nullable=False),
)
notices = Table(
    "notices",
    metadata,
    Column("notice_id", ID, primary_key=True),
    Column("cause", String(64), nullable=False),  # the event's id
    Column("correlation_id", String(200), nullable=False),
    Column("recipient_kind", String(20), nullable=False, index=True),
    Column("recipient_id", UNIT, nullable=False),
    Column("org_unit", UNIT, nullable=False, index=True),
    Column("message", String(40), nullable=False),
    Column("params", Text, nullable=False),  # JSON: references, categories, dates, paths
    Column("state", String(10), nullable=False, index=True),  # pending, sent, dead
    Column("attempts", Integer, nullable=False),
    Column("next_at", UtcDateTime(), nullable=False, index=True),
    Column("fresh_since", UtcDateTime(), nullable=False),
    Column("channel", String(20)),
    Column("last_error", Text),
    Column("settled_at", UtcDateTime()),
)


class OutboxProjection:
    """The notices, made once per event and recipient, and the facts they are made from."""

    name: ClassVar[str] = "notifications.outbox"
    version: ClassVar[int] = 2  # 2: a member's public phone is personal data (nullable, erasable)
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = None
    handles: ClassVar[frozenset[str]] = frozenset(
        {
            "MemberRegistered",
            "MemberProfileUpdated",
            "MemberErased",
            "ResidentAdded",
            "ResidentErased",
            "EnterpriseRegistered",
            "EnterpriseContactErased",
            "TaskRaised",
            "TaskEscalated",
            "TaskPushedDown",
            "TaskAssigned",
            "TaskReassigned",
            "SpotCheckFailed",
            "TaskReopened",
            "DeadlineApproaching",
            "DeadlineMissed",
            "FeedbackSubmitted",
            "FeedbackRouted",
            "FeedbackAnswered",
            "CallbackScheduled",
            "FeedbackClosed",
            *(contract.event_type for contract in notice_events.EVENTS),
        }
    )
    # What the notices and facts are made of: the phones, never the names, flags or descriptions
    # sealed beside them (those are not decrypted at all).
    reads_only: ClassVar[Mapping[str, frozenset[str]]] = {
        "MemberRegistered": frozenset({"member_id", "public_phone"}),
        "MemberProfileUpdated": frozenset({"member_id", "public_phone"}),
        "ResidentAdded": frozenset({"resident_id", "household_id", "phone"}),
        "EnterpriseRegistered": frozenset({"enterprise_id", "contact_person_id", "contact_phone"}),
        "TaskRaised": frozenset({"task_id", "org_unit", "category"}),
        "TaskReopened": frozenset({"task_id"}),
        "FeedbackSubmitted": frozenset(
            {"feedback_id", "reference", "org_unit", "household_id", "enterprise_id", "notify"}
        ),
        "FeedbackRouted": frozenset({"feedback_id"}),
        "FeedbackAnswered": frozenset({"feedback_id"}),
    }

    def __init__(self) -> None:
        # A micro-batch's tasks and items, read once at its start (the notices are made from them).
        self.tasks = BatchRows(tasks, ("org_unit", "category", "assignee"), "task_id")
        self.items = BatchRows(feedback_items, _ITEM_FACTS, "feedback_id")

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """The facts of the tasks and items the batch's events are about, in two reads."""
        self.tasks.begin(
            conn, (e.event.task_id for e in events if isinstance(e.event, task_events.TaskEvent))
        )
        self.items.begin(
            conn, (e.event.feedback_id for e in events if isinstance(e.event, feedback_events.FeedbackEvent))
        )

    def end_batch(self, conn: Connection) -> None:
        self.tasks.end()
        self.items.end()

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """Keep the facts, then make the event's notices or record a notice's outcome."""
        event = recorded.event
        if not (
            _members(conn, event, recorded.position)
            or self._tasks(conn, event, recorded)
            or self._feedback(conn, event, recorded)
        ):
            _outcomes(conn, event, recorded)

    def _tasks(self, conn: Connection, event: DomainEvent, recorded: RecordedEvent) -> bool:
        if not isinstance(event, task_events.TaskEvent):
            return False
        changes = _task_changes(event)
        if isinstance(event, task_events.TaskRaised):
            upsert_row(conn, tasks, changes, ["task_id"])
            self.tasks.put(changes)
            return True
        if changes:
            update_rows(conn, tasks, {"task_id": event.task_id}, changes)
            self.tasks.change(event.task_id, changes)
        if isinstance(event, task_events.TaskEscalated | task_events.TaskPushedDown):
            return True
        row = self.tasks.get(conn, event.task_id)
        if row is not None:
            task = TaskFacts(event.task_id, row["org_unit"], row["category"], row["assignee"])
            _make(conn, recorded, task_drafts(event, task))
        return True

    def _feedback(self, conn: Connection, event: DomainEvent, recorded: RecordedEvent) -> bool:
        if not isinstance(event, feedback_events.FeedbackEvent):
            return False
        if isinstance(event, feedback_events.FeedbackSubmitted):
            contact_kind = (
                "household" if event.household_id else "enterprise" if event.enterprise_id else None
            )
            row = {
                "feedback_id": event.feedback_id,
                "reference": event.reference,
                "org_unit": event.org_unit,
                "contact_kind": contact_kind,
                "contact_id": event.household_id or event.enterprise_id,
                "notify": event.notify,
            }
            upsert_row(conn, feedback_items, row, ["feedback_id"])
            self.items.put(row)
        item = self.items.get(conn, event.feedback_id)
        if item is not None:
            _make(conn, recorded, feedback_drafts(event, _item_facts(event.feedback_id, item)))
        return True


def _members(conn: Connection, event: DomainEvent, position: int) -> bool:
    match event:
        case member_events.MemberRegistered() | member_events.MemberProfileUpdated():
            row = {"member_id": event.member_id, "public_phone": event.public_phone}
            upsert_row(conn, members, row, ["member_id"])
        case member_events.MemberErased():
            update_rows(conn, members, {"member_id": event.member_id}, {"public_phone": None})
        case member_events.EnterpriseRegistered():
            _phone(conn, event.contact_person_id, event.enterprise_id, event.contact_phone, position)
        case member_events.ResidentAdded():
            _phone(conn, event.resident_id, event.household_id, event.phone, position)
        case member_events.ResidentErased():
            update_rows(conn, phones, {"person_id": event.resident_id}, {"phone": None})
        case member_events.EnterpriseContactErased():
            update_rows(conn, phones, {"person_id": event.contact_person_id}, {"phone": None})
        case _:
            return False
    return True


def _phone(conn: Connection, person_id: str, contact_id: str, phone: str | None, position: int) -> None:
    row = {"person_id": person_id, "contact_id": contact_id, "phone": phone, "position": position}
    upsert_row(conn, phones, row, ["person_id"])


def _task_changes(event: task_events.TaskEvent) -> dict[str, Any]:
    """What a task event changes of the facts kept: a new task whole, its unit, its assignee."""
    match event:
        case task_events.TaskRaised():
            return {
                "task_id": event.task_id,
                "org_unit": event.org_unit,
                "category": event.category,
                "assignee": None,
            }
        case task_events.TaskEscalated() | task_events.TaskPushedDown():
            return {"org_unit": event.to_unit}
        case task_events.TaskAssigned():
            return {"assignee": event.member_id}
        case task_events.TaskReassigned():
            return {"assignee": event.to_member}
    return {}


_ITEM_FACTS = ("reference", "org_unit", "contact_kind", "contact_id", "notify")


def _item_facts(feedback_id: str, row: dict[str, Any]) -> FeedbackFacts:
    contact = (
        Recipient(RecipientKind(row["contact_kind"]), row["contact_id"]) if row["contact_kind"] else None
    )
    return FeedbackFacts(feedback_id, row["reference"], row["org_unit"], contact, bool(row["notify"]))


def _make(conn: Connection, recorded: RecordedEvent, drafts: list[Draft]) -> None:
    """A notice per draft; a replayed event meets its notices and changes nothing."""
    when = recorded.envelope.occurred_at
    for draft in drafts:
        notice_id = notice_id_for(recorded.envelope.event_id, draft.recipient.key)
        due = max(when, draft.not_before) if draft.not_before else when
        row = {
            "notice_id": notice_id,
            "cause": recorded.envelope.event_id,
            "correlation_id": recorded.envelope.correlation_id,
            "recipient_kind": draft.recipient.kind.value,
            "recipient_id": draft.recipient.id,
            "org_unit": draft.org_unit,
            "message": draft.message.value,
            "params": json.dumps(draft.params, ensure_ascii=False, sort_keys=True),
            "state": "pending",
            "attempts": 0,
            "next_at": due,
            "fresh_since": due,
        }
        upsert_row(conn, notices, row, ["notice_id"], replace=False)


def _outcomes(conn: Connection, event: DomainEvent, recorded: RecordedEvent) -> None:
    when = recorded.envelope.occurred_at
    match event:
        case notice_events.SignInLinkRequested():
            household = Recipient(RecipientKind.HOUSEHOLD, event.household_id)
            _make(conn, recorded, [Draft(household, Message.SIGN_IN_LINK, event.org_unit)])
        case notice_events.NoticeAttempted():
            _settle(
                conn,
                event.notice_id,
                attempts=event.attempt,
                channel=event.channel,
                next_at=event.lease_until,
            )
        case notice_events.NoticeSent():
            _settle(
                conn, event.notice_id, state="sent", channel=event.channel, settled_at=when, last_error=None
            )
        case notice_events.NoticeFailed():
            failed: dict[str, Any] = {"last_error": event.error, "channel": event.channel or None}
            if event.retry_at is None:
                _settle(conn, event.notice_id, state="dead", settled_at=when, **failed)
            else:
                _settle(conn, event.notice_id, next_at=event.retry_at, **failed)
        case notice_events.NoticeRetried():
            _settle(conn, event.notice_id, state="pending", next_at=when, fresh_since=when, settled_at=None)


def _settle(conn: Connection, notice_id: str, **changes: datetime | str | int | None) -> None:
    update_rows(conn, notices, {"notice_id": notice_id}, changes)
