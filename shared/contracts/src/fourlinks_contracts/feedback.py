"""Events of the feedback context: residents' voice, call-backs, satisfaction, corrections.

Descriptions, answers and comments are sealed with the key of the household or enterprise they
come from (`data_subject`), so erasing that contact makes them unreadable everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar

from fourlinks_contracts.members import Urgency
from fourlinks_contracts.photos import PhotoInfo, with_no_photos
from fourlinks_contracts.visibility import as_neither_confidential_nor_anonymous
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.instants import Instant

CONTEXT = "feedback"
DEFAULT_CALLBACK_DELAY_HOURS = 24.0
"""The call-back (回访) after a task's closure."""
DEFAULT_CALLBACK_ANSWER_HOURS = 72.0
"""A call-back nobody answers by then is recorded as not reached."""
DEFAULT_FOLLOW_UP_DAYS = 28.0
"""The second call-back: did it stay fixed?"""


class Channel(StrEnum):
    """How the feedback reached us: the first three are taken down by staff, the others come from
    the resident (the web pages signed in, the texted sign-in link, a service card's QR code)."""

    VISIT = "visit"
    PHONE = "phone"
    PARTY_DAY = "party_day"
    WEB = "web"
    SIGN_IN_LINK = "sign_in_link"
    CARD_QR = "card_qr"


STAFF_CHANNELS = frozenset({Channel.VISIT, Channel.PHONE, Channel.PARTY_DAY})
"""The channels of feedback a member or secretary takes down for a household."""


class FeedbackKind(StrEnum):
    """A problem needs action (a task); the others can be answered and closed directly."""

    PROBLEM = "problem"
    OPINION = "opinion"
    PRAISE = "praise"
    QUESTION = "question"


class Resolved(StrEnum):
    """The resident's answer to "is it resolved?"."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"


class Satisfaction(StrEnum):
    """The resident's satisfaction with the outcome."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class CallbackKind(StrEnum):
    """The call-back the day after closure, and the follow-up weeks later ("did it stay fixed?")."""

    FIRST = "first"
    FOLLOW_UP = "follow_up"


class FeedbackEvent(DomainEvent):
    """Base of every event of a feedback item: each names the item it belongs to."""

    feedback_id: str


