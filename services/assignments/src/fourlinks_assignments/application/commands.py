"""The assignments service's commands: what someone (or a reaction, or the scheduler) asks of a
task or a themed party day, as frozen objects. A handler takes the command and a unit of work;
the command's class name labels it in the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask
from fourlinks_contracts.assignments import CloseReason, RejectionReason, ResolutionResult
from fourlinks_contracts.photos import PhotoInfo
from fourlinks_kernel.envelope import Actor


@dataclass(frozen=True)
class RaiseTask:
    """A task raised by hand (an administrator, a secretary, an inspection, a party day)."""

    actor: Actor
    new: NewTask


@dataclass(frozen=True)
class RaiseAndHandOut:
    """A task that needs no triage: raised, accepted and assigned to the contact's member at once."""

    actor: Actor
    new: NewTask
    now: datetime
    policy: DeadlinePolicy
    fallback_member: str | None = None


@dataclass(frozen=True)
class TriageTask:
    """Accept a raised task; its deadline starts."""

    actor: Actor
    task_id: str
    now: datetime
    policy: DeadlinePolicy


@dataclass(frozen=True)
class RejectTask:
    """Refuse a raised task with a reason code."""

    actor: Actor
    task_id: str
    reason: RejectionReason
    duplicate_of: str | None
    responsible_party: str | None
    note: str


@dataclass(frozen=True)
class AssignTask:
    """Assign to a member (none named: the contact's card member), with helpers of their team."""

    actor: Actor
    task_id: str
    member_id: str | None
    helpers: list[str] = field(default_factory=list)
    party_day_id: str | None = None


@dataclass(frozen=True)
class AcceptTask:
    """The assignee takes the task on."""

    actor: Actor
    task_id: str


@dataclass(frozen=True)
class ReturnTask:
    """The assignee returns the task with a reason."""

    actor: Actor
    task_id: str
    reason: str


@dataclass(frozen=True)
class ReportProgress:
    """The assignee reports a step of the work."""

    actor: Actor
    task_id: str
    note: str
    photos: tuple[PhotoInfo, ...] = ()


@dataclass(frozen=True)
class ReportResolution:
    """The assignee reports what was done and its result."""

    actor: Actor
    task_id: str
    summary: str
    result: ResolutionResult
    evidence: list[str] = field(default_factory=list)
    photos: tuple[PhotoInfo, ...] = ()


@dataclass(frozen=True)
class SpotCheck:
    """An inspector in scope, who did not do the work, checks it."""

    actor: Actor
    task_id: str
    passed: bool
    note: str
    photos: tuple[PhotoInfo, ...] = ()


@dataclass(frozen=True)
class ReassignTask:
    """Give the task to another member."""

    actor: Actor
    task_id: str
    member_id: str
    helpers: list[str]
    reason: str


@dataclass(frozen=True)
class RequestExtension:
    """The assignee (or a secretary) asks for more time, before the deadline."""

    actor: Actor
    task_id: str
    new_due_at: datetime
    reason: str
    now: datetime


@dataclass(frozen=True)
class DecideExtension:
    """A secretary approves or refuses the waiting extension request."""

    actor: Actor
    task_id: str
    approve: bool
    reason: str


@dataclass(frozen=True)
class EscalateTask:
    """One level up."""

    actor: Actor
    task_id: str
    reason: str


@dataclass(frozen=True)
class PushDownTask:
    """Back down to a lower unit with guidance."""

    actor: Actor
    task_id: str
    to_unit: str
    guidance: str


@dataclass(frozen=True)
class ParkTask:
    """Set the task aside with a reason."""

    actor: Actor
    task_id: str
    reason: str


@dataclass(frozen=True)
class UnparkTask:
    """Take a parked task up again."""

    actor: Actor
    task_id: str
    note: str


@dataclass(frozen=True)
class CloseTask:
    """Close the task (销号)."""

    actor: Actor
    task_id: str
    reason: CloseReason
    note: str
    now: datetime
    responsible_party: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class ReopenTask:
    """Reopen a closed task, back to its assignee (a secretary, or a resident's correction)."""

    actor: Actor
    task_id: str
    reason: str
    correction_ref: str | None = None


@dataclass(frozen=True)
class NoteDeadline:
    """The scheduler's step for one task: a reminder or a miss, each once."""

    task_id: str
    now: datetime
    policy: DeadlinePolicy


@dataclass(frozen=True)
class FlagForReassignment:
    """The assignee was deactivated: flag the open task, with a suggested member."""

    task_id: str
    member_id: str
    suggested: str | None


@dataclass(frozen=True)
class HoldPartyDay:
    """A community's themed party day and its agenda."""

    actor: Actor
    community: str
    held_on: date
    agenda: list[str]
