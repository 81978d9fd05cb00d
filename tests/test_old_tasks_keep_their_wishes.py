"""A task raised before tasks carried the resident's wishes (`TaskRaised` v1, read as neither
confidential nor anonymous) takes them from the feedback it came from: `FeedbackSubmitted` has
always said whether the item is confidential and anonymous, and the tasks projection reads it, so
such a task's description and household are withheld as the resident asked, live and rebuilt."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conftest import COMMUNITY, recorded_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.projections.tasks import TasksProjection, feedback_wishes, tasks, timeline
from fourlinks_contracts import full_registry
from fourlinks_contracts.feedback import Channel, FeedbackKind, FeedbackSubmitted
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import ProjectionRunner

AT = datetime(2025, 3, 1, 8, tzinfo=UTC)
BUILDING = f"{COMMUNITY}/b1"


def submitted(feedback_id: str, *, confidential: bool, anonymous: bool) -> RecordedEvent:
    event = FeedbackSubmitted(
        feedback_id=feedback_id,
        reference="FL-20250301-ABCDEFGH",
        channel=Channel.CARD_QR,
        kind=FeedbackKind.PROBLEM,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=BUILDING,
        household_id="h-1",
        enterprise_id=None,
        submitted_by="h-1",
        on_behalf_by_member=None,
        member_id=None,
        anonymous=anonymous,
        confidential=confidential,
        description="邻居夜里吵闹",
        data_subject="h-1",
    )
    return recorded_event(
        event, position=0, at=AT, context="feedback", aggregate_type="feedback", aggregate_id=feedback_id
    )


def raised_v1(task_id: str, feedback_id: str) -> RecordedEvent:
    """A TaskRaised as written before it carried the wishes, read through today's registry."""
    data = {
        "task_id": task_id,
        "source": "feedback",
        "source_ref": feedback_id,
        "category": "repairs",
        "urgency": "general",
        "org_unit": BUILDING,
        "household_id": "h-1",
        "enterprise_id": None,
        "description": "邻居夜里吵闹",
        "party_day_id": None,
        "data_subject": "h-1",
    }
    event = full_registry().load("TaskRaised", 1, data)
    recorded = recorded_event(
        event, position=0, at=AT, context="assignments", aggregate_type="task", aggregate_id=task_id
    )
    envelope = recorded.envelope.model_copy(update={"schema_version": 1})
    return RecordedEvent(envelope, event, 0, "")


async def test_a_task_raised_before_it_carried_the_wishes_takes_them_from_its_feedback(
    engine: AsyncEngine,
) -> None:
    log = [
        submitted("f-1", confidential=True, anonymous=True),
        submitted("f-2", confidential=False, anonymous=False),
        submitted("f-3", confidential=False, anonymous=True),
        raised_v1("t-1", "f-1"),
        raised_v1("t-2", "f-2"),
        raised_v1("t-3", "f-3"),
    ]
    await _project(engine, log)
    async with engine.connect() as conn:
        wishes = {
            row.task_id: (row.confidential, row.anonymous)
            for row in await conn.execute(select(tasks.c.task_id, tasks.c.confidential, tasks.c.anonymous))
        }
        lines = {
            row.task_id: json.loads(row.details)
            for row in await conn.execute(select(timeline.c.task_id, timeline.c.details))
        }
        left = (await conn.execute(select(feedback_wishes.c.feedback_id))).all()
    assert wishes == {"t-1": (True, True), "t-2": (False, False), "t-3": (False, True)}
    assert (lines["t-1"]["confidential"], lines["t-1"]["anonymous"]) == (True, True)  # as-of reads agree
    assert left == []  # kept only until the task is raised


async def _project(engine: AsyncEngine, log: list[RecordedEvent]) -> None:
    """Apply the events in order, one at a time, through the projection's runner."""
    recorded = {
        position: RecordedEvent(r.envelope, r.event, position, "") for position, r in enumerate(log, start=1)
    }

    async def decode(stored: StoredEvent, _: frozenset[str] | None = None, /) -> RecordedEvent:
        return recorded[stored.position]  # whole: it serves any fields a projection reads

    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    store = InMemoryEventStore(EventCodec(full_registry(), cipher))
    runner = ProjectionRunner(TasksProjection(zone="Asia/Shanghai"), store=store, engine=engine)
    await runner.rebuild()
    await runner.prepare()
    for position, r in recorded.items():
        await runner.take([StoredEvent(position, "subject", b"", r.event.event_type)], decode)
    runner.close()