class FeedbackSubmitted(FeedbackEvent):
    """A resident, an enterprise contact or a member on their behalf raised something."""

    event_type: ClassVar[str] = "FeedbackSubmitted"
    # 2: the photos sent with it (none before); 3: whether the resident asked to be told of progress;
    # 4: whether nobody vouched for the reporter (a card's QR code, no phone confirmed) and whether
    # they asked their member to call them back
    schema_version: ClassVar[int] = 4
    personal_fields: ClassVar[tuple[str, ...]] = ("description",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    reference: str
    channel: Channel
    kind: FeedbackKind
    category: str
    urgency: Urgency
    org_unit: str
    household_id: str | None
    enterprise_id: str | None
    submitted_by: str
    on_behalf_by_member: str | None
    member_id: str | None
    anonymous: bool
    confidential: bool
    description: str | None
    data_subject: str
    photos: tuple[PhotoInfo, ...] = ()
    notify: bool = False
    unconfirmed: bool = False
    call_back: bool = False


class FeedbackAcknowledged(FeedbackEvent):
    """Feedback was acknowledged; the reference lets the resident follow it."""

    event_type: ClassVar[str] = "FeedbackAcknowledged"
    reference: str
    acknowledged_by: str


class FeedbackRouted(FeedbackEvent):
    """Feedback that needs action becomes a task (the assignments service raises it), with what the
    resident asked of it: the task's readers see its words and household by `visibility`."""

    event_type: ClassVar[str] = "FeedbackRouted"
    schema_version: ClassVar[int] = 2  # 2: confidential and anonymous (neither before)
    personal_fields: ClassVar[tuple[str, ...]] = ("description",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    task_id: str
    category: str
    urgency: Urgency
    org_unit: str
    household_id: str | None
    enterprise_id: str | None
    description: str | None
    data_subject: str
    confidential: bool = False
    anonymous: bool = False


class FeedbackAnswered(FeedbackEvent):
    """An opinion, praise or question was answered and closed directly."""

    event_type: ClassVar[str] = "FeedbackAnswered"
    personal_fields: ClassVar[tuple[str, ...]] = ("answer",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    answered_by: str
    answer: str | None
    data_subject: str


class FeedbackMarkedDuplicate(FeedbackEvent):
    """An opinion, praise or question says again what another item of its unit said: it is closed
    pointing to that item (the original), whose answer answers both."""

    event_type: ClassVar[str] = "FeedbackMarkedDuplicate"
    duplicate_of: str
    original_reference: str
    marked_by: str


class CallbackScheduled(FeedbackEvent):
    """A call-back (回访) is due: after the task closed, or weeks later to ask if it stayed fixed."""

    event_type: ClassVar[str] = "CallbackScheduled"
    schema_version: ClassVar[int] = 2
    task_id: str
    round: int
    kind: CallbackKind
    due_at: Instant
    answer_by: Instant
    # The closure this call-back follows: a closure's reaction that arrives after the resident
    # already answered from it (and perhaps asked for a correction) schedules nothing more.
    task_closed_at: Instant | None = None


class SatisfactionRecorded(FeedbackEvent):
    """The resident answered the call-back."""

    event_type: ClassVar[str] = "SatisfactionRecorded"
    personal_fields: ClassVar[tuple[str, ...]] = ("comment",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    task_id: str
    round: int
    kind: CallbackKind
    resolved: Resolved
    satisfaction: Satisfaction
    comment: str | None
    member_id: str | None
    data_subject: str


class CallbackNotReached(FeedbackEvent):
    """Nobody answered in time: recorded as not reached, never as satisfied."""

    event_type: ClassVar[str] = "CallbackNotReached"
    task_id: str
    round: int
    kind: CallbackKind


class CorrectionRequested(FeedbackEvent):
    """Not resolved or dissatisfied: the task is reopened with the resident's reason (反馈纠偏)."""

    event_type: ClassVar[str] = "CorrectionRequested"
    personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    task_id: str
    round: int
    reason: str | None
    data_subject: str


class FeedbackClosed(FeedbackEvent):
    """The feedback loop ended: satisfied, answered, or the task closed for good."""

    event_type: ClassVar[str] = "FeedbackClosed"
    outcome: str


class MemberRated(DomainEvent):
    """A household rated its contact member's service card (once per period)."""

    event_type: ClassVar[str] = "MemberRated"
    personal_fields: ClassVar[tuple[str, ...]] = ("comment",)
    data_subject_field: ClassVar[str | None] = "household_id"
    rating_id: str
    household_id: str
    member_id: str
    card_id: str | None
    period: str
    score: int
    comment: str | None


def with_no_notice(data: dict[str, Any]) -> dict[str, Any]:
    """Feedback submitted before residents could ask to be told of its progress (nobody asked)."""
    return {**data, "notify": False}


def vouched_for_with_no_call_back(data: dict[str, Any]) -> dict[str, Any]:
    """Feedback submitted before cards had QR codes: its reporter was signed in or taken down by
    staff (vouched for), and nobody could ask for a call-back."""
    return {**data, "unconfirmed": False, "call_back": False}


def with_no_closure_named(data: dict[str, Any]) -> dict[str, Any]:
    """A call-back scheduled before call-backs named the closure they follow."""
    return {**data, "task_closed_at": None}


EVENTS: tuple[type[DomainEvent], ...] = (
    FeedbackSubmitted,
    FeedbackAcknowledged,
    FeedbackRouted,
    FeedbackAnswered,
    FeedbackMarkedDuplicate,
    CallbackScheduled,
    SatisfactionRecorded,
    CallbackNotReached,
    CorrectionRequested,
    FeedbackClosed,
    MemberRated,
)


UPCASTERS: tuple[tuple[str, int, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    ("FeedbackSubmitted", 1, with_no_photos),
    ("FeedbackSubmitted", 2, with_no_notice),
    ("FeedbackSubmitted", 3, vouched_for_with_no_call_back),
    ("CallbackScheduled", 1, with_no_closure_named),
    ("FeedbackRouted", 1, as_neither_confidential_nor_anonymous),
)
