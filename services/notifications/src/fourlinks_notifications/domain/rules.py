"""Which events tell whom what: a task assigned or handed back tells its member; a deadline near
or missed tells the member and the unit's secretaries; a call-back due tells the secretaries;
feedback whose resident asked to be told tells them of its reference and each step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote

from fourlinks_contracts import assignments as task_events
from fourlinks_contracts import feedback as feedback_events
from fourlinks_contracts.service_matters import matter_code
from fourlinks_kernel.events import DomainEvent
from fourlinks_notifications.domain.messages import Message


class RecipientKind(StrEnum):
    """Who a notice is for: a member, a unit's secretaries, or a household or enterprise contact."""

    MEMBER = "member"
    SECRETARIES = "secretaries"
    HOUSEHOLD = "household"
    ENTERPRISE = "enterprise"


STAFF = (RecipientKind.MEMBER, RecipientKind.SECRETARIES)


@dataclass(frozen=True)
class Recipient:
    """One recipient: a member by id, secretaries by org unit, a contact by id."""

    kind: RecipientKind
    id: str

    @property
    def key(self) -> str:
        """What the notice id is derived from, beside the event's id."""
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True)
class Draft:
    """A notice to make: to whom, saying what, seen by the secretaries of `org_unit`."""

    recipient: Recipient
    message: Message
    org_unit: str
    params: dict[str, str] = field(default_factory=dict)
    not_before: datetime | None = None


@dataclass(frozen=True)
class TaskFacts:
    """What the notifier knows of a task when one of its events arrives."""

    task_id: str
    org_unit: str
    category: str
    assignee: str | None


@dataclass(frozen=True)
class FeedbackFacts:
    """What the notifier knows of a feedback item."""

    feedback_id: str
    reference: str
    org_unit: str
    contact: Recipient | None
    notify: bool


def task_params(task: TaskFacts, **more: str) -> dict[str, str]:
    """A task's reference (its id's first eight characters), category and page: the category as
    its code of the catalogue, never as stored (old tasks hold free text, which a group must not
    read); the text shows its label."""
    category = matter_code(task.category)
    return {"task": task.task_id[:8], "category": category, "path": f"/tasks/{task.task_id}", **more}


def task_drafts(event: DomainEvent, task: TaskFacts) -> list[Draft]:
    """What one of a task's events tells whom (a deadline travels as ISO time, shown in local time)."""
    member = [Recipient(RecipientKind.MEMBER, task.assignee)] if task.assignee is not None else []
    secretaries = Recipient(RecipientKind.SECRETARIES, task.org_unit)
    match event:
        case task_events.TaskAssigned() | task_events.TaskReassigned():
            told, message = member, Message.TASK_ASSIGNED
        case task_events.SpotCheckFailed():
            told, message = member, Message.TASK_HANDED_BACK
        case task_events.TaskReopened():
            told, message = member, Message.TASK_REOPENED
        case task_events.DeadlineApproaching():
            told, message = [*member, secretaries], Message.DEADLINE_APPROACHING
        case task_events.DeadlineMissed():
            told, message = [*member, secretaries], Message.DEADLINE_MISSED
        case _:
            return []
    due = getattr(event, "due_at", None)
    params = task_params(task, **({"due": due.isoformat()} if isinstance(due, datetime) else {}))
    return [Draft(recipient, message, task.org_unit, params) for recipient in told]


FEEDBACK_STEPS: dict[str, Message] = {
    "FeedbackSubmitted": Message.FEEDBACK_RECEIVED,
    "FeedbackRouted": Message.FEEDBACK_ROUTED,
    "FeedbackAnswered": Message.FEEDBACK_ANSWERED,
    "CallbackScheduled": Message.CALLBACK_ASKED,
    "FeedbackClosed": Message.FEEDBACK_CLOSED,
}


def feedback_drafts(event: DomainEvent, item: FeedbackFacts) -> list[Draft]:
    """What one of a feedback item's events tells whom."""
    params = {"reference": item.reference, "path": f"/follow?reference={quote(item.reference)}"}
    drafts: list[Draft] = []
    if isinstance(event, feedback_events.CallbackScheduled):
        secretaries = Recipient(RecipientKind.SECRETARIES, item.org_unit)
        drafts.append(
            Draft(secretaries, Message.CALLBACK_DUE, item.org_unit, params, not_before=event.due_at)
        )
    step = FEEDBACK_STEPS.get(event.event_type)
    if step is not None and item.notify and item.contact is not None:
        not_before = event.due_at if isinstance(event, feedback_events.CallbackScheduled) else None
        drafts.append(Draft(item.contact, step, item.org_unit, params, not_before=not_before))
    return drafts
