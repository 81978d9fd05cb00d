"""The feedback service's commands: what someone asks the service to do, as frozen objects.

A route (or a reaction, or the scheduler) builds one and hands it to its handler with a unit of
work; the command's class name labels it in the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fourlinks_contracts.feedback import Resolved, Satisfaction
from fourlinks_feedback.domain.feedback import CallbackTimes, NewFeedback
from fourlinks_kernel.envelope import Actor


@dataclass(frozen=True)
class SubmitFeedback:
    """A resident, an enterprise contact or a member on someone's behalf raises feedback."""

    actor: Actor
    new: NewFeedback
    member_id: str | None
    now: datetime
    timezone: str = "Asia/Shanghai"  # the district's: the reference carries the resident's own day


@dataclass(frozen=True)
class RouteFeedback:
    """A secretary turns an opinion or question into a task."""

    actor: Actor
    feedback_id: str
    org_unit: str


@dataclass(frozen=True)
class AnswerFeedback:
    """A secretary answers an opinion, praise or question and closes it."""

    actor: Actor
    feedback_id: str
    org_unit: str
    text: str


@dataclass(frozen=True)
class MarkDuplicate:
    """A secretary closes an opinion, praise or question as a duplicate of another item."""

    actor: Actor
    feedback_id: str
    org_unit: str
    duplicate_of: str


@dataclass(frozen=True)
class RecordCallback:
    """The resident's answer to a call-back (accepted from the moment the task closed)."""

    actor: Actor
    feedback_id: str
    org_unit: str
    resolved: Resolved
    satisfaction: Satisfaction
    comment: str
    now: datetime
    times: CallbackTimes
    task_closed_at: datetime | None = None


@dataclass(frozen=True)
class MarkNotReached:
    """Staff called and nobody answered: the call-back is given up as not reached."""

    actor: Actor
    feedback_id: str
    org_unit: str


@dataclass(frozen=True)
class ScheduleCallback:
    """The feedback's task closed: its call-back is due after the delay."""

    feedback_id: str
    closed_at: datetime
    times: CallbackTimes


@dataclass(frozen=True)
class NoteCallbackTime:
    """The scheduler's step: a call-back past its answer time is not reached."""

    feedback_id: str
    now: datetime


@dataclass(frozen=True)
class RateMember:
    """A household rates its contact member once per period."""

    actor: Actor
    household_id: str
    member_id: str | None
    card_id: str | None
    period: str
    score: int
    comment: str
