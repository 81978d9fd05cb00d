"""HTTP API of feedback, call-backs, ratings and the three rates."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import Field

from fourlinks_contracts.feedback import Channel, FeedbackKind, Resolved, Satisfaction
from fourlinks_contracts.figures import FEEDBACK_RATES, RATES
from fourlinks_contracts.members import Urgency
from fourlinks_contracts.photos import PhotoInfo
from fourlinks_contracts.refusals import CONTACT_NOT_REGISTERED
from fourlinks_contracts.service_matters import MatterCode
from fourlinks_feedback.application import access, answers, channels, commands, handlers, queries
from fourlinks_feedback.application.reactions import callback_times
from fourlinks_feedback.domain.feedback import FeedbackState, NewFeedback
from fourlinks_feedback.domain.ratings import rating_id_for
from fourlinks_kernel.access import ensure_scope
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound
from fourlinks_runtime.answers import list_of
from fourlinks_runtime.edge import Body, Choice, EntityId, IdInPath, IdInQuery, LongText, Note, Storable
from fourlinks_runtime.figures import end_of_day, ranking
from fourlinks_runtime.guards import Answerer, Resident, Secretary, Staff, Submitter
from fourlinks_runtime.guards import FeedbackReader as Anyone
from fourlinks_runtime.http import (
    AsOf,
    GroupBy,
    Limit,
    MinPosition,
    Month,
    Offset,
    Unit,
    accepted,
    caught_up,
    command_context,
    dispatch,
    handle,
    runtime_of,
    scope_root,
)
from fourlinks_runtime.http import CommandAccepted as BaseCommandAccepted
from fourlinks_runtime.phone_confirmations import confirmation_key
from fourlinks_runtime.photos import PhotosSent, checked
from fourlinks_runtime.rate_limits import TOO_MANY, RateLimit
from fourlinks_runtime.runtime import ServiceRuntime

FOLLOW_UP_LIMIT = RateLimit("following a reference", per_client=30, overall=1200)
"""Whoever holds a reference may follow it; guessing references is throttled."""
SUBMIT_LIMIT = RateLimit("submitting feedback", per_client=20, overall=1200)
"""A household reports a few problems a day; a script reports thousands."""
router = APIRouter(tags=["feedback"])


REFERENCE_PATTERN = r"^FL-\d{8}-[A-Z2-7]{8}$"
SAMPLE_OF = {name: RATES[name].sample for name in FEEDBACK_RATES}


class FeedbackAccepted(BaseCommandAccepted):
    """Where the command's events landed, and the reference a resident follows feedback with."""

    reference: str | None = None


class SubmitFeedback(Body):
    """What a resident, an enterprise contact or a member on someone's behalf raises."""

    channel: Choice[Channel] | None = Field(
        default=None,
        description=(
            "how it reached you: staff say visit, phone or party_day; a household's is how it "
            "signed in (web, sign_in_link, card_qr) and may be left out"
        ),
    )
    kind: Choice[FeedbackKind] = FeedbackKind.PROBLEM
    category: MatterCode
    urgency: Choice[Urgency] = Urgency.GENERAL
    household_id: EntityId | None = None
    enterprise_id: EntityId | None = None
    description: Annotated[str, Field(min_length=2, max_length=4000), Storable]
    anonymous: bool = Field(default=False, description="hide the submitter from the member")
    confidential: bool = Field(default=False, description="content visible to secretaries only")
    photos: PhotosSent = Field(description="photos uploaded with POST /photos for this household (up to 6)")
    notify: bool = Field(default=False, description="tell the household of each step by text message")
    call_back: bool = Field(default=False, description="the reporter asks their member to call them back")
    phone_confirmation: str | None = Field(
        default=None,
        max_length=100,
        description=(
            "a report from a card's QR code: the notifications service's vouching that the reporter "
            "typed the code texted to their phone (POST /phone-codes/{code_id}/confirmation there); "
            "the report is then not marked unconfirmed"
        ),
    )


