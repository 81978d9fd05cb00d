"""A policy races a person: the person's command arrives before the policy's reaction, while it is
being decided, or after it, and the history comes out the same either way (and nothing halts).

Run on the real codec and unit of work over the in-memory store: "during" is the policy having
loaded the aggregate when the person's command is appended, so its own append meets a concurrency
conflict and is decided again on the new state, as on NATS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import InMemoryWorld, a_problem_submitted

from fourlinks_assignments.application import handlers as assignment_handlers
from fourlinks_assignments.application.commands import CloseTask, NoteDeadline
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_contracts.assignments import CloseReason, ResolutionResult, TaskSource, TaskState
from fourlinks_contracts.feedback import Resolved, Satisfaction
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application import handlers
from fourlinks_feedback.application.commands import RecordCallback, ScheduleCallback
from fourlinks_feedback.domain.feedback import CallbackTimes, Feedback, FeedbackState
from fourlinks_kernel.access import Role
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.store import StreamState
from fourlinks_kernel.unit_of_work import UnitOfWork

COMMUNITY = "yuhang/nanyuan/xinghe"
SUBMITTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLOSED = SUBMITTED + timedelta(days=2)
ANSWERED = CLOSED + timedelta(hours=1)
TIMES = CallbackTimes()
POLICY = Actor(id="policy:callback-on-closure", roles=(Role.SERVICE,))
Work = Callable[[UnitOfWork], Awaitable[None]]
ORDERS = ("before", "during", "after")


async def interleaved(
    world: InMemoryWorld,
    order: str,
    *,
    policy: Work,
    person: Work,
    who: Actor,
    aggregate: tuple[type[Aggregate], str] | None = None,
) -> None:
    """The person's command before, during or after the policy's reaction (on `aggregate`)."""
    if order == "before":
        await world.run(person, who)
        await world.run(policy, POLICY)
        return
    if order == "after":
        await world.run(policy, POLICY)
        await world.run(person, who)
        return
    cut_in = [person]

    async def policy_cut_in_by_the_person(uow: UnitOfWork) -> None:
        if cut_in:  # the policy has read the aggregate when the person's command lands
            kind, aggregate_id = aggregate or (Feedback, feedback_of(world))
            await uow.get(kind, aggregate_id)
            await world.run(cut_in.pop(), who)
        await policy(uow)

    await world.run(policy_cut_in_by_the_person, POLICY)
    assert not cut_in


def feedback_of(world: InMemoryWorld) -> str:
    return str(world.__dict__["feedback_id"])


HOUSEHOLD, FEEDBACK = new_id(), new_id()  # the same people in every order, so histories compare


async def a_routed_problem(world: InMemoryWorld) -> Actor:
    resident = await a_problem_submitted(world, household=HOUSEHOLD, feedback_id=FEEDBACK, at=SUBMITTED)
    world.__dict__["feedback_id"] = FEEDBACK
    return resident


async def history(world: InMemoryWorld) -> list[tuple[str, dict[str, Any]]]:
    loaded = await world.store.load(Feedback.stream_of(feedback_of(world)))
    return [(r.event.event_type, r.event.model_dump()) for r in loaded.events]


async def callback_answered_around_the_closure(order: str, satisfaction: Satisfaction) -> InMemoryWorld:
    world = InMemoryWorld()
    resident = await a_routed_problem(world)
    feedback_id = feedback_of(world)
    resolved = Resolved.YES if satisfaction == Satisfaction.SATISFIED else Resolved.NO

    async def closure_reaction(uow: UnitOfWork) -> None:
        await handlers.schedule_callback(ScheduleCallback(feedback_id, CLOSED, TIMES), uow)

    async def resident_answers(uow: UnitOfWork) -> None:
        command = RecordCallback(
            actor=resident,
            feedback_id=feedback_id,
            org_unit=f"{COMMUNITY}/b1",
            resolved=resolved,
            satisfaction=satisfaction,
            comment="灯还是不亮" if resolved == Resolved.NO else "",
            now=ANSWERED,
            times=TIMES,
            task_closed_at=CLOSED,  # the closure as the feedback read model has already seen it
        )
        await handlers.record_callback(command, uow)

    await interleaved(world, order, policy=closure_reaction, person=resident_answers, who=resident)
    return world


@pytest.mark.parametrize("satisfaction", [Satisfaction.SATISFIED, Satisfaction.DISSATISFIED])
async def test_a_call_back_answered_before_during_or_after_the_closures_reaction_leaves_one_history(
    satisfaction: Satisfaction,
) -> None:
    histories = {
        order: await history(await callback_answered_around_the_closure(order, satisfaction))
        for order in ORDERS
    }
    assert histories["before"] == histories["during"] == histories["after"]
    scheduled = [data for kind, data in histories["after"] if kind == "CallbackScheduled"]
    assert all(data["due_at"].tzinfo is not None for data in scheduled)
    assert [data["kind"] for data in scheduled] == (
        ["first", "follow_up"] if satisfaction == Satisfaction.SATISFIED else ["first"]
    )


async def test_a_dissatisfied_answer_before_the_closures_reaction_leaves_the_correction_standing() -> None:
    world = await callback_answered_around_the_closure("before", Satisfaction.DISSATISFIED)
    loaded = await world.store.load(Feedback.stream_of(feedback_of(world)))
    feedback = Feedback.replay(feedback_of(world), [r.event for r in loaded.events])
    assert feedback.state == FeedbackState.CORRECTION
    assert feedback.callback is None  # no call-back while the task is reopened for the correction


async def test_the_next_closure_after_a_correction_schedules_the_next_call_back() -> None:
    world = await callback_answered_around_the_closure("before", Satisfaction.DISSATISFIED)
    feedback_id = feedback_of(world)
    closed_again = ANSWERED + timedelta(days=1)

    async def second_closure(uow: UnitOfWork) -> None:
        await handlers.schedule_callback(ScheduleCallback(feedback_id, closed_again, TIMES), uow)

    assert await world.run(second_closure, POLICY) == ["CallbackScheduled"]
    last = (await history(world))[-1][1]
    assert (last["round"], last["task_closed_at"]) == (2, closed_again)


# -- the deadline scheduler and a secretary closing the task --------------------------------------
TASK = new_id()
SECRETARY = Actor(id="secretary-1", roles=(Role.SECRETARY,), scope=COMMUNITY)
SCHEDULER = Actor(id="policy:deadlines", roles=(Role.SERVICE,))
DEADLINES = DeadlinePolicy()


async def a_task_ready_to_close(world: InMemoryWorld) -> Task:
    task = Task(TASK)
    task.raise_(
        NewTask(
            task_id=TASK,
            source=TaskSource.ADMINISTRATOR,
            source_ref=None,
            category="repairs",
            urgency=Urgency.GENERAL,
            org_unit=f"{COMMUNITY}/b1",
            household_id=HOUSEHOLD,
            description="楼道灯坏了",
        )
    )
    task.triage(now=SUBMITTED, policy=DEADLINES)
    task.assign(member_id="member-1", helpers=[], party_day_id=None, by_default=True)
    task.accept(member_id="member-1")
    task.report_resolution(
        member_id="member-1", summary="换了灯泡", result=ResolutionResult.RESOLVED, evidence=[]
    )
    task.spot_check(inspector_id="inspector-1", passed=True, note="亮了")
    await world.store.append(
        Task.stream_of(TASK), task.pending, expected=StreamState(), context=CommandContext.new(SECRETARY)
    )
    return task


async def closed_around_the_reminder(order: str) -> list[str]:
    world = InMemoryWorld()
    task = await a_task_ready_to_close(world)
    assert task.due_at is not None
    reminder_time = DEADLINES.reminder_at(SUBMITTED, task.due_at) + timedelta(minutes=1)

    async def reminder(uow: UnitOfWork) -> None:
        await assignment_handlers.note_deadline(NoteDeadline(TASK, reminder_time, DEADLINES), uow)

    async def secretary_closes(uow: UnitOfWork) -> None:
        command = CloseTask(SECRETARY, TASK, CloseReason.RESOLVED, "已修好", reminder_time)
        await assignment_handlers.close(command, uow)

    await interleaved(
        world, order, policy=reminder, person=secretary_closes, who=SECRETARY, aggregate=(Task, TASK)
    )
    loaded = await world.store.load(Task.stream_of(TASK))
    assert Task.replay(TASK, [r.event for r in loaded.events]).state == TaskState.CLOSED
    return [r.event.event_type for r in loaded.events]


async def test_a_task_closed_before_during_or_after_its_reminder_is_closed_and_reminded_no_more() -> None:
    histories = {order: await closed_around_the_reminder(order) for order in ORDERS}
    assert histories["before"] == histories["during"]
    assert histories["before"][-1] == "TaskClosed"
    assert histories["after"] == [*histories["before"][:-1], "DeadlineApproaching", "TaskClosed"]
