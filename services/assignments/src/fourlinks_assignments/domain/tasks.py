"""The task: handed out, worked, spot-checked, corrected, adjusted, closed (and reopened).

Every method takes the moment it happens (`now`) from the caller, so deadlines are decided from
explicit time: a test drives the clock instead of sleeping, and replay never consults a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from fourlinks_contracts.assignments import (
    CONTEXT,
    DEFAULT_DEADLINE_DAYS,
    DEFAULT_REMINDER_FRACTION,
    OPEN_TASK_STATES,
    CloseReason,
    DeadlineApproaching,
    DeadlineExtended,
    DeadlineExtensionRefused,
    DeadlineExtensionRequested,
    DeadlineMissed,
    ProgressReported,
    RejectionReason,
    ResolutionReported,
    ResolutionResult,
    Resume,
    SpotCheckFailed,
    SpotCheckPassed,
    TaskAccepted,
    TaskAssigned,
    TaskClosed,
    TaskEscalated,
    TaskFlaggedForReassignment,
    TaskParked,
    TaskPushedDown,
    TaskRaised,
    TaskReassigned,
    TaskRejected,
    TaskReopened,
    TaskReturned,
    TaskSource,
    TaskState,
    TaskTriaged,
    TaskUnparked,
    resumed_state,
    task_state_after,
)
from fourlinks_contracts.members import Urgency
from fourlinks_contracts.photos import PhotoInfo
from fourlinks_contracts.refusals import (
    ALREADY_ASSIGNED_TO,
    ALREADY_AT_TOP,
    ASSIGNEE_ONLY,
    CLOSE_NOTE_NEEDED,
    DEADLINE_NOT_LATER,
    DEADLINE_PASSED,
    DUPLICATE_OF_ITSELF,
    DUPLICATE_OF_NEEDED,
    EXTENSION_PENDING,
    NO_EXTENSION_PENDING,
    RESPONSIBLE_PARTY_NEEDED,
    SEPARATION_OF_DUTIES,
    TASK_NOT_IN_STATE,
    TASK_NOT_TRIAGED,
    UNIT_NOT_BELOW,
)
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound, StateConflict, UnknownEventType
from fourlinks_kernel.events import DomainEvent

OPEN = OPEN_TASK_STATES
DeadlineStanding = Literal["overdue", "approaching"]
"""Where an open task stands against its deadline (`DeadlinePolicy.standing`)."""
WORK_DONE = frozenset({CloseReason.RESOLVED, CloseReason.PARTLY_RESOLVED, CloseReason.CLOSED_UNRESOLVED})


@dataclass(frozen=True)
class DeadlinePolicy:
    """Time limits in natural days per urgency, optionally per category; reminders before them."""

    days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    reminder_fraction: float = DEFAULT_REMINDER_FRACTION

    def limit(self, category: str, urgency: Urgency) -> timedelta:
        """The time allowed for a task of this category and urgency."""
        days = self.days.get(f"{category}/{urgency}", self.days.get(urgency.value, 7))
        return timedelta(days=days)

    def reminder_at(self, triaged_at: datetime, due_at: datetime) -> datetime:
        """When the pre-deadline reminder falls."""
        return due_at - (due_at - triaged_at) * self.reminder_fraction

    def standing(self, *, triaged_at: datetime, due_at: datetime, now: datetime) -> DeadlineStanding | None:
        """Where an open task stands at `now`: overdue once its deadline has come, approaching once
        its reminder has fallen, else neither (what the scheduler records, and pages flag)."""
        if now >= due_at:
            return "overdue"
        return "approaching" if now >= self.reminder_at(triaged_at, due_at) else None


@dataclass(frozen=True)
class NewTask:
    """What a new task records."""

    task_id: str
    source: TaskSource
    source_ref: str | None
    category: str
    urgency: Urgency
    org_unit: str
    household_id: str | None = None
    enterprise_id: str | None = None
    description: str = ""
    party_day_id: str | None = None
    confidential: bool = False
    anonymous: bool = False


class Task(Aggregate):
    """One problem, from raising to closing."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "task"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.state = TaskState.RAISED
        self.parked_from: TaskState | None = None
        self.org_unit = ""
        self.category = ""
        self.urgency = Urgency.GENERAL
        self.household_id: str | None = None
        self.enterprise_id: str | None = None
        self.data_subject: str | None = None  # whose key seals what the task says of its contact
        self.assignee: str | None = None
        self.helpers: list[str] = []
        self.triaged_at: datetime | None = None
        self.due_at: datetime | None = None
        self.pending_extension: datetime | None = None
        self.reminded_for: datetime | None = None
        self.missed_for: datetime | None = None
        self.rework_count = 0
        self.escalated = False

    # -- raising and triage ------------------------------------------------------------------
    def raise_(self, new: NewTask) -> None:
        """Record a new task (from feedback, a visit, a party day, an inspection, an administrator);
        the description is sealed with the contact's key (the task's own without a contact), and
        feedback's confidential and anonymous wishes go with it."""
        if self.exists:
            raise StateConflict(f"task {self.id} already exists")
        self._record(
            TaskRaised(
                task_id=new.task_id,
                source=new.source,
                source_ref=new.source_ref,
                category=new.category,
                urgency=new.urgency,
                org_unit=new.org_unit,
                household_id=new.household_id,
                enterprise_id=new.enterprise_id,
                description=new.description,
                party_day_id=new.party_day_id,
                data_subject=new.household_id or new.enterprise_id or new.task_id,
                confidential=new.confidential,
                anonymous=new.anonymous,
            )
        )

    def triage(self, *, now: datetime, policy: DeadlinePolicy) -> None:
        """Accept the task; its deadline runs from now."""
        self._require(TaskState.RAISED)
        due_at = now + policy.limit(self.category, self.urgency)
        self._record(TaskTriaged(task_id=self.id, triaged_at=now, due_at=due_at))

    def reject(
        self, *, reason: RejectionReason, duplicate_of: str | None, responsible_party: str | None, note: str
    ) -> None:
        """Refuse the task with a reason code (and what it duplicates, or whose it is)."""
        self._require(TaskState.RAISED)
        if reason == RejectionReason.DUPLICATE and not duplicate_of:
            raise InvalidCommand(
                "a duplicate needs the task it duplicates (duplicate_of)", DUPLICATE_OF_NEEDED
            )
        if reason == RejectionReason.NOT_OUR_RESPONSIBILITY and not responsible_party:
            raise InvalidCommand(
                "say whose responsibility it is (responsible_party)", RESPONSIBLE_PARTY_NEEDED
            )
        if duplicate_of == self.id:
            raise InvalidCommand("a task cannot duplicate itself", DUPLICATE_OF_ITSELF)
        self._record(
            TaskRejected(
                task_id=self.id,
                reason=reason,
                duplicate_of=duplicate_of,
                responsible_party=responsible_party,
                note=note,
            )
        )

    # -- assignment and work -------------------------------------------------------------------
    def assign(
        self, *, member_id: str, helpers: list[str], party_day_id: str | None, by_default: bool
    ) -> None:
        """Hand the task to a member, with optional helpers from their team."""
        self._require(TaskState.ACCEPTED)
        self._record(
            TaskAssigned(
                task_id=self.id,
                member_id=member_id,
                helpers=helpers,
                party_day_id=party_day_id,
                by_default=by_default,
            )
        )

    def accept(self, *, member_id: str) -> None:
        """The assignee takes the task on."""
        self._require(TaskState.ASSIGNED)
        self._require_assignee(member_id)
        self._record(TaskAccepted(task_id=self.id, member_id=member_id))

    def hand_back(self, *, member_id: str, reason: str) -> None:
        """The assignee returns the task with a reason."""
        self._require(TaskState.ASSIGNED, TaskState.IN_PROGRESS)
        self._require_assignee(member_id)
        self._record(TaskReturned(task_id=self.id, member_id=member_id, reason=reason))

    def report_progress(self, *, member_id: str, note: str, photos: tuple[PhotoInfo, ...] = ()) -> None:
        """A step of the work."""
        self._require(TaskState.IN_PROGRESS)
        self._require_assignee(member_id)
        self._record(ProgressReported(task_id=self.id, member_id=member_id, note=note, photos=photos))

    def report_resolution(
        self,
        *,
        member_id: str,
        summary: str,
        result: ResolutionResult,
        evidence: list[str],
        photos: tuple[PhotoInfo, ...] = (),
    ) -> None:
        """What was done and its result; the task waits for a spot check."""
        self._require(TaskState.IN_PROGRESS)
        self._require_assignee(member_id)
        self._record(
            ResolutionReported(
                task_id=self.id,
                member_id=member_id,
                summary=summary,
                result=result,
                evidence=evidence,
                photos=photos,
            )
        )

    def spot_check(
        self, *, inspector_id: str, passed: bool, note: str, photos: tuple[PhotoInfo, ...] = ()
    ) -> None:
        """An inspector who did not do the work checks it: pass, or back to rework."""
        self._require(TaskState.AWAITING_CHECK)
        if inspector_id == self.assignee or inspector_id in self.helpers:
            raise NotAllowed("no one spot-checks their own work", SEPARATION_OF_DUTIES, duty="spot_check")
        if passed:
            self._record(
                SpotCheckPassed(task_id=self.id, inspector_id=inspector_id, note=note, photos=photos)
            )
        else:
            self._record(
                SpotCheckFailed(
                    task_id=self.id,
                    inspector_id=inspector_id,
                    reason=note,
                    rework_count=self.rework_count + 1,
                    photos=photos,
                )
            )

    # -- adjustment (任务调整) ---------------------------------------------------------------
    def reassign(self, *, to_member: str, helpers: list[str], reason: str) -> None:
        """Give the task to another member; work already reported stays in its history."""
        self._require(TaskState.ACCEPTED, TaskState.ASSIGNED, TaskState.IN_PROGRESS)
        if to_member == self.assignee:
            raise InvalidCommand(
                f"the task is already with member {to_member}", ALREADY_ASSIGNED_TO, member=to_member
            )
        self._record(
            TaskReassigned(
                task_id=self.id,
                from_member=self.assignee,
                to_member=to_member,
                helpers=helpers,
                reason=reason,
            )
        )

    def request_extension(self, *, by: str, new_due_at: datetime, reason: str, now: datetime) -> None:
        """Ask for more time, before the deadline passes."""
        self._require(*OPEN)
        due = self._due()
        if now >= due:
            raise StateConflict(
                "the deadline has passed: extensions are requested before it", DEADLINE_PASSED
            )
        if new_due_at <= due:
            raise InvalidCommand("the new deadline must be later than the current one", DEADLINE_NOT_LATER)
        if self.pending_extension is not None:
            raise StateConflict("an extension request is already waiting for a decision", EXTENSION_PENDING)
        self._record(
            DeadlineExtensionRequested(task_id=self.id, requested_by=by, new_due_at=new_due_at, reason=reason)
        )

    def decide_extension(self, *, by: str, approve: bool, reason: str) -> None:
        """Approve (the reason is kept) or refuse the waiting extension request."""
        if self.pending_extension is None:
            raise StateConflict("no extension request is waiting", NO_EXTENSION_PENDING)
        if by == self.assignee:
            raise NotAllowed(
                "the assignee cannot approve their own extension",
                SEPARATION_OF_DUTIES,
                duty="approve_extension",
            )
        if approve:
            self._record(
                DeadlineExtended(
                    task_id=self.id,
                    approved_by=by,
                    previous_due_at=self._due(),
                    new_due_at=self.pending_extension,
                    reason=reason,
                )
            )
        else:
            self._record(DeadlineExtensionRefused(task_id=self.id, refused_by=by, reason=reason))

    def escalate(self, *, reason: str) -> None:
        """One level up: building → community → street → district."""
        self._require(*OPEN)
        parent = self.org_unit.rpartition("/")[0]
        if not parent:
            raise StateConflict("the task is already at district level", ALREADY_AT_TOP)
        self._record(TaskEscalated(task_id=self.id, from_unit=self.org_unit, to_unit=parent, reason=reason))

    def push_down(self, *, to_unit: str, guidance: str) -> None:
        """Back down to a unit below the current one, with guidance."""
        self._require(*OPEN)
        if not to_unit.startswith(self.org_unit + "/"):
            raise InvalidCommand(
                f"{to_unit} is not below {self.org_unit}", UNIT_NOT_BELOW, unit=to_unit, current=self.org_unit
            )
        self._record(
            TaskPushedDown(task_id=self.id, from_unit=self.org_unit, to_unit=to_unit, guidance=guidance)
        )

    def park(self, *, reason: str) -> None:
        """Set aside (挂账) with a reason."""
        self._require(*(OPEN - {TaskState.PARKED}))
        self._record(TaskParked(task_id=self.id, reason=reason))

    def unpark(self, *, note: str) -> None:
        """Take the task up again where it was."""
        self._require(TaskState.PARKED)
        self._record(TaskUnparked(task_id=self.id, note=note))

    def flag_for_reassignment(self, *, member_id: str, suggested: str | None) -> None:
        """The assignee left: flag the open task (once) for a new member."""
        if self.state in OPEN and self.assignee == member_id:
            self._record(
                TaskFlaggedForReassignment(
                    task_id=self.id,
                    member_id=member_id,
                    suggested_member_id=suggested,
                    reason="member deactivated",
                )
            )

    # -- closure and reopening -----------------------------------------------------------------
    def close(
        self,
        *,
        by: str,
        reason: CloseReason,
        note: str,
        now: datetime,
        responsible_party: str | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        """Close (销号): work closures need a passed spot check; never by the assignee."""
        if by == self.assignee or by in self.helpers:
            raise NotAllowed(
                "no one closes a task they worked on (its assignee or a 1 + X helper)",
                SEPARATION_OF_DUTIES,
                duty="close",
            )
        if reason in WORK_DONE:
            self._require(TaskState.READY_TO_CLOSE)
        else:
            self._require(*OPEN)
        if reason == CloseReason.CLOSED_UNRESOLVED and not note.strip():
            raise InvalidCommand("closing without resolving needs a note saying why", CLOSE_NOTE_NEEDED)
        if reason == CloseReason.NOT_OUR_RESPONSIBILITY and not responsible_party:
            raise InvalidCommand(
                "say whose responsibility it is (responsible_party)", RESPONSIBLE_PARTY_NEEDED
            )
        if reason == CloseReason.DUPLICATE and not duplicate_of:
            raise InvalidCommand(
                "a duplicate needs the task it duplicates (duplicate_of)", DUPLICATE_OF_NEEDED
            )
        self._record(
            TaskClosed(
                task_id=self.id,
                closed_by=by,
                reason=reason,
                note=note,
                responsible_party=responsible_party,
                duplicate_of=duplicate_of,
                assignee=self.assignee,
                on_time=self.due_at is None or now <= self.due_at,
                escalated=self.escalated,
            )
        )

    def reopen(self, *, reason: str, correction_ref: str | None) -> None:
        """Back to its assignee with the reason: a resident's correction (their own words, sealed
        with the key of the task's contact), or a secretary's (theirs, in clear like a closing note)."""
        self._require(TaskState.CLOSED)
        self._record(
            TaskReopened(
                task_id=self.id,
                reason=reason,
                correction_ref=correction_ref,
                assignee=self.assignee,
                data_subject=self.data_subject if correction_ref else None,
            )
        )

    # -- deadlines (written by the scheduler) --------------------------------------------------
    def note_time(self, *, now: datetime, policy: DeadlinePolicy) -> None:
        """Record the reminder or the miss that `now` has reached, each once per deadline."""
        if self.state not in OPEN or self.due_at is None or self.triaged_at is None:
            return
        standing = policy.standing(triaged_at=self.triaged_at, due_at=self.due_at, now=now)
        if standing == "overdue":
            if self.missed_for != self.due_at:
                self._record(DeadlineMissed(task_id=self.id, due_at=self.due_at, assignee=self.assignee))
        elif standing == "approaching" and self.reminded_for != self.due_at:
            self._record(DeadlineApproaching(task_id=self.id, due_at=self.due_at, assignee=self.assignee))

    # -- rules -----------------------------------------------------------------------------------
    def _require(self, *states: TaskState) -> None:
        if not self.exists:
            raise NotFound(f"task {self.id} does not exist")
        if self.state not in states:
            needed = [s.value for s in TaskState if s in states]  # in the lifecycle's order
            raise StateConflict(
                f"task {self.id} is {self.state.value}; this needs it {' or '.join(needed)}",
                TASK_NOT_IN_STATE,
                state=self.state.value,
                needed=needed,
            )

    def _require_assignee(self, member_id: str) -> None:
        if member_id != self.assignee:
            raise NotAllowed("only the task's assignee may do this", ASSIGNEE_ONLY)

    def _due(self) -> datetime:
        if self.due_at is None:
            raise StateConflict("the task has no deadline yet (it is not triaged)", TASK_NOT_TRIAGED)
        return self.due_at

    def apply(self, event: DomainEvent) -> None:
        self._move(event)
        for handler in (self._apply_start, self._apply_work, self._apply_adjustment):
            if handler(event):
                return
        raise UnknownEventType(f"a task does not know how to apply {event.event_type}")

    def _move(self, event: DomainEvent) -> None:
        """The state, by the lifecycle every reader of task events shares."""
        target = task_state_after(event)
        if isinstance(event, TaskParked):
            self.parked_from = self.state
        if target is Resume.PARKED_FROM:
            self.state, self.parked_from = resumed_state(self.parked_from), None
        elif target is not None:
            self.state = target

    def _apply_start(self, event: DomainEvent) -> bool:
        match event:
            case TaskRaised():
                self.org_unit, self.category, self.urgency = event.org_unit, event.category, event.urgency
                self.household_id, self.enterprise_id = event.household_id, event.enterprise_id
                self.data_subject = event.data_subject
            case TaskTriaged():
                self.triaged_at, self.due_at = event.triaged_at, event.due_at
            case TaskAssigned():
                self.assignee, self.helpers = event.member_id, list(event.helpers)
            case TaskRejected() | TaskAccepted() | ResolutionReported() | SpotCheckPassed() | TaskClosed():
                pass
            case _:
                return False
        return True

    def _apply_work(self, event: DomainEvent) -> bool:
        match event:
            case TaskReturned():
                self.assignee, self.helpers = None, []
            case SpotCheckFailed():
                self.rework_count = event.rework_count
            case TaskReopened():
                self.rework_count += 1
            case DeadlineExtensionRefused():
                self.pending_extension = None
            case ProgressReported() | TaskFlaggedForReassignment() | TaskParked() | TaskUnparked():
                pass
            case _:
                return False
        return True

    def _apply_adjustment(self, event: DomainEvent) -> bool:
        match event:
            case TaskReassigned():
                self.assignee, self.helpers = event.to_member, list(event.helpers)
            case DeadlineExtensionRequested():
                self.pending_extension = event.new_due_at
            case DeadlineExtended():
                self.due_at, self.pending_extension = event.new_due_at, None
            case TaskEscalated():
                self.org_unit, self.escalated = event.to_unit, True
            case TaskPushedDown():
                self.org_unit = event.to_unit
            case DeadlineApproaching():
                self.reminded_for = event.due_at
            case DeadlineMissed():
                self.missed_for = event.due_at
            case _:
                return False
        return True