class Answer(Body):
    """A direct answer to an opinion, praise or question."""

    answer: LongText


class Duplicate(Body):
    """The item of the same community this one says again."""

    duplicate_of: EntityId


class CallbackAnswer(Body):
    """The resident's answer to a call-back (回访)."""

    resolved: Choice[Resolved]
    satisfaction: Choice[Satisfaction]
    comment: Note = ""


class Rate(Body):
    """A household's rating of its member for a period (default: this month)."""

    household_id: EntityId
    score: int = Field(ge=1, le=5)
    period: str | None = Field(default=None, pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    comment: Note = ""


async def _contact(runtime: ServiceRuntime, body: SubmitFeedback) -> tuple[str, str | None]:
    """The contact's org unit and current member, from the service's view of the members' events;
    an unknown contact is refused naming the field (422)."""
    field_name, kind = ("household_id", "household") if body.household_id else ("enterprise_id", "enterprise")
    contact_id = body.household_id or body.enterprise_id
    if contact_id is None:
        raise InvalidCommand("household_id or enterprise_id: say which household or enterprise this is about")
    async with runtime.engine.connect() as conn:
        known = await queries.known_contact(conn, contact_id)
        link = await queries.card_link(conn, contact_id)
    if known is None or known[1] != kind:
        raise InvalidCommand(
            f"{field_name}: no {kind} {contact_id} is registered "
            "(just registered? send its position as X-Min-Position)",
            CONTACT_NOT_REGISTERED,
            field=field_name,
            kind=kind,
        )
    return known[0], link[0] if link else None


@router.post(
    "/feedback",
    status_code=status.HTTP_201_CREATED,
    summary="Submit feedback; answers with its reference",
    dependencies=[Depends(SUBMIT_LIMIT)],
    responses=TOO_MANY,
)
async def submit(
    body: SubmitFeedback, request: Request, actor: Submitter, min_position: MinPosition = None
) -> FeedbackAccepted:
    runtime = runtime_of(request)
    await runtime.wait_until_caught_up()
    if min_position:  # positions are global: one from the members service works here too
        await runtime.wait_for(min_position)
    channel = channels.channel_of(actor, body.channel)
    org_unit, member_id = await _contact(runtime, body)
    photos: tuple[PhotoInfo, ...] = ()
    if body.photos:
        subject = body.household_id or body.enterprise_id
        if subject is None:
            raise InvalidCommand("photos are sent with a household's or an enterprise's feedback")
        photos = await checked(request, subject, body.photos)
    feedback_id = command_context(request, actor).id_for("feedback")
    new = NewFeedback(
        feedback_id=feedback_id,
        channel=channel,
        kind=body.kind,
        category=body.category,
        urgency=body.urgency,
        org_unit=org_unit,
        household_id=body.household_id,
        enterprise_id=body.enterprise_id,
        description=body.description,
        anonymous=body.anonymous,
        confidential=body.confidential,
        photos=photos,
        notify=body.notify,
        unconfirmed=channels.unconfirmed(actor, phone_confirmed=_phone_confirmed(request, actor, body)),
        call_back=body.call_back,
    )
    command = commands.SubmitFeedback(
        actor=actor, new=new, member_id=member_id, now=runtime.clock(), timezone=runtime.settings.timezone
    )
    outcome = await handle(request, command, handlers.submit, actor=actor)
    reference = outcome.value
    if reference is None:  # a retried request: the reference is in the read model
        async with (await caught_up(request, outcome.position)).engine.connect() as conn:
            reference = (await queries.item(conn, feedback_id))["reference"]
    return FeedbackAccepted(**accepted(outcome, feedback_id).model_dump(), reference=reference)


def _phone_confirmed(request: Request, actor: Actor, body: SubmitFeedback) -> bool:
    runtime = runtime_of(request)
    state = request.app.state
    if not hasattr(state, "confirmation_key"):
        state.confirmation_key = confirmation_key(runtime.settings.master_key_bytes())
    key: bytes = state.confirmation_key
    return channels.phone_confirmed(actor, body.phone_confirmation, key=key, now=runtime.clock())


async def _item_for(request: Request, actor: Actor, feedback_id: str, position: int | None) -> dict[str, Any]:
    runtime = await caught_up(request, position)
    async with runtime.engine.connect() as conn:
        row = await queries.item(conn, feedback_id)
    if not access.visible_to(actor, row):
        raise NotFound(f"feedback {feedback_id} does not exist or is not yours to see")
    return row


@router.post("/feedback/{feedback_id}/route", summary="Turn an opinion or question into a task")
async def route(feedback_id: IdInPath, request: Request, actor: Secretary) -> BaseCommandAccepted:
    row = await _item_for(request, actor, feedback_id, None)
    command = commands.RouteFeedback(actor=actor, feedback_id=feedback_id, org_unit=row["org_unit"])
    return await dispatch(request, command, handlers.route, actor=actor, answer_id=feedback_id)


@router.post("/feedback/{feedback_id}/answer", summary="Answer an opinion, praise or question and close it")
async def answer(
    feedback_id: IdInPath, body: Answer, request: Request, actor: Secretary
) -> BaseCommandAccepted:
    row = await _item_for(request, actor, feedback_id, None)
    command = commands.AnswerFeedback(
        actor=actor, feedback_id=feedback_id, org_unit=row["org_unit"], text=body.answer
    )
    return await dispatch(request, command, handlers.answer, actor=actor, answer_id=feedback_id)


@router.post(
    "/feedback/{feedback_id}/duplicate",
    summary="Close an opinion, praise or question as a duplicate of another item of its community",
)
async def mark_duplicate(
    feedback_id: IdInPath, body: Duplicate, request: Request, actor: Secretary
) -> BaseCommandAccepted:
    row = await _item_for(request, actor, feedback_id, None)
    command = commands.MarkDuplicate(
        actor=actor, feedback_id=feedback_id, org_unit=row["org_unit"], duplicate_of=body.duplicate_of
    )
    return await dispatch(request, command, handlers.mark_duplicate, actor=actor, answer_id=feedback_id)


@router.post("/feedback/{feedback_id}/callback", summary="Record the answer to a call-back (回访)")
async def callback(
    feedback_id: IdInPath,
    body: CallbackAnswer,
    request: Request,
    actor: Answerer,
    min_position: MinPosition = None,
) -> BaseCommandAccepted:
    """Accepted once the task has closed (send the closure's position as X-Min-Position to be sure
    this service has seen it); /callbacks/due lists a call-back only when its time has come."""
    row = await _item_for(request, actor, feedback_id, min_position)
    runtime = runtime_of(request)
    command = commands.RecordCallback(
        actor=actor,
        feedback_id=feedback_id,
        org_unit=row["org_unit"],
        resolved=body.resolved,
        satisfaction=body.satisfaction,
        comment=body.comment,
        now=runtime.clock(),
        times=callback_times(runtime),
        task_closed_at=row["task_closed_at"] if row["task_state"] == "closed" else None,
    )
    return await dispatch(request, command, handlers.record_callback, actor=actor, answer_id=feedback_id)


@router.post(
    "/feedback/{feedback_id}/callback/not-reached",
    summary="Record that nobody answered the call-back (未联系上): it counts in no rate",
)
async def callback_not_reached(
    feedback_id: IdInPath, request: Request, actor: Secretary, min_position: MinPosition = None
) -> BaseCommandAccepted:
    row = await _item_for(request, actor, feedback_id, min_position)
    command = commands.MarkNotReached(actor=actor, feedback_id=feedback_id, org_unit=row["org_unit"])
    return await dispatch(request, command, handlers.mark_not_reached, actor=actor, answer_id=feedback_id)


@router.get(
    "/feedback",
    summary="Feedback in your scope (members: on their contacts, unless anonymous)",
    response_model=answers.FeedbackPage,
)
async def list_feedback(
    request: Request,
    actor: Anyone,
    unit: Unit = None,
    state: FeedbackState | None = None,
    waiting: Annotated[
        bool | None,
        Query(description="only items waiting for a response (the least time left first), or the others"),
    ] = None,
    category: Annotated[str | None, Query(max_length=60, description="a service matter's code")] = None,
    household: IdInQuery = None,  # about this household (an anonymous one: if yours to read)
    enterprise: IdInQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    if access.is_staff(actor):
        root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    wanted = queries.ItemFilter(
        actor=actor,
        unit=root if access.is_staff(actor) else None,
        state=state,
        waiting=waiting,
        category=category,
        contact=household or enterprise,
    )
    async with runtime.engine.connect() as conn:
        found = await queries.items_page(conn, wanted, limit=limit, offset=offset)
    return {**found, "items": [_as_seen(runtime, actor, item) for item in found["items"]]}


def _as_seen(runtime: ServiceRuntime, actor: Actor, row: dict[str, Any]) -> dict[str, Any]:
    """An item as this actor may see it, with the time left under the response limit."""
    limit = timedelta(hours=runtime.settings.response_limit_hours)
    return access.view(actor, queries.with_response_due(row, limit=limit, now=runtime.clock()))


@router.get(
    "/feedback/summary",
    summary="A unit's feedback by state; how many wait for a response, how many past the limit",
    response_model=answers.InboxSummary,
)
async def inbox_summary(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    overdue_since = runtime.clock() - timedelta(hours=runtime.settings.response_limit_hours)
    async with runtime.engine.connect() as conn:
        return await queries.inbox_summary(conn, root, overdue_since=overdue_since)


@router.get(
    "/feedback/{feedback_id}",
    summary="One feedback item, as you may see it",
    response_model=answers.FeedbackItem,
)
async def get_feedback(
    feedback_id: IdInPath, request: Request, actor: Anyone, min_position: MinPosition = None
) -> dict[str, Any]:
    return _as_seen(runtime_of(request), actor, await _item_for(request, actor, feedback_id, min_position))


@router.get(
    "/follow-up/{reference}",
    summary="Follow your feedback by its reference: state and history",
    response_model=answers.FollowUp,
)
async def follow_up(
    reference: Annotated[str, Path(pattern=REFERENCE_PATTERN, description="FL-YYYYMMDD-XXXXXXXX")],
    request: Request,
    actor: Anyone,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        row = await queries.by_reference(conn, reference)
        if not access.visible_to(actor, row):
            raise NotFound(f"no feedback has the reference {reference}")
        return await queries.follow_up(conn, row)


@router.get(
    "/public/follow-up/{reference}",
    summary="Follow feedback by its reference without signing in: states and dates only",
    response_model=answers.PublicFollowUp,
    dependencies=[Depends(FOLLOW_UP_LIMIT)],
    responses=TOO_MANY,
)
async def public_follow_up(
    reference: Annotated[str, Path(pattern=REFERENCE_PATTERN, description="FL-YYYYMMDD-XXXXXXXX")],
    request: Request,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    """The reference is the resident's receipt (about 10^12 possible a day): whoever holds it sees
    where the item stands, never what anyone wrote."""
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        row = await queries.by_reference(conn, reference)
        followed = await queries.follow_up(conn, row)
    return {**followed, "history": [{"what": s["what"], "at": s["at"]} for s in followed["history"]]}


@router.get("/callbacks/due", summary="Call-backs to make now", response_model=list_of(answers.DueCallback))
async def callbacks_due(request: Request, actor: Staff, unit: Unit = None) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, None)
    async with runtime.engine.connect() as conn:
        due = await queries.callbacks_due(conn, root, runtime.clock())
    return [access.contact_shown(actor, line) for line in due]


@router.get(
    "/callbacks/summary",
    summary="How many call-backs a unit has to make now",
    response_model=answers.CallbackSummary,
)
async def callbacks_summary(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return {"unit": root, "due": await queries.callbacks_due_count(conn, root, runtime.clock())}


@router.post(
    "/ratings", status_code=status.HTTP_201_CREATED, summary="Rate your member's service (once per period)"
)
async def rate(
    body: Rate, request: Request, actor: Resident, min_position: MinPosition = None
) -> BaseCommandAccepted:
    runtime = runtime_of(request)
    await runtime.wait_until_caught_up()
    if min_position:
        await runtime.wait_for(min_position)
    period = body.period or runtime.clock().astimezone(ZoneInfo(runtime.settings.timezone)).strftime("%Y-%m")
    async with runtime.engine.connect() as conn:
        link = await queries.card_link(conn, body.household_id)
    command = commands.RateMember(
        actor=actor,
        household_id=body.household_id,
        member_id=link[0] if link else None,
        card_id=link[1] if link else None,
        period=period,
        score=body.score,
        comment=body.comment,
    )
    answer_id = rating_id_for(body.household_id, period)
    return await dispatch(request, command, handlers.rate_member, actor=actor, answer_id=answer_id)


@router.get(
    "/members/{member_id}/ratings",
    summary="A member's ratings by period",
    response_model=answers.MemberRatings,
)
async def member_ratings(
    member_id: IdInPath, request: Request, actor: Anyone, min_position: MinPosition = None
) -> dict[str, Any]:
    if not (access.is_staff(actor) or actor.id == member_id):
        raise NotAllowed("ratings are for the member and the secretaries")
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        if actor.id != member_id:  # staff: only members of their own scope
            unit = await queries.member_unit(conn, member_id)
            if unit is None:
                raise NotFound(f"member {member_id} is not known here (yet)")
            ensure_scope(actor, unit)
        return await queries.member_ratings(conn, member_id)


@router.get(
    "/kpis",
    summary="Response, resolution and satisfaction rates, with counts; as of a date",
    response_model=list[answers.FeedbackFigures],
)
async def kpis(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    by: GroupBy = "community",
    month: Month = None,
    as_of: AsOf = None,
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    zone = ZoneInfo(runtime.settings.timezone)
    moment = end_of_day(as_of, zone) if as_of else runtime.clock()
    async with runtime.engine.connect() as conn:
        return await queries.rates(
            conn,
            unit=root,
            by=by,
            month=month,
            zone=zone,
            as_of=moment,
            response_limit=timedelta(hours=runtime.settings.response_limit_hours),
            now=as_of is None,
        )


@router.get(
    "/kpis/categories",
    summary="The month's feedback by category, or by building and category, the most first",
    response_model=list[answers.CategoryCount],
)
async def categories(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    month: Month = None,
    by: Annotated[str, Query(pattern="^(category|building)$")] = "category",
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    zone = ZoneInfo(runtime.settings.timezone)
    chosen = month or runtime.clock().astimezone(zone).strftime("%Y-%m")
    async with runtime.engine.connect() as conn:
        return await queries.by_category(conn, unit=root, month=chosen, zone=zone, by=by)


@router.get(
    "/kpis/ranking",
    summary="Groups ranked by a rate, only above the minimum sample size",
    response_model=answers.FeedbackRanking,
)
async def rank_groups(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    by: GroupBy = "community",
    month: Month = None,
    metric: Annotated[
        str, Query(pattern="^(response_rate|resolution_rate|satisfaction_rate)$")
    ] = "satisfaction_rate",
    lowest: Annotated[
        int | None, Query(ge=1, le=100, description="only this many at the bottom, the lowest first")
    ] = None,
) -> dict[str, Any]:
    figures = await kpis(request, actor, unit=unit, by=by, month=month)
    minimum = runtime_of(request).settings.ranking_min_sample
    return ranking(figures, metric=metric, minimum=minimum, sample=SAMPLE_OF[metric], lowest=lowest)
