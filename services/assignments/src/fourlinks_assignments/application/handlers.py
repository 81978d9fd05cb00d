"""Command handlers of the assignments service: load, decide, and let the unit of work append.

Time comes in as `now`; who the members are comes from `Directory`, the service's own read model
of the members' events (no call to the members service).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from fourlinks_assignments.application.commands import (
    AcceptTask,
    AssignTask,
    CloseTask,
    DecideExtension,
    EscalateTask,
    FlagForReassignment,
    HoldPartyDay,
    NoteDeadline,
    ParkTask,
    PushDownTask,
    RaiseAndHandOut,
    RaiseTask,
    ReassignTask,
    RejectTask,
    ReopenTask,
    ReportProgress,
    ReportResolution,
    RequestExtension,
    ReturnTask,
    SpotCheck,
    TriageTask,
    UnparkTask,
)
from fourlinks_assignments.domain.party_days import PartyDay, session_id_for
from fourlinks_assignments.domain.tasks import Task
from fourlinks_contracts.refusals import (
    CONTACT_NOT_REGISTERED,
    DUPLICATE_UNKNOWN,
    HELPERS_NOT_IN_TEAM,
    MEMBER_DEACTIVATED,
    MEMBER_OUTSIDE_UNIT,
    MEMBER_UNKNOWN,
    NO_CARD_COVERS_CONTACT,
)
from fourlinks_kernel.access import ensure_scope, scope_covers
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound, StateConflict
from fourlinks_kernel.unit_of_work import UnitOfWork

C = TypeVar("C")
T = TypeVar("T")


@dataclass(frozen=True)
class MemberInfo:
    """What the assignments service knows of a member from the members' events."""

    member_id: str
    org_unit: str
    active: bool
    helpers: frozenset[str]


class Directory(Protocol):
    """Members and the contacts their cards cover, as seen through the members' events."""

    async def member(self, member_id: str) -> MemberInfo | None:
        """A member, or None if never registered."""
        ...

    async def member_of_contact(self, contact_id: str) -> str | None:
        """The member on the contact's active card, if any."""
        ...

    async def contact_kind(self, contact_id: str) -> str | None:
        """ "household" or "enterprise" for a registered contact, None if unknown."""
        ...


