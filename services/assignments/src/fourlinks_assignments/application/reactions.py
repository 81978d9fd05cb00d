"""Policies and the deadline scheduler: how the assignments service reacts to other services'
events and to time. Each runs the same command handlers as HTTP, as a service actor."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from fourlinks_assignments.application import handlers
from fourlinks_assignments.application.commands import (
    FlagForReassignment,
    NoteDeadline,
    RaiseAndHandOut,
    ReopenTask,
)
from fourlinks_assignments.application.handlers import with_directory
from fourlinks_assignments.application.queries import SqlDirectory, due_deadlines, open_tasks_of
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask
from fourlinks_contracts.assignments import TaskSource
from fourlinks_contracts.feedback import CorrectionRequested, FeedbackRouted
from fourlinks_contracts.members import MemberDeactivated, Urgency, VisitRecorded
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor, CommandContext, RecordedEvent, reaction_context
from fourlinks_runtime.definition import Policy
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
_VISIT_TASKS = uuid.UUID("c7d1e3a9-2b4f-4c6e-8a0d-1f2e3d4c5b6a")
SCHEDULER = Actor(id="scheduler:deadlines", roles=(Role.SERVICE,))


def deadline_policy(runtime: ServiceRuntime) -> DeadlinePolicy:
    """The configured time limits."""
    return deadline_policy_of(runtime.settings)


def deadline_policy_of(settings: Settings) -> DeadlinePolicy:
    """The time limits `settings` configure."""
    return DeadlinePolicy(
        days=dict(settings.deadline_days), reminder_fraction=settings.deadline_reminder_fraction
    )


def zone(runtime: ServiceRuntime) -> ZoneInfo:
    """The district's time zone for months and dates."""
    return ZoneInfo(runtime.settings.timezone)


def task_of_routed(routed: FeedbackRouted) -> NewTask:
    """The task a resident's routed feedback becomes: it keeps whether its words are confidential
    and its sender anonymous."""
    return NewTask(
        task_id=routed.task_id,
        source=TaskSource.FEEDBACK,
        source_ref=routed.feedback_id,
        category=routed.category,
        urgency=routed.urgency,
        org_unit=routed.org_unit,
        household_id=routed.household_id,
        enterprise_id=routed.enterprise_id,
        description=routed.description or "",
        confidential=routed.confidential,
        anonymous=routed.anonymous,
    )


def task_of_visit(visit: VisitRecorded) -> NewTask | None:
    """The task a problem found on a visit becomes (None: the visit found none)."""
    if not visit.problem_found:
        return None
    household = visit.contact_id if visit.contact_kind == "household" else None
    return NewTask(
        task_id=str(uuid.uuid5(_VISIT_TASKS, visit.visit_id)),
        source=TaskSource.VISIT,
        source_ref=visit.visit_id,
        category=visit.problem_category or "other",
        urgency=visit.problem_urgency or Urgency.GENERAL,
        org_unit=visit.org_unit,
        household_id=household,
        enterprise_id=None if household else visit.contact_id,
        description=visit.problem_description or "",
    )


def reopening(correction: CorrectionRequested, actor: Actor) -> ReopenTask:
    """The reopening a resident's correction (反馈纠偏) asks for: back to the assignee, with the reason."""
    reason = correction.reason or f"the resident asked for a correction (round {correction.round})"
    return ReopenTask(actor, correction.task_id, reason, f"{correction.feedback_id}:{correction.round}")


async def raise_from_feedback(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """A resident's feedback that needs action becomes a task for the household's member."""
    routed = event.event
    assert isinstance(routed, FeedbackRouted)
    await _hand_out(runtime, event, task_of_routed(routed), policy="raise-from-feedback", fallback=None)


async def raise_from_visit(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """A problem found on a member's visit becomes a task."""
    visit = event.event
    assert isinstance(visit, VisitRecorded)
    new = task_of_visit(visit)
    if new is not None:
        await _hand_out(runtime, event, new, policy="raise-from-visit", fallback=visit.member_id)


async def _hand_out(
    runtime: ServiceRuntime, event: RecordedEvent, new: NewTask, *, policy: str, fallback: str | None
) -> None:
    await runtime.wait_for_all(event.position)  # the directory has seen every card link before this event
    now = runtime.clock()
    context = replace(reaction_context(event, policy=policy), occurred_at=now)
    command = RaiseAndHandOut(context.actor, new, now, deadline_policy(runtime), fallback)
    async with runtime.engine.connect() as conn:
        await runtime.dispatch(
            command, with_directory(handlers.raise_and_hand_out, SqlDirectory(conn)), context
        )


async def reopen_on_correction(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """A resident's correction (反馈纠偏) reopens the task, back to its assignee with the reason."""
    correction = event.event
    assert isinstance(correction, CorrectionRequested)
    context = reaction_context(event, policy="reopen-on-correction")
    await runtime.dispatch(reopening(correction, context.actor), handlers.reopen, context)


async def flag_on_deactivation(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """A deactivated member's open tasks are flagged for reassignment, with the suggestion."""
    gone = event.event
    assert isinstance(gone, MemberDeactivated)
    await runtime.wait_for_all(event.position)
    async with runtime.engine.connect() as conn:
        task_ids = await open_tasks_of(conn, gone.member_id)
    for task_id in task_ids:
        context = reaction_context(event, policy="flag-on-deactivation", purpose=task_id)

        command = FlagForReassignment(task_id, gone.member_id, gone.suggested_replacement_id)
        await runtime.dispatch(command, handlers.flag_for_reassignment, context)


def policies(prefix: str) -> tuple[Policy, ...]:
    """The subscriptions of the assignments service."""
    return (
        Policy(
            "raise-from-feedback",
            2,
            (f"{prefix}.feedback.feedback.*",),
            "FeedbackRouted",
            raise_from_feedback,
            "feedback that needs action becomes a task for the household's member",
            concurrency=16,
        ),
        Policy(
            "raise-from-visit",
            2,
            (f"{prefix}.members.household.*", f"{prefix}.members.enterprise.*"),
            "VisitRecorded",
            raise_from_visit,
            "a problem found on a visit becomes a task",
            concurrency=16,
        ),
        Policy(
            "reopen-on-correction",
            2,
            (f"{prefix}.feedback.feedback.*",),
            "CorrectionRequested",
            reopen_on_correction,
            "a resident's correction reopens the task",
        ),
        Policy(
            "flag-on-deactivation",
            2,
            (f"{prefix}.members.member.*",),
            "MemberDeactivated",
            flag_on_deactivation,
            "a deactivated member's open tasks are flagged for reassignment",
        ),
    )


async def scan_deadlines(runtime: ServiceRuntime, *, now: datetime) -> int:
    """One pass of the scheduler at an explicit moment: reminders and misses now due, each once."""
    policy = deadline_policy(runtime)
    async with runtime.engine.connect() as conn:
        due = await due_deadlines(conn, now=now, policy=policy)
    written = 0
    for task_id in due:
        command = NoteDeadline(task_id, now, policy)
        outcome = await runtime.dispatch(command, handlers.note_deadline, CommandContext.new(SCHEDULER))
        written += len(outcome.positions)
    return written


async def deadline_scheduler(runtime: ServiceRuntime) -> None:
    """The background worker: scan on a fixed period with the runtime's clock."""
    while True:
        await runtime.wait_until_caught_up()
        written = await scan_deadlines(runtime, now=runtime.clock())
        if written:
            log.info("deadline_events_written", count=written)
        await asyncio.sleep(runtime.settings.deadline_scan_seconds)
