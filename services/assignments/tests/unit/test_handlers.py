"""The assignments handlers in memory, with a fake directory of the members' events: who gets a
task, and which references a task may name (no NATS, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from conftest import InMemoryWorld

from fourlinks_assignments.application import handlers
from fourlinks_assignments.application.commands import AssignTask, RaiseAndHandOut
from fourlinks_assignments.application.handlers import MemberInfo
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_contracts.assignments import TaskSource, TaskState
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.unit_of_work import UnitOfWork

COMMUNITY = "yuhang/nanyuan/xinghe"
SECRETARY = Actor(id="secretary-1", roles=(Role.SECRETARY,), scope=COMMUNITY)
POLICY = Actor(id="policy:raise-from-feedback", roles=(Role.SERVICE,))
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@dataclass
class FakeDirectory:
    """The members' events as the assignments service knows them, in memory."""

    members: dict[str, MemberInfo] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    async def member(self, member_id: str) -> MemberInfo | None:
        return self.members.get(member_id)

    async def member_of_contact(self, contact_id: str) -> str | None:
        return self.cards.get(contact_id)

    async def contact_kind(self, contact_id: str) -> str | None:
        return self.kinds.get(contact_id)

    def covered(self, household: str, member: str, *, active: bool = True) -> None:
        self.kinds[household] = "household"
        self.cards[household] = member
        self.members[member] = MemberInfo(member, f"{COMMUNITY}/b1", active, frozenset())


def feedback_task(household: str) -> NewTask:
    return NewTask(
        task_id=new_id(),
        source=TaskSource.FEEDBACK,
        source_ref=new_id(),
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=COMMUNITY,
        household_id=household,
        description="楼道灯不亮",
    )


async def hand_out(
    world: InMemoryWorld, new: NewTask, directory: FakeDirectory, fallback: str | None
) -> Task:
    async def work(uow: UnitOfWork) -> None:
        await handlers.raise_and_hand_out(
            RaiseAndHandOut(POLICY, new, NOW, DeadlinePolicy(), fallback), uow, directory
        )

    await world.run(work, POLICY)
    loaded = await world.store.load(Task.stream_of(new.task_id))
    return Task.replay(new.task_id, [e.event for e in loaded.events])


async def test_a_routed_problem_goes_to_the_households_card_member_at_once() -> None:
    world, directory = InMemoryWorld(), FakeDirectory()
    directory.covered("household-1", "member-1")
    task = await hand_out(world, feedback_task("household-1"), directory, fallback=None)
    assert (task.state, task.assignee) == (TaskState.ASSIGNED, "member-1")
    assert task.due_at is not None
    assert task.triaged_at == NOW


async def test_without_a_card_a_visit_task_goes_to_the_visiting_member_and_otherwise_waits() -> None:
    world, directory = InMemoryWorld(), FakeDirectory()
    directory.members["visitor"] = MemberInfo("visitor", COMMUNITY, True, frozenset())
    visited = await hand_out(world, feedback_task("uncovered"), directory, fallback="visitor")
    assert (visited.state, visited.assignee) == (TaskState.ASSIGNED, "visitor")
    waiting = await hand_out(world, feedback_task("uncovered"), directory, fallback=None)
    assert (waiting.state, waiting.assignee) == (TaskState.ACCEPTED, None)


async def test_a_deactivated_card_member_does_not_get_the_task() -> None:
    world, directory = InMemoryWorld(), FakeDirectory()
    directory.covered("household-1", "member-1", active=False)
    task = await hand_out(world, feedback_task("household-1"), directory, fallback=None)
    assert (task.state, task.assignee) == (TaskState.ACCEPTED, None)


async def test_a_task_names_only_registered_contacts_of_the_right_kind() -> None:
    directory = FakeDirectory()
    directory.covered("household-1", "member-1")
    await handlers.check_contacts(directory, household_id="household-1", enterprise_id=None)
    with pytest.raises(InvalidCommand, match=r"^household_id: no household"):
        await handlers.check_contacts(directory, household_id="nobody", enterprise_id=None)
    with pytest.raises(InvalidCommand, match=r"^enterprise_id: no enterprise"):
        await handlers.check_contacts(directory, household_id=None, enterprise_id="household-1")


async def test_assigning_without_a_member_needs_a_card_on_the_contact() -> None:
    world, directory = InMemoryWorld(), FakeDirectory()
    new = feedback_task("uncovered")
    waiting = await hand_out(world, new, directory, fallback=None)
    assert waiting.state == TaskState.ACCEPTED

    async def assign(uow: UnitOfWork) -> None:
        await handlers.assign(AssignTask(SECRETARY, new.task_id, member_id=None), uow, directory)

    with pytest.raises(InvalidCommand, match="no card covers"):
        await world.run(assign, SECRETARY)
