"""Events of the assignments context: the task loop and themed party days.

Raised → triaged (accepted or rejected) → assigned → accepted or returned by the member → worked
(progress, resolution report) → spot-checked (pass, or fail back to rework) → closed; adjusted on
the way (reassigned, deadline extended, escalated or pushed down, parked) and reopened on a
correction. Deadline reminders and misses are events too, written by the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from fourlinks_contracts.members import Urgency
from fourlinks_contracts.photos import PhotoInfo, with_no_photos
from fourlinks_contracts.visibility import as_neither_confidential_nor_anonymous
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.instants import Instant

CONTEXT = "assignments"
DEFAULT_DEADLINE_DAYS = {"urgent": 1, "general": 7, "complex": 15}
"""A task's time limit in natural days per urgency, counted from triage (settings may change it)."""
DEFAULT_REMINDER_FRACTION = 0.2
"""The reminder falls this share of the window before the deadline."""


class TaskSource(StrEnum):
    """Where a task came from."""

    FEEDBACK = "feedback"
    VISIT = "visit"
    PARTY_DAY = "party_day"
    INSPECTION = "inspection"
    ADMINISTRATOR = "administrator"


class RejectionReason(StrEnum):
    """Why triage refused a task."""

    DUPLICATE = "duplicate"
    NOT_OUR_RESPONSIBILITY = "not_our_responsibility"
    NO_ACTION_NEEDED = "no_action_needed"
    INSUFFICIENT_INFORMATION = "insufficient_information"


class ResolutionResult(StrEnum):
    """What the member says the work achieved."""

    RESOLVED = "resolved"
    PARTLY_RESOLVED = "partly_resolved"
    NOT_RESOLVABLE_HERE = "not_resolvable_here"


class CloseReason(StrEnum):
    """Why a task was closed (销号)."""

    RESOLVED = "resolved"
    PARTLY_RESOLVED = "partly_resolved"
    CLOSED_UNRESOLVED = "closed_unresolved"
    DUPLICATE = "duplicate"
    NOT_OUR_RESPONSIBILITY = "not_our_responsibility"


class TaskEvent(DomainEvent):
    """Base of every event of a task: each names the task it belongs to."""

    task_id: str


