"""The feedback handlers in memory: who may submit, and a call-back recorded from the moment the
task closed (no NATS, no database)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from conftest import InMemoryWorld

from fourlinks_contracts.feedback import Channel, FeedbackKind, Resolved, Satisfaction
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application import handlers
from fourlinks_feedback.application.commands import RecordCallback, SubmitFeedback
from fourlinks_feedback.domain.feedback import CallbackTimes, NewFeedback
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed, StateConflict
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.unit_of_work import UnitOfWork

COMMUNITY = "yuhang/nanyuan/xinghe"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TIMES = CallbackTimes()


def problem(household: str) -> NewFeedback:
    return NewFeedback(
        feedback_id=new_id(),
        channel=Channel.CARD_QR,
        kind=FeedbackKind.PROBLEM,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=f"{COMMUNITY}/b1",
        household_id=household,
        enterprise_id=None,
        description="楼道灯坏了",
    )


async def submitted(world: InMemoryWorld, household: str) -> str:
    new = problem(household)
    resident = Actor(id=household, roles=(Role.RESIDENT,), scope=COMMUNITY)

    async def work(uow: UnitOfWork) -> None:
        await handlers.submit(SubmitFeedback(resident, new, "member-1", NOW), uow)

    assert await world.run(work, resident) == ["FeedbackSubmitted", "FeedbackAcknowledged", "FeedbackRouted"]
    return new.feedback_id


async def test_a_household_submits_its_own_feedback_only() -> None:
    world = InMemoryWorld()
    await submitted(world, "household-1")
    stranger = Actor(id="household-2", roles=(Role.RESIDENT,), scope=COMMUNITY)
    new = problem("household-1")

    async def work(uow: UnitOfWork) -> None:
        await handlers.submit(SubmitFeedback(stranger, new, "member-1", NOW), uow)

    with pytest.raises(NotAllowed, match="its own feedback"):
        await world.run(work, stranger)


async def test_a_call_back_is_recorded_from_the_moment_the_task_closed() -> None:
    world = InMemoryWorld()
    feedback_id = await submitted(world, "household-1")
    resident = Actor(id="household-1", roles=(Role.RESIDENT,), scope=COMMUNITY)

    def answer(closed_at: datetime | None) -> Callable[[UnitOfWork], Awaitable[None]]:
        async def work(uow: UnitOfWork) -> None:
            command = RecordCallback(
                actor=resident,
                feedback_id=feedback_id,
                org_unit=f"{COMMUNITY}/b1",
                resolved=Resolved.YES,
                satisfaction=Satisfaction.SATISFIED,
                comment="",
                now=NOW + timedelta(minutes=1),
                times=TIMES,
                task_closed_at=closed_at,
            )
            await handlers.record_callback(command, uow)

        return work

    with pytest.raises(StateConflict, match="no call-back is due"):  # the task has not closed
        await world.run(answer(None), resident)
    recorded = await world.run(answer(NOW), resident)
    assert recorded == ["CallbackScheduled", "SatisfactionRecorded", "CallbackScheduled"]


def test_a_reference_carries_the_day_the_resident_lives_not_utcs() -> None:
    evening_in_utc = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # 01:00 on the 8th in Yuhang
    assert handlers.reference_for("f-1", evening_in_utc).startswith("FL-20261208-")
    assert handlers.reference_for("f-1", evening_in_utc, "UTC").startswith("FL-20261207-")