async def task_in_scope(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    """An existing task within the actor's scope."""
    task = await uow.get(Task, task_id)
    if not task.exists:
        raise NotFound(f"task {task_id} does not exist")
    ensure_scope(actor, task.org_unit)
    return task


def with_directory(
    handler: Callable[[C, UnitOfWork, Directory], Awaitable[T]], directory: Directory
) -> Callable[[C, UnitOfWork], Awaitable[T]]:
    """A handler that reads the members' directory, bound to one (for dispatching)."""
    return lambda command, uow: handler(command, uow, directory)


async def active_member(
    directory: Directory, member_id: str, helpers: list[str], *, task_unit: str | None = None
) -> MemberInfo:
    """A member who can take a task, with helpers from their own 1 + X team; for a task of
    `task_unit`, a member of that unit, of a unit within it, or above it (never of a neighbouring
    community: they would read what is not theirs)."""
    member = await directory.member(member_id)
    if member is None:
        raise NotFound(f"member {member_id} is not known here (yet)", MEMBER_UNKNOWN, member=member_id)
    if not member.active:
        raise StateConflict(f"member {member_id} is deactivated", MEMBER_DEACTIVATED, member=member_id)
    unit = member.org_unit
    if task_unit is not None and not (scope_covers(unit, task_unit) or scope_covers(task_unit, unit)):
        raise NotAllowed(
            f"member {member_id} belongs to {unit}, outside this task's unit {task_unit}",
            MEMBER_OUTSIDE_UNIT,
            member=member_id,
            unit=unit,
            task_unit=task_unit,
        )
    strangers = sorted(set(helpers) - member.helpers)
    if strangers:
        raise InvalidCommand(
            f"helpers {strangers} are not in member {member_id}'s 1 + X team",
            HELPERS_NOT_IN_TEAM,
            helpers=list(strangers),
        )
    return member


# -- raising and triage ----------------------------------------------------------------------
async def raise_task(cmd: RaiseTask, uow: UnitOfWork) -> None:
    """Record a new task, waiting for triage."""
    ensure_scope(cmd.actor, cmd.new.org_unit)
    if cmd.new.party_day_id:
        await _party_day(uow, cmd.new.party_day_id)
    (await uow.get(Task, cmd.new.task_id)).raise_(cmd.new)


async def check_contacts(
    directory: Directory, *, household_id: str | None, enterprise_id: str | None
) -> None:
    """A task or feedback names only contacts the members service registered (422 naming the field)."""
    for field_name, kind, contact_id in (
        ("household_id", "household", household_id),
        ("enterprise_id", "enterprise", enterprise_id),
    ):
        if contact_id is not None and await directory.contact_kind(contact_id) != kind:
            raise InvalidCommand(
                f"{field_name}: no {kind} {contact_id} is registered "
                "(just registered? send its position as X-Min-Position)",
                CONTACT_NOT_REGISTERED,
                field=field_name,
                kind=kind,
            )


async def raise_and_hand_out(cmd: RaiseAndHandOut, uow: UnitOfWork, directory: Directory) -> None:
    """A task that needs no triage (a resident's routed feedback, a problem found on a visit):
    raised, accepted and assigned to the contact's card member (else the fallback) at once."""
    new = cmd.new
    await raise_task(RaiseTask(cmd.actor, new), uow)
    task = await uow.get(Task, new.task_id)
    task.triage(now=cmd.now, policy=cmd.policy)
    contact = new.household_id or new.enterprise_id
    member_id = (await directory.member_of_contact(contact) if contact else None) or cmd.fallback_member
    if member_id is not None and (info := await directory.member(member_id)) is not None and info.active:
        task.assign(member_id=member_id, helpers=[], party_day_id=new.party_day_id, by_default=True)


async def triage(cmd: TriageTask, uow: UnitOfWork) -> None:
    """Accept a raised task; its deadline starts."""
    (await task_in_scope(uow, cmd.actor, cmd.task_id)).triage(now=cmd.now, policy=cmd.policy)


async def reject(cmd: RejectTask, uow: UnitOfWork) -> None:
    """Refuse a raised task with a reason code."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    await _ensure_original(uow, cmd.duplicate_of)
    task.reject(
        reason=cmd.reason,
        duplicate_of=cmd.duplicate_of,
        responsible_party=cmd.responsible_party,
        note=cmd.note,
    )


# -- assignment and work -----------------------------------------------------------------------
async def assign(cmd: AssignTask, uow: UnitOfWork, directory: Directory) -> str:
    """Assign to a member: by default the contact member on the household's or enterprise's card."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    member_id = cmd.member_id
    if member_id is None:
        contact = task.household_id or task.enterprise_id
        member_id = await directory.member_of_contact(contact) if contact else None
        if member_id is None:
            raise InvalidCommand(
                "no card covers this task's contact: name the member to assign", NO_CARD_COVERS_CONTACT
            )
    await active_member(directory, member_id, cmd.helpers, task_unit=task.org_unit)
    if cmd.party_day_id:
        await _party_day(uow, cmd.party_day_id)
    task.assign(
        member_id=member_id,
        helpers=cmd.helpers,
        party_day_id=cmd.party_day_id,
        by_default=cmd.member_id is None,
    )
    return member_id


async def accept(cmd: AcceptTask, uow: UnitOfWork) -> None:
    """The assignee takes the task on."""
    (await uow.get(Task, cmd.task_id)).accept(member_id=cmd.actor.id)


async def hand_back(cmd: ReturnTask, uow: UnitOfWork) -> None:
    """The assignee returns the task with a reason."""
    (await uow.get(Task, cmd.task_id)).hand_back(member_id=cmd.actor.id, reason=cmd.reason)


async def report_progress(cmd: ReportProgress, uow: UnitOfWork) -> None:
    """The assignee reports a step of the work."""
    (await uow.get(Task, cmd.task_id)).report_progress(
        member_id=cmd.actor.id, note=cmd.note, photos=cmd.photos
    )


async def report_resolution(cmd: ReportResolution, uow: UnitOfWork) -> None:
    """The assignee reports what was done and its result."""
    task = await uow.get(Task, cmd.task_id)
    task.report_resolution(
        member_id=cmd.actor.id,
        summary=cmd.summary,
        result=cmd.result,
        evidence=cmd.evidence,
        photos=cmd.photos,
    )


async def spot_check(cmd: SpotCheck, uow: UnitOfWork) -> None:
    """An inspector in scope, who did not do the work, checks it."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    task.spot_check(inspector_id=cmd.actor.id, passed=cmd.passed, note=cmd.note, photos=cmd.photos)


# -- adjustment ------------------------------------------------------------------------------------
async def reassign(cmd: ReassignTask, uow: UnitOfWork, directory: Directory) -> None:
    """Give the task to another member."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    await active_member(directory, cmd.member_id, cmd.helpers, task_unit=task.org_unit)
    task.reassign(to_member=cmd.member_id, helpers=cmd.helpers, reason=cmd.reason)


async def request_extension(cmd: RequestExtension, uow: UnitOfWork) -> None:
    """The assignee (or a secretary) asks for more time, before the deadline."""
    task = await uow.get(Task, cmd.task_id)
    if cmd.actor.id != task.assignee:
        ensure_scope(cmd.actor, task.org_unit)
    task.request_extension(by=cmd.actor.id, new_due_at=cmd.new_due_at, reason=cmd.reason, now=cmd.now)


async def decide_extension(cmd: DecideExtension, uow: UnitOfWork) -> None:
    """A secretary approves or refuses the waiting extension request."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    task.decide_extension(by=cmd.actor.id, approve=cmd.approve, reason=cmd.reason)


async def escalate(cmd: EscalateTask, uow: UnitOfWork) -> None:
    """One level up."""
    (await task_in_scope(uow, cmd.actor, cmd.task_id)).escalate(reason=cmd.reason)


async def push_down(cmd: PushDownTask, uow: UnitOfWork) -> None:
    """Back down to a lower unit with guidance."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    task.push_down(to_unit=cmd.to_unit.strip("/"), guidance=cmd.guidance)


async def park(cmd: ParkTask, uow: UnitOfWork) -> None:
    """Set the task aside with a reason."""
    (await task_in_scope(uow, cmd.actor, cmd.task_id)).park(reason=cmd.reason)


async def unpark(cmd: UnparkTask, uow: UnitOfWork) -> None:
    """Take a parked task up again."""
    (await task_in_scope(uow, cmd.actor, cmd.task_id)).unpark(note=cmd.note)


async def close(cmd: CloseTask, uow: UnitOfWork) -> None:
    """Close the task (销号); never by its assignee or a helper."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    await _ensure_original(uow, cmd.duplicate_of)
    task.close(
        by=cmd.actor.id,
        reason=cmd.reason,
        note=cmd.note,
        now=cmd.now,
        responsible_party=cmd.responsible_party,
        duplicate_of=cmd.duplicate_of,
    )


async def _ensure_original(uow: UnitOfWork, duplicate_of: str | None) -> None:
    """The task a duplicate names must exist (422 naming the field)."""
    if duplicate_of and not (await uow.get(Task, duplicate_of)).exists:
        raise InvalidCommand(
            f"duplicate_of: no task {duplicate_of} exists", DUPLICATE_UNKNOWN, task=duplicate_of
        )


async def reopen(cmd: ReopenTask, uow: UnitOfWork) -> None:
    """Reopen a closed task, back to its assignee."""
    task = await task_in_scope(uow, cmd.actor, cmd.task_id)
    task.reopen(reason=cmd.reason, correction_ref=cmd.correction_ref)


async def note_deadline(cmd: NoteDeadline, uow: UnitOfWork) -> None:
    """The scheduler's step for one task: a reminder or a miss, each once."""
    (await uow.get(Task, cmd.task_id)).note_time(now=cmd.now, policy=cmd.policy)


async def flag_for_reassignment(cmd: FlagForReassignment, uow: UnitOfWork) -> None:
    """The assignee was deactivated."""
    (await uow.get(Task, cmd.task_id)).flag_for_reassignment(member_id=cmd.member_id, suggested=cmd.suggested)


# -- themed party days -----------------------------------------------------------------------------
async def hold_party_day(cmd: HoldPartyDay, uow: UnitOfWork) -> str:
    """Record a community's themed party day; returns its session id."""
    ensure_scope(cmd.actor, cmd.community)
    session = await uow.get(PartyDay, session_id_for(cmd.community, cmd.held_on))
    session.hold(community=cmd.community, held_on=cmd.held_on, agenda=cmd.agenda)
    return session.id


async def _party_day(uow: UnitOfWork, session_id: str) -> PartyDay:
    session = await uow.get(PartyDay, session_id)
    if not session.exists:
        raise NotFound(f"themed party day {session_id} does not exist")
    return session