class TaskRaised(TaskEvent):
    """A problem became a task; the description is sealed with the contact's (or the task's) key.
    A task raised from feedback keeps what the resident asked of it (`visibility` says who reads
    its description and contact)."""

    event_type: ClassVar[str] = "TaskRaised"
    schema_version: ClassVar[int] = 2  # 2: confidential and anonymous (neither before)
    personal_fields: ClassVar[tuple[str, ...]] = ("description",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    source: TaskSource
    source_ref: str | None
    category: str
    urgency: Urgency
    org_unit: str
    household_id: str | None
    enterprise_id: str | None
    description: str | None
    party_day_id: str | None
    data_subject: str
    confidential: bool = False
    anonymous: bool = False


class TaskTriaged(TaskEvent):
    """Triage accepted the task; its deadline runs from now."""

    event_type: ClassVar[str] = "TaskTriaged"
    triaged_at: Instant
    due_at: Instant


class TaskRejected(TaskEvent):
    """Triage refused the task, with a reason code."""

    event_type: ClassVar[str] = "TaskRejected"
    reason: RejectionReason
    duplicate_of: str | None
    responsible_party: str | None
    note: str


class TaskAssigned(TaskEvent):
    """The task went to a member (by default the contact's card member), with optional helpers."""

    event_type: ClassVar[str] = "TaskAssigned"
    member_id: str
    helpers: list[str]
    party_day_id: str | None
    by_default: bool


class TaskAccepted(TaskEvent):
    """The member took the task on."""

    event_type: ClassVar[str] = "TaskAccepted"
    member_id: str


class TaskReturned(TaskEvent):
    """The member handed the task back, with a reason; it waits for a new assignee."""

    event_type: ClassVar[str] = "TaskReturned"
    member_id: str
    reason: str


class ProgressReported(TaskEvent):
    """A step of the work."""

    event_type: ClassVar[str] = "ProgressReported"
    schema_version: ClassVar[int] = 2  # 2: photos
    member_id: str
    note: str
    photos: tuple[PhotoInfo, ...] = ()


class ResolutionReported(TaskEvent):
    """The member reports the work done and its result, with evidence references."""

    event_type: ClassVar[str] = "ResolutionReported"
    schema_version: ClassVar[int] = 2  # 2: photos
    member_id: str
    summary: str
    result: ResolutionResult
    evidence: list[str]
    photos: tuple[PhotoInfo, ...] = ()


class SpotCheckPassed(TaskEvent):
    """An inspector (not the assignee) confirmed the work; the task is ready to close."""

    event_type: ClassVar[str] = "SpotCheckPassed"
    schema_version: ClassVar[int] = 2  # 2: photos
    inspector_id: str
    note: str
    photos: tuple[PhotoInfo, ...] = ()


class SpotCheckFailed(TaskEvent):
    """An inspector found the work wanting: back to the member for rework (反馈纠偏)."""

    event_type: ClassVar[str] = "SpotCheckFailed"
    schema_version: ClassVar[int] = 2  # 2: photos
    inspector_id: str
    reason: str
    rework_count: int
    photos: tuple[PhotoInfo, ...] = ()


class TaskReassigned(TaskEvent):
    """The task moved to another member (任务调整)."""

    event_type: ClassVar[str] = "TaskReassigned"
    from_member: str | None
    to_member: str
    helpers: list[str]
    reason: str


class DeadlineExtensionRequested(TaskEvent):
    """Someone asked for more time, before the deadline."""

    event_type: ClassVar[str] = "DeadlineExtensionRequested"
    requested_by: str
    new_due_at: Instant
    reason: str


class DeadlineExtended(TaskEvent):
    """A secretary approved the extension; the reason is kept."""

    event_type: ClassVar[str] = "DeadlineExtended"
    approved_by: str
    previous_due_at: Instant
    new_due_at: Instant
    reason: str


class DeadlineExtensionRefused(TaskEvent):
    """A secretary refused the extension."""

    event_type: ClassVar[str] = "DeadlineExtensionRefused"
    refused_by: str
    reason: str


class TaskEscalated(TaskEvent):
    """The task went one level up (building → community → street → district)."""

    event_type: ClassVar[str] = "TaskEscalated"
    from_unit: str
    to_unit: str
    reason: str


class TaskPushedDown(TaskEvent):
    """The task went back down to a lower unit, with guidance."""

    event_type: ClassVar[str] = "TaskPushedDown"
    from_unit: str
    to_unit: str
    guidance: str


class TaskParked(TaskEvent):
    """The task waits (挂账) for a stated reason; its clock keeps its deadline."""

    event_type: ClassVar[str] = "TaskParked"
    reason: str


class TaskUnparked(TaskEvent):
    """The task left the parking lot."""

    event_type: ClassVar[str] = "TaskUnparked"
    note: str


class TaskClosed(TaskEvent):
    """The task was closed (销号), never by its assignee."""

    event_type: ClassVar[str] = "TaskClosed"
    closed_by: str
    reason: CloseReason
    note: str
    responsible_party: str | None
    duplicate_of: str | None
    assignee: str | None
    on_time: bool
    escalated: bool


class TaskReopened(TaskEvent):
    """A correction (or a secretary) reopened the task, back to its assignee with the reason. A
    correction's reason is the resident's own words (what they said at a dissatisfied call-back):
    it is sealed with the key of the task's contact (`data_subject`), as the task's description is,
    and reads None once that contact is erased (`visibility` says who reads it). A secretary's
    reason is theirs and names no data subject: it is kept in clear, like a closing note."""

    event_type: ClassVar[str] = "TaskReopened"
    schema_version: ClassVar[int] = 2  # 2: a correction's reason sealed (every reason in clear before)
    personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
    data_subject_field: ClassVar[str | None] = "data_subject"
    reason: str | None
    correction_ref: str | None
    assignee: str | None
    data_subject: str | None


class DeadlineApproaching(TaskEvent):
    """The scheduler's reminder before the deadline."""

    event_type: ClassVar[str] = "DeadlineApproaching"
    due_at: Instant
    assignee: str | None


class DeadlineMissed(TaskEvent):
    """The deadline passed with the task still open."""

    event_type: ClassVar[str] = "DeadlineMissed"
    due_at: Instant
    assignee: str | None


class TaskFlaggedForReassignment(TaskEvent):
    """The assignee was deactivated: the task needs a new member (one is suggested where known)."""

    event_type: ClassVar[str] = "TaskFlaggedForReassignment"
    member_id: str
    suggested_member_id: str | None
    reason: str


class ThemedPartyDayHeld(DomainEvent):
    """A themed party day (主题党日) session of a community, with its agenda."""

    event_type: ClassVar[str] = "ThemedPartyDayHeld"
    session_id: str
    community: str
    held_on: date
    agenda: list[str]


EVENTS: tuple[type[DomainEvent], ...] = (
    TaskRaised,
    TaskTriaged,
    TaskRejected,
    TaskAssigned,
    TaskAccepted,
    TaskReturned,
    ProgressReported,
    ResolutionReported,
    SpotCheckPassed,
    SpotCheckFailed,
    TaskReassigned,
    DeadlineExtensionRequested,
    DeadlineExtended,
    DeadlineExtensionRefused,
    TaskEscalated,
    TaskPushedDown,
    TaskParked,
    TaskUnparked,
    TaskClosed,
    TaskReopened,
    DeadlineApproaching,
    DeadlineMissed,
    TaskFlaggedForReassignment,
    ThemedPartyDayHeld,
)


# -- the task lifecycle, written once: the task aggregate, the assignments read model and the
# -- feedback read model all move a task's state with these, so they never disagree.
class TaskState(StrEnum):
    """Where a task is in the loop."""

    RAISED = "raised"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    AWAITING_CHECK = "awaiting_check"
    READY_TO_CLOSE = "ready_to_close"
    PARKED = "parked"
    CLOSED = "closed"


OPEN_TASK_STATES = frozenset(
    {
        TaskState.ACCEPTED,
        TaskState.ASSIGNED,
        TaskState.IN_PROGRESS,
        TaskState.AWAITING_CHECK,
        TaskState.READY_TO_CLOSE,
        TaskState.PARKED,
    }
)


class Resume(StrEnum):
    """A transition whose target is the state the task was parked from (accepted if unknown)."""

    PARKED_FROM = "parked_from"


_TASK_STATE_AFTER: dict[str, TaskState] = {
    TaskRaised.event_type: TaskState.RAISED,
    TaskTriaged.event_type: TaskState.ACCEPTED,
    TaskRejected.event_type: TaskState.REJECTED,
    TaskAssigned.event_type: TaskState.ASSIGNED,
    TaskReassigned.event_type: TaskState.ASSIGNED,
    TaskAccepted.event_type: TaskState.IN_PROGRESS,
    TaskReturned.event_type: TaskState.ACCEPTED,
    ResolutionReported.event_type: TaskState.AWAITING_CHECK,
    SpotCheckPassed.event_type: TaskState.READY_TO_CLOSE,
    SpotCheckFailed.event_type: TaskState.IN_PROGRESS,
    TaskClosed.event_type: TaskState.CLOSED,
    TaskParked.event_type: TaskState.PARKED,
}
TASK_LIFECYCLE_EVENTS = frozenset({*_TASK_STATE_AFTER, TaskReopened.event_type, TaskUnparked.event_type})
"""Every event type that moves a task's state; the others leave it where it is."""


def task_state_after(event: DomainEvent) -> TaskState | Resume | None:
    """The state a task event leads to, `Resume.PARKED_FROM` for an unpark, None if it stays.

    A parking event asks the reader to remember the state it parks from."""
    if isinstance(event, TaskReopened):  # back to its assignee, or to the queue when it has none
        return TaskState.IN_PROGRESS if event.assignee else TaskState.ACCEPTED
    if isinstance(event, TaskUnparked):
        return Resume.PARKED_FROM
    return _TASK_STATE_AFTER.get(event.event_type)


def resumed_state(parked_from: str | None) -> TaskState:
    """Where an unparked task goes: the state it was parked from (accepted if unknown)."""
    return TaskState(parked_from) if parked_from else TaskState.ACCEPTED


def with_its_reason_in_clear(data: dict[str, Any]) -> dict[str, Any]:
    """A reopening recorded before reasons were sealed: its reason stays as it was written (in
    clear in the log), with no data subject to seal it under."""
    return {**data, "data_subject": None}


UPCASTERS: tuple[tuple[str, int, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    *(
        (event_type, 1, with_no_photos)
        for event_type in ("ProgressReported", "ResolutionReported", "SpotCheckPassed", "SpotCheckFailed")
    ),
    ("TaskRaised", 1, as_neither_confidential_nor_anonymous),
    ("TaskReopened", 1, with_its_reason_in_clear),
)
