"""A resident's feedback: acknowledged, routed to a task or answered, called back, corrected.

Every round of correction is kept: round 1 is the first task closure's call-back; a "not resolved"
or "dissatisfied" answer requests a correction and opens round 2, and so on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from fourlinks_contracts.feedback import (
    CONTEXT,
    DEFAULT_CALLBACK_ANSWER_HOURS,
    DEFAULT_CALLBACK_DELAY_HOURS,
    DEFAULT_FOLLOW_UP_DAYS,
    CallbackKind,
    CallbackNotReached,
    CallbackScheduled,
    Channel,
    CorrectionRequested,
    FeedbackAcknowledged,
    FeedbackAnswered,
    FeedbackClosed,
    FeedbackKind,
    FeedbackMarkedDuplicate,
    FeedbackRouted,
    FeedbackSubmitted,
    Resolved,
    Satisfaction,
    SatisfactionRecorded,
)
from fourlinks_contracts.members import Urgency, community_or_above
from fourlinks_contracts.photos import PhotoInfo
from fourlinks_contracts.refusals import (
    COMMENT_TOO_LONG,
    DUPLICATE_OF_ITSELF_FEEDBACK,
    FEEDBACK_NOT_IN_STATE,
    NO_CALLBACK_DUE,
    ORIGINAL_FEEDBACK_UNKNOWN,
    PROBLEM_IS_A_TASK,
)
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict, UnknownEventType
from fourlinks_kernel.events import DomainEvent

_TASKS = uuid.UUID("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b")


def task_id_for(feedback_id: str) -> str:
    """The task a feedback item becomes: known to both services from the routing event."""
    return str(uuid.uuid5(_TASKS, feedback_id))


class FeedbackState(StrEnum):
    """Where the feedback is."""

    SUBMITTED = "submitted"
    ROUTED = "routed"
    CALLBACK_DUE = "callback_due"
    CORRECTION = "correction"
    FOLLOW_UP_DUE = "follow_up_due"
    NOT_REACHED = "not_reached"
    CLOSED = "closed"


@dataclass(frozen=True)
class CallbackTimes:
    """When call-backs happen: after closure, how long an answer may take, the follow-up."""

    delay: timedelta = timedelta(hours=DEFAULT_CALLBACK_DELAY_HOURS)
    answer_window: timedelta = timedelta(hours=DEFAULT_CALLBACK_ANSWER_HOURS)
    follow_up: timedelta = timedelta(days=DEFAULT_FOLLOW_UP_DAYS)


@dataclass(frozen=True)
class NewFeedback:
    """What the submitter says, and about whom."""

    feedback_id: str
    channel: Channel
    kind: FeedbackKind
    category: str
    urgency: Urgency
    org_unit: str
    household_id: str | None
    enterprise_id: str | None
    description: str
    anonymous: bool = False
    confidential: bool = False
    photos: tuple[PhotoInfo, ...] = ()
    notify: bool = False
    unconfirmed: bool = False
    call_back: bool = False


class Feedback(Aggregate):
    """One feedback item and its loop."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "feedback"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.state = FeedbackState.SUBMITTED
        self.kind = FeedbackKind.PROBLEM
        self.reference = ""
        self.data_subject = ""
        self.member_id: str | None = None
        self.task_id: str | None = None
        self.round = 1
        self.callback: tuple[int, CallbackKind, datetime] | None = None  # round, kind, answer_by
        self.closure_followed: datetime | None = None  # the task's closure the last call-back follows
        self.submitted: FeedbackSubmitted | None = None

    def submit(
        self,
        new: NewFeedback,
        *,
        reference: str,
        by: str,
        on_behalf_of_member: str | None,
        member_id: str | None,
    ) -> None:
        """Record and acknowledge; a problem is routed to a task in the same step. Personal fields
        are sealed with the household's (or enterprise contact's) key."""
        if self.exists:
            raise StateConflict(f"feedback {self.id} already exists")
        submitted = FeedbackSubmitted(
            feedback_id=new.feedback_id,
            reference=reference,
            channel=new.channel,
            kind=new.kind,
            category=new.category,
            urgency=new.urgency,
            org_unit=new.org_unit,
            household_id=new.household_id,
            enterprise_id=new.enterprise_id,
            submitted_by=by,
            on_behalf_by_member=on_behalf_of_member,
            member_id=member_id,
            anonymous=new.anonymous,
            confidential=new.confidential,
            description=new.description,
            data_subject=new.household_id or new.enterprise_id or new.feedback_id,
            photos=new.photos,
            notify=new.notify,
            unconfirmed=new.unconfirmed,
            call_back=new.call_back,
        )
        self._record(submitted)
        self._record(
            FeedbackAcknowledged(feedback_id=self.id, reference=submitted.reference, acknowledged_by=by)
        )
        if submitted.kind == FeedbackKind.PROBLEM:
            self._route(submitted)

    def route(self) -> None:
        """Turn an opinion or question that turns out to need action into a task."""
        self._require(FeedbackState.SUBMITTED)
        assert self.submitted is not None
        self._route(self.submitted)

    def answer(self, *, by: str, answer: str) -> None:
        """Answer an opinion, praise or question and close it."""
        self._require(FeedbackState.SUBMITTED)
        if self.kind == FeedbackKind.PROBLEM:
            raise StateConflict("a problem is worked as a task, not answered directly", PROBLEM_IS_A_TASK)
        self._record(
            FeedbackAnswered(
                feedback_id=self.id, answered_by=by, answer=answer, data_subject=self.data_subject
            )
        )
        self._record(FeedbackClosed(feedback_id=self.id, outcome="answered"))

    def mark_duplicate(self, *, original: Feedback, by: str) -> None:
        """An opinion, praise or question another item of its community already raised: closed,
        pointing to that item (whose answer answers both)."""
        self._require(FeedbackState.SUBMITTED)
        if original.id == self.id:
            raise InvalidCommand("a feedback item cannot duplicate itself", DUPLICATE_OF_ITSELF_FEEDBACK)
        if original.submitted is None or original.community != self.community:
            raise InvalidCommand(
                f"feedback {original.id} is not an item of this community", ORIGINAL_FEEDBACK_UNKNOWN
            )
        self._record(
            FeedbackMarkedDuplicate(
                feedback_id=self.id,
                duplicate_of=original.id,
                original_reference=original.reference,
                marked_by=by,
            )
        )
        self._record(FeedbackClosed(feedback_id=self.id, outcome="duplicate"))

    @property
    def community(self) -> str | None:
        """The community (or the unit above one) the item was submitted in."""
        return None if self.submitted is None else community_or_above(self.submitted.org_unit)

    def task_closed(self, *, closed_at: datetime, times: CallbackTimes) -> None:
        """Its task closed: schedule the call-back (回访), the day after by default.

        A closure already followed (the resident answered before the closure's reaction ran, and
        perhaps asked for a correction that reopened the task) schedules nothing again."""
        if self.state not in (FeedbackState.ROUTED, FeedbackState.CORRECTION) or self.task_id is None:
            return
        if self.closure_followed is not None and closed_at <= self.closure_followed:
            return
        self._schedule(CallbackKind.FIRST, closed_at + times.delay, times, closed_at=closed_at)

    def record_answer(
        self,
        *,
        resolved: Resolved,
        satisfaction: Satisfaction,
        comment: str,
        now: datetime,
        times: CallbackTimes,
    ) -> None:
        """The resident's answer; "no" or "dissatisfied" requests a correction (反馈纠偏)."""
        if self.callback is None:
            raise StateConflict("no call-back is due: call-backs follow the task's closure", NO_CALLBACK_DUE)
        round_, kind, _ = self.callback
        assert self.task_id is not None
        self._record(
            SatisfactionRecorded(
                feedback_id=self.id,
                task_id=self.task_id,
                round=round_,
                kind=kind,
                resolved=resolved,
                satisfaction=satisfaction,
                comment=comment or None,
                member_id=self.member_id,
                data_subject=self.data_subject,
            )
        )
        if resolved == Resolved.NO or satisfaction == Satisfaction.DISSATISFIED:
            self._record(
                CorrectionRequested(
                    feedback_id=self.id,
                    task_id=self.task_id,
                    round=round_ + 1,
                    reason=comment or None,
                    data_subject=self.data_subject,
                )
            )
        elif kind == CallbackKind.FIRST:
            self._schedule(
                CallbackKind.FOLLOW_UP, now + times.follow_up, times, closed_at=self.closure_followed
            )
        else:
            self._record(FeedbackClosed(feedback_id=self.id, outcome="stayed fixed"))

    def note_time(self, *, now: datetime) -> None:
        """A call-back nobody answered in time is recorded as not reached, never as satisfied."""
        if self.callback is None or self.task_id is None:
            return
        round_, kind, answer_by = self.callback
        if now >= answer_by:
            self._record(
                CallbackNotReached(feedback_id=self.id, task_id=self.task_id, round=round_, kind=kind)
            )

    def not_reached(self) -> None:
        """Staff tried and nobody answered: the call-back counts as not reached, in no rate."""
        if self.callback is None or self.task_id is None:
            raise StateConflict("no call-back is due: call-backs follow the task's closure", NO_CALLBACK_DUE)
        round_, kind, _ = self.callback
        self._record(CallbackNotReached(feedback_id=self.id, task_id=self.task_id, round=round_, kind=kind))

    def _route(self, submitted: FeedbackSubmitted) -> None:
        self._record(
            FeedbackRouted(
                feedback_id=self.id,
                task_id=task_id_for(self.id),
                category=submitted.category,
                urgency=submitted.urgency,
                org_unit=submitted.org_unit,
                household_id=submitted.household_id,
                enterprise_id=submitted.enterprise_id,
                description=submitted.description,
                data_subject=submitted.data_subject,
                confidential=submitted.confidential,
                anonymous=submitted.anonymous,
            )
        )

    def _schedule(
        self, kind: CallbackKind, due_at: datetime, times: CallbackTimes, *, closed_at: datetime | None
    ) -> None:
        assert self.task_id is not None
        self._record(
            CallbackScheduled(
                feedback_id=self.id,
                task_id=self.task_id,
                round=self.round,
                kind=kind,
                due_at=due_at,
                answer_by=due_at + times.answer_window,
                task_closed_at=closed_at,
            )
        )

    def _require(self, *states: FeedbackState) -> None:
        if not self.exists:
            raise NotFound(f"feedback {self.id} does not exist")
        if self.state not in states:
            raise StateConflict(
                f"feedback {self.id} is {self.state.value}", FEEDBACK_NOT_IN_STATE, state=self.state.value
            )

    def apply(self, event: DomainEvent) -> None:
        match event:
            case FeedbackSubmitted():
                self.submitted = event
                self.kind, self.reference, self.data_subject = event.kind, event.reference, event.data_subject
                self.member_id = event.member_id
            case FeedbackRouted():
                self.state, self.task_id = FeedbackState.ROUTED, event.task_id
            case FeedbackClosed():
                self.state, self.callback = FeedbackState.CLOSED, None
            case CallbackScheduled():
                self.callback = (event.round, event.kind, event.answer_by)
                self.closure_followed = event.task_closed_at or self.closure_followed
                follow = event.kind == CallbackKind.FOLLOW_UP
                self.state = FeedbackState.FOLLOW_UP_DUE if follow else FeedbackState.CALLBACK_DUE
            case SatisfactionRecorded():
                self.callback = None
            case CorrectionRequested():
                self.state, self.round = FeedbackState.CORRECTION, event.round
            case CallbackNotReached():
                self.state, self.callback = FeedbackState.NOT_REACHED, None
            case FeedbackAcknowledged() | FeedbackAnswered() | FeedbackMarkedDuplicate():
                pass
            case _:
                raise UnknownEventType(f"a feedback item does not know how to apply {event.event_type}")


def check_comment(comment: str) -> str:
    """Comments are optional but bounded."""
    if len(comment) > 2000:
        raise InvalidCommand("a comment has at most 2,000 characters", COMMENT_TOO_LONG, limit=2000)
    return comment
