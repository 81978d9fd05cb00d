"""Command handlers of the assignments service: load, decide, and let the unit of work append.

Time comes in as `now`; who the members are comes from `Directory`, the service's own read model
of the members' events (no call to the members service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from fourlinks_assignments.domain.party_days import PartyDay, session_id_for
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_contracts.assignments import (
    CloseReason,
    RejectionReason,
    ResolutionResult,
)
from fourlinks_kernel.access import ensure_scope
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict
from fourlinks_kernel.unit_of_work import UnitOfWork


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


async def active_member(directory: Directory, member_id: str, helpers: list[str]) -> MemberInfo:
    """A member who can take a task, with helpers from their own 1 + X team."""
    member = await directory.member(member_id)
    if member is None:
        raise NotFound(f"member {member_id} is not known here (yet)")
    if not member.active:
        raise StateConflict(f"member {member_id} is deactivated")
    strangers = sorted(set(helpers) - member.helpers)
    if strangers:
        raise InvalidCommand(f"helpers {strangers} are not in member {member_id}'s 1 + X team")
    return member


# -- raising and triage ----------------------------------------------------------------------
async def raise_task(uow: UnitOfWork, actor: Actor, new: NewTask) -> None:
    """Record a new task, waiting for triage."""
    ensure_scope(actor, new.org_unit)
    if new.party_day_id:
        await _party_day(uow, new.party_day_id)
    task = await uow.get(Task, new.task_id)
    task.raise_(new)


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
                "(just registered? send its position as X-Min-Position)"
            )


async def raise_and_hand_out(
    uow: UnitOfWork,
    actor: Actor,
    new: NewTask,
    *,
    now: datetime,
    policy: DeadlinePolicy,
    directory: Directory,
    fallback_member: str | None = None,
) -> None:
    """A task that needs no triage (a resident's routed feedback, a problem found on a visit):
    raised, accepted and assigned to the contact's card member (else the fallback) at once."""
    await raise_task(uow, actor, new)
    task = await uow.get(Task, new.task_id)
    task.triage(now=now, policy=policy)
    contact = new.household_id or new.enterprise_id
    member_id = (await directory.member_of_contact(contact) if contact else None) or fallback_member
    if member_id is not None and (info := await directory.member(member_id)) is not None and info.active:
        task.assign(member_id=member_id, helpers=[], party_day_id=new.party_day_id, by_default=True)


async def triage(
    uow: UnitOfWork, actor: Actor, *, task_id: str, now: datetime, policy: DeadlinePolicy
) -> None:
    """Accept a raised task; its deadline starts."""
    task = await task_in_scope(uow, actor, task_id)
    task.triage(now=now, policy=policy)


async def reject(
    uow: UnitOfWork,
    actor: Actor,
    *,
    task_id: str,
    reason: RejectionReason,
    duplicate_of: str | None,
    responsible_party: str | None,
    note: str,
) -> None:
    """Refuse a raised task with a reason code."""
    task = await task_in_scope(uow, actor, task_id)
    await _ensure_original(uow, duplicate_of)
    task.reject(reason=reason, duplicate_of=duplicate_of, responsible_party=responsible_party, note=note)


# -- assignment and work -----------------------------------------------------------------------
async def assign(
    uow: UnitOfWork,
    actor: Actor,
    *,
    task_id: str,
    member_id: str | None,
    helpers: list[str],
    party_day_id: str | None,
    directory: Directory,
) -> str:
    """Assign to a member: by default the contact member on the household's or enterprise's card."""
    task = await task_in_scope(uow, actor, task_id)
    by_default = member_id is None
    if member_id is None:
        contact = task.household_id or task.enterprise_id
        member_id = await directory.member_of_contact(contact) if contact else None
        if member_id is None:
            raise InvalidCommand("no card covers this task's contact: name the member to assign")
    await active_member(directory, member_id, helpers)
    if party_day_id:
        await _party_day(uow, party_day_id)
    task.assign(member_id=member_id, helpers=helpers, party_day_id=party_day_id, by_default=by_default)
    return member_id


async def accept(uow: UnitOfWork, actor: Actor, *, task_id: str) -> None:
    """The assignee takes the task on."""
    (await uow.get(Task, task_id)).accept(member_id=actor.id)


async def hand_back(uow: UnitOfWork, actor: Actor, *, task_id: str, reason: str) -> None:
    """The assignee returns the task with a reason."""
    (await uow.get(Task, task_id)).hand_back(member_id=actor.id, reason=reason)


async def report_progress(uow: UnitOfWork, actor: Actor, *, task_id: str, note: str) -> None:
    """The assignee reports a step of the work."""
    (await uow.get(Task, task_id)).report_progress(member_id=actor.id, note=note)


async def report_resolution(
    uow: UnitOfWork,
    actor: Actor,
    *,
    task_id: str,
    summary: str,
    result: ResolutionResult,
    evidence: list[str],
) -> None:
    """The assignee reports what was done and its result."""
    task = await uow.get(Task, task_id)
    task.report_resolution(member_id=actor.id, summary=summary, result=result, evidence=evidence)


async def spot_check(uow: UnitOfWork, actor: Actor, *, task_id: str, passed: bool, note: str) -> None:
    """An inspector in scope, who did not do the work, checks it."""
    task = await task_in_scope(uow, actor, task_id)
    task.spot_check(inspector_id=actor.id, passed=passed, note=note)


# -- adjustment ------------------------------------------------------------------------------------
async def reassign(
    uow: UnitOfWork,
    actor: Actor,
    *,
    task_id: str,
    member_id: str,
    helpers: list[str],
    reason: str,
    directory: Directory,
) -> None:
    """Give the task to another member."""
    task = await task_in_scope(uow, actor, task_id)
    await active_member(directory, member_id, helpers)
    task.reassign(to_member=member_id, helpers=helpers, reason=reason)


async def request_extension(
    uow: UnitOfWork, actor: Actor, *, task_id: str, new_due_at: datetime, reason: str, now: datetime
) -> None:
    """The assignee (or a secretary) asks for more time, before the deadline."""
    task = await uow.get(Task, task_id)
    if actor.id != task.assignee:
        ensure_scope(actor, task.org_unit)
    task.request_extension(by=actor.id, new_due_at=new_due_at, reason=reason, now=now)


async def decide_extension(
    uow: UnitOfWork, actor: Actor, *, task_id: str, approve: bool, reason: str
) -> None:
    """A secretary approves or refuses the waiting extension request."""
    task = await task_in_scope(uow, actor, task_id)
    task.decide_extension(by=actor.id, approve=approve, reason=reason)


async def escalate(uow: UnitOfWork, actor: Actor, *, task_id: str, reason: str) -> None:
    """One level up."""
    (await task_in_scope(uow, actor, task_id)).escalate(reason=reason)


async def push_down(uow: UnitOfWork, actor: Actor, *, task_id: str, to_unit: str, guidance: str) -> None:
    """Back down to a lower unit with guidance."""
    (await task_in_scope(uow, actor, task_id)).push_down(to_unit=to_unit.strip("/"), guidance=guidance)


async def park(uow: UnitOfWork, actor: Actor, *, task_id: str, reason: str) -> None:
    """Set the task aside with a reason."""
    (await task_in_scope(uow, actor, task_id)).park(reason=reason)


async def unpark(uow: UnitOfWork, actor: Actor, *, task_id: str, note: str) -> None:
    """Take a parked task up again."""
    (await task_in_scope(uow, actor, task_id)).unpark(note=note)


async def close(
    uow: UnitOfWork,
    actor: Actor,
    *,
    task_id: str,
    reason: CloseReason,
    note: str,
    now: datetime,
    responsible_party: str | None = None,
    duplicate_of: str | None = None,
) -> None:
    """Close the task (销号); never by its assignee or a helper."""
    task = await task_in_scope(uow, actor, task_id)
    await _ensure_original(uow, duplicate_of)
    task.close(
        by=actor.id,
        reason=reason,
        note=note,
        now=now,
        responsible_party=responsible_party,
        duplicate_of=duplicate_of,
    )


async def _ensure_original(uow: UnitOfWork, duplicate_of: str | None) -> None:
    """The task a duplicate names must exist (422 naming the field)."""
    if duplicate_of and not (await uow.get(Task, duplicate_of)).exists:
        raise InvalidCommand(f"duplicate_of: no task {duplicate_of} exists")


async def reopen(
    uow: UnitOfWork, actor: Actor, *, task_id: str, reason: str, correction_ref: str | None
) -> None:
    """Reopen a closed task, back to its assignee."""
    (await task_in_scope(uow, actor, task_id)).reopen(reason=reason, correction_ref=correction_ref)


async def note_time(uow: UnitOfWork, *, task_id: str, now: datetime, policy: DeadlinePolicy) -> None:
    """The scheduler's step for one task: a reminder or a miss, each once."""
    (await uow.get(Task, task_id)).note_time(now=now, policy=policy)


async def flag_for_reassignment(
    uow: UnitOfWork, *, task_id: str, member_id: str, suggested: str | None
) -> None:
    """The assignee was deactivated."""
    (await uow.get(Task, task_id)).flag_for_reassignment(member_id=member_id, suggested=suggested)


# -- themed party days -----------------------------------------------------------------------------
async def hold_party_day(
    uow: UnitOfWork, actor: Actor, *, community: str, held_on: date, agenda: list[str]
) -> str:
    """Record a community's themed party day; returns its session id."""
    ensure_scope(actor, community)
    session = await uow.get(PartyDay, session_id_for(community, held_on))
    session.hold(community=community, held_on=held_on, agenda=agenda)
    return session.id


async def _party_day(uow: UnitOfWork, session_id: str) -> PartyDay:
    session = await uow.get(PartyDay, session_id)
    if not session.exists:
        raise NotFound(f"themed party day {session_id} does not exist")
    return session
