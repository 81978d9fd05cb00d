"""How the feedback service reacts: a closed task schedules its call-back; time turns an
unanswered call-back into "not reached"."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from fourlinks_contracts.assignments import TaskClosed
from fourlinks_feedback.application import handlers
from fourlinks_feedback.application.commands import NoteCallbackTime, ScheduleCallback
from fourlinks_feedback.application.queries import overdue_callbacks, task_feedback
from fourlinks_feedback.domain.feedback import CallbackTimes
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor, CommandContext, RecordedEvent, reaction_context
from fourlinks_runtime.definition import Policy
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
SCHEDULER = Actor(id="scheduler:callbacks", roles=(Role.SERVICE,))


def callback_times(runtime: ServiceRuntime) -> CallbackTimes:
    """The configured call-back timing."""
    return callback_times_of(runtime.settings)


def callback_times_of(settings: Settings) -> CallbackTimes:
    """The call-back timing `settings` configure."""
    return CallbackTimes(
        delay=timedelta(hours=settings.callback_delay_hours),
        answer_window=timedelta(hours=settings.callback_answer_hours),
        follow_up=timedelta(days=settings.follow_up_days),
    )


async def schedule_callback(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """Its task closed: the feedback gets its call-back. Tasks not raised from feedback are ignored."""
    closed = event.event
    assert isinstance(closed, TaskClosed)
    await runtime.wait_for_all(event.position)  # the routing that maps this task is applied by now
    async with runtime.engine.connect() as conn:
        feedback_id = await task_feedback(conn, closed.task_id)
    if feedback_id is None:
        return
    context = reaction_context(event, policy="callback-on-closure")

    command = ScheduleCallback(feedback_id, event.envelope.occurred_at, callback_times(runtime))
    await runtime.dispatch(command, handlers.schedule_callback, context)


def policies(prefix: str) -> tuple[Policy, ...]:
    """The subscriptions of the feedback service."""
    return (
        Policy(
            "callback-on-closure",
            2,
            (f"{prefix}.assignments.task.*",),
            "TaskClosed",
            schedule_callback,
            "a closed task schedules its feedback's call-back",
        ),
    )


async def scan_callbacks(runtime: ServiceRuntime, *, now: datetime | None = None) -> int:
    """One pass at an explicit moment: unanswered call-backs past their time become not reached."""
    moment = now if now is not None else runtime.clock()
    async with runtime.engine.connect() as conn:
        overdue = await overdue_callbacks(conn, moment)
    written = 0
    for feedback_id in overdue:
        command = NoteCallbackTime(feedback_id, moment)
        outcome = await runtime.dispatch(command, handlers.note_callback_time, CommandContext.new(SCHEDULER))
        written += len(outcome.positions)
    return written


async def callback_scheduler(runtime: ServiceRuntime) -> None:
    """The background worker: scan on a fixed period with the runtime's clock."""
    while True:
        await runtime.wait_until_caught_up()
        written = await scan_callbacks(runtime)
        if written:
            log.info("callbacks_not_reached", count=written)
        await asyncio.sleep(runtime.settings.deadline_scan_seconds)
