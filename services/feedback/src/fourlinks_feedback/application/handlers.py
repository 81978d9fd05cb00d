"""Command handlers of the feedback service."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from fourlinks_contracts.refusals import NO_MEMBER_FOR_HOUSEHOLD, OWN_HOUSEHOLD_ONLY
from fourlinks_feedback.application.commands import (
    AnswerFeedback,
    MarkDuplicate,
    MarkNotReached,
    NoteCallbackTime,
    RateMember,
    RecordCallback,
    RouteFeedback,
    ScheduleCallback,
    SubmitFeedback,
)
from fourlinks_feedback.domain.feedback import Feedback, check_comment
from fourlinks_feedback.domain.ratings import MemberRating, rating_id_for
from fourlinks_kernel.access import SECRETARIES, Role, ensure_scope, has_role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound
from fourlinks_kernel.unit_of_work import UnitOfWork


def reference_for(feedback_id: str, when: datetime, timezone: str = "Asia/Shanghai") -> str:
    """The reference a resident follows their feedback with: the day as the resident lives it
    (in the district's time zone, not UTC) plus eight characters."""
    digest = base64.b32encode(hashlib.sha256(feedback_id.encode()).digest()).decode()[:8]
    return f"FL-{when.astimezone(ZoneInfo(timezone)):%Y%m%d}-{digest}"


async def submit(cmd: SubmitFeedback, uow: UnitOfWork) -> str:
    """Submit and acknowledge; problems are routed to a task at once. Returns the reference."""
    actor, new = cmd.actor, cmd.new
    contact = new.household_id or new.enterprise_id
    if not contact:
        raise InvalidCommand("feedback is about a household or an enterprise")
    if new.household_id and new.enterprise_id:
        raise InvalidCommand("feedback is about one household or one enterprise, not both")
    on_behalf = None
    if has_role(actor, Role.RESIDENT):
        if actor.id != contact:
            raise NotAllowed("a household submits its own feedback", OWN_HOUSEHOLD_ONLY)
    elif has_role(actor, Role.MEMBER) and not has_role(actor, *SECRETARIES):
        if actor.id != cmd.member_id:
            raise NotAllowed("a member submits feedback on behalf of their own contacts")
        on_behalf = actor.id
    else:
        ensure_scope(actor, new.org_unit)
    reference = reference_for(new.feedback_id, cmd.now, cmd.timezone)
    feedback = await uow.get(Feedback, new.feedback_id)
    feedback.submit(
        new, reference=reference, by=actor.id, on_behalf_of_member=on_behalf, member_id=cmd.member_id
    )
    return reference


async def in_scope(uow: UnitOfWork, actor: Actor, feedback_id: str, org_unit: str) -> Feedback:
    """A feedback item the actor (a secretary in scope) may act on."""
    feedback = await uow.get(Feedback, feedback_id)
    if not feedback.exists:
        raise NotFound(f"feedback {feedback_id} does not exist")
    ensure_scope(actor, org_unit)
    return feedback


async def route(cmd: RouteFeedback, uow: UnitOfWork) -> None:
    """A secretary turns an opinion or question into a task."""
    (await in_scope(uow, cmd.actor, cmd.feedback_id, cmd.org_unit)).route()


async def answer(cmd: AnswerFeedback, uow: UnitOfWork) -> None:
    """A secretary answers an opinion, praise or question and closes it."""
    (await in_scope(uow, cmd.actor, cmd.feedback_id, cmd.org_unit)).answer(by=cmd.actor.id, answer=cmd.text)


async def mark_duplicate(cmd: MarkDuplicate, uow: UnitOfWork) -> None:
    """A secretary closes an item as a duplicate of another item of the community."""
    feedback = await in_scope(uow, cmd.actor, cmd.feedback_id, cmd.org_unit)
    original = await uow.get(Feedback, cmd.duplicate_of)
    feedback.mark_duplicate(original=original, by=cmd.actor.id)


async def record_callback(cmd: RecordCallback, uow: UnitOfWork) -> None:
    """The resident's answer to a call-back, given by the household or taken down by staff.

    Accepted from the moment the task closed (`task_closed_at`, as this service has seen it):
    the call-back is scheduled here if the closure's reaction has not scheduled it yet."""
    feedback = await uow.get(Feedback, cmd.feedback_id)
    if not feedback.exists:
        raise NotFound(f"feedback {cmd.feedback_id} does not exist")
    if has_role(cmd.actor, Role.RESIDENT):
        if cmd.actor.id != feedback.data_subject:
            raise NotAllowed("a household answers its own call-backs", OWN_HOUSEHOLD_ONLY)
    else:
        ensure_scope(cmd.actor, cmd.org_unit)
    if cmd.task_closed_at is not None:
        feedback.task_closed(closed_at=cmd.task_closed_at, times=cmd.times)
    feedback.record_answer(
        resolved=cmd.resolved,
        satisfaction=cmd.satisfaction,
        comment=check_comment(cmd.comment),
        now=cmd.now,
        times=cmd.times,
    )


async def schedule_callback(cmd: ScheduleCallback, uow: UnitOfWork) -> None:
    """Schedule the call-back after the feedback's task closed."""
    (await uow.get(Feedback, cmd.feedback_id)).task_closed(closed_at=cmd.closed_at, times=cmd.times)


async def mark_not_reached(cmd: MarkNotReached, uow: UnitOfWork) -> None:
    """Staff called and nobody answered: the call-back is not reached."""
    ensure_scope(cmd.actor, cmd.org_unit)
    feedback = await uow.get(Feedback, cmd.feedback_id)
    if not feedback.exists:
        raise NotFound(f"feedback {cmd.feedback_id} does not exist")
    feedback.not_reached()


async def note_callback_time(cmd: NoteCallbackTime, uow: UnitOfWork) -> None:
    """The scheduler's step: a call-back past its answer time is not reached."""
    (await uow.get(Feedback, cmd.feedback_id)).note_time(now=cmd.now)


async def rate_member(cmd: RateMember, uow: UnitOfWork) -> None:
    """A household rates its contact member once per period."""
    if not has_role(cmd.actor, Role.RESIDENT) or cmd.actor.id != cmd.household_id:
        raise NotAllowed("a household rates its own member", OWN_HOUSEHOLD_ONLY)
    if cmd.member_id is None:
        raise InvalidCommand("no member's card covers this household yet", NO_MEMBER_FOR_HOUSEHOLD)
    rating = await uow.get(MemberRating, rating_id_for(cmd.household_id, cmd.period))
    rating.rate(
        household_id=cmd.household_id,
        member_id=cmd.member_id,
        card_id=cmd.card_id,
        period=cmd.period,
        score=cmd.score,
        comment=check_comment(cmd.comment),
    )
