"""HTTP API of party members, their 1 + X teams and service cards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import Field

from fourlinks_contracts.members import DeactivationReason, HelperRole
from fourlinks_kernel.access import ensure_scope
from fourlinks_members.adapters.common import (
    Anyone,
    CommandAccepted,
    Limit,
    MinPosition,
    Name,
    Offset,
    Phone,
    Reason,
    Secretary,
    Staff,
    Unit,
    caught_up,
)
from fourlinks_members.application import access, answers, commands, handlers, queries
from fourlinks_members.domain.cards import card_id_for
from fourlinks_runtime.edge import Body, Choice, EntityId, IdInPath, Label, Line, Note, UnitPath
from fourlinks_runtime.http import command_context, dispatch, runtime_of, scope_root

router = APIRouter(tags=["members"])
Matters = list[Label]


class RegisterMember(Body):
    """A party member to register in their home org unit."""

    name: Name
    public_phone: Phone
    party_branch: Line
    org_unit: UnitPath = Field(description="home unit: community, grid or building")
    capacity: int | None = Field(default=None, ge=1, le=500, description="contacts they can serve")


class UpdateMember(Body):
    """A member's new card-facing details or capacity."""

    name: Name
    public_phone: Phone
    party_branch: Line
    capacity: int = Field(ge=1, le=500)


class TransferMember(Body):
    """Where the member moves, and why."""

    to_unit: UnitPath
    reason: Reason


class DeactivateMember(Body):
    """Why the member stops serving."""

    reason: Choice[DeactivationReason]
    note: Note = ""


class AttachHelper(Body):
    """A helper joining the member's 1 + X team."""

    role: Choice[HelperRole]
    name: Name
    phone: Phone | None = None


class CardScope(Body):
    """A card's contact scope and service matters."""

    households: list[EntityId] = Field(default_factory=list, max_length=500)
    enterprises: list[EntityId] = Field(default_factory=list, max_length=500)
    service_matters: Matters = Field(
        min_length=1, max_length=50, description="codes from GET /service-matters"
    )
    matters_note: Note = Field(default="", description="free text beyond the catalogue")
    public_phone: Phone | None = Field(default=None, description="default: the member's public phone")


class ReviseCard(CardScope):
    """A new revision of the card: the full new scope, and why it changed."""

    reason: Reason
    expected_revision: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="the revision the scope was read from: if the card moved on since, 409, nothing changes",
    )


class DetachHelper(Body):
    """Why the helper leaves the member's 1 + X team."""

    reason: Reason


class RevokeCard(Body):
    """Why the card stops being valid."""

    reason: Reason


def _settings_capacity(request: Request) -> int:
    capacity: int = request.app.state.settings.member_default_capacity
    return capacity


@router.post("/members", status_code=status.HTTP_201_CREATED, summary="Register a party member")
async def register_member(body: RegisterMember, request: Request, actor: Secretary) -> CommandAccepted:
    member_id = command_context(request, actor).id_for("member")

    return await dispatch(
        request,
        commands.RegisterMember(
            actor=actor,
            member_id=member_id,
            name=body.name,
            public_phone=body.public_phone,
            party_branch=body.party_branch,
            org_unit=body.org_unit.strip("/"),
            capacity=body.capacity or _settings_capacity(request),
        ),
        handlers.register_member,
        actor=actor,
        answer_id=member_id,
    )


@router.put("/members/{member_id}", summary="Update a member's details or capacity")
async def update_member(
    member_id: IdInPath, body: UpdateMember, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.UpdateMember(actor=actor, member_id=member_id, **body.model_dump()),
        handlers.update_member,
        actor=actor,
        answer_id=member_id,
    )


@router.post("/members/{member_id}/transfer", summary="Transfer a member; their contacts become uncovered")
async def transfer_member(
    member_id: IdInPath, body: TransferMember, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.TransferMember(
            actor=actor, member_id=member_id, to_unit=body.to_unit.strip("/"), reason=body.reason
        ),
        handlers.transfer_member,
        actor=actor,
        answer_id=member_id,
    )


@router.post(
    "/members/{member_id}/deactivate", summary="Deactivate a member; their contacts become uncovered"
)
async def deactivate_member(
    member_id: IdInPath, body: DeactivateMember, request: Request, actor: Secretary
) -> CommandAccepted:
    runtime = await caught_up(request, None)
    async with runtime.engine.connect() as conn:
        member = await queries.member_row(conn, member_id)
        best = await queries.suggestions(conn, member["org_unit"], exclude=member_id)

    return await dispatch(
        request,
        commands.DeactivateMember(
            actor=actor,
            member_id=member_id,
            reason=body.reason,
            note=body.note,
            suggested_replacement_id=best[0]["member_id"] if best else None,
        ),
        handlers.deactivate_member,
        actor=actor,
        answer_id=member_id,
    )


@router.post(
    "/members/{member_id}/erase",
    summary="Erase a member who left (PIPL Art. 47): their key is destroyed for good, and with it "
    "their name and public phone in history; what they did stays, done by a member",
)
async def erase_member(member_id: IdInPath, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.EraseMember(actor=actor, member_id=member_id)
    erase = handlers.with_keys(handlers.erase_member, runtime_of(request).cipher)
    return await dispatch(request, command, erase, actor=actor, answer_id=member_id)


@router.post("/members/{member_id}/helpers", status_code=status.HTTP_201_CREATED, summary="Attach a helper")
async def attach_helper(
    member_id: IdInPath, body: AttachHelper, request: Request, actor: Secretary
) -> CommandAccepted:
    helper_id = command_context(request, actor).id_for("helper")

    return await dispatch(
        request,
        commands.AttachHelper(
            actor=actor,
            member_id=member_id,
            helper_id=helper_id,
            role=body.role,
            name=body.name,
            phone=body.phone,
        ),
        handlers.attach_helper,
        actor=actor,
        answer_id=helper_id,
    )


@router.post("/members/{member_id}/helpers/{helper_id}/detach", summary="Detach a helper")
async def detach_helper(
    member_id: IdInPath, helper_id: IdInPath, body: DetachHelper, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.DetachHelper(actor=actor, member_id=member_id, helper_id=helper_id, reason=body.reason),
        handlers.detach_helper,
        actor=actor,
        answer_id=helper_id,
    )


@router.post("/members/{member_id}/card", status_code=status.HTTP_201_CREATED, summary="Issue a service card")
async def issue_card(
    member_id: IdInPath, body: CardScope, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.IssueCard(
            actor=actor,
            member_id=member_id,
            households=body.households,
            enterprises=body.enterprises,
            matters=body.service_matters,
            note=body.matters_note,
            public_phone=body.public_phone,
        ),
        handlers.issue_card,
        actor=actor,
        answer_id=card_id_for(member_id),
    )


@router.put("/members/{member_id}/card", summary="Revise a service card (full new scope)")
async def revise_card(
    member_id: IdInPath, body: ReviseCard, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.ReviseCard(
            actor=actor,
            member_id=member_id,
            households=body.households,
            enterprises=body.enterprises,
            matters=body.service_matters,
            note=body.matters_note,
            reason=body.reason,
            public_phone=body.public_phone,
            expected_revision=body.expected_revision,
        ),
        handlers.revise_card,
        actor=actor,
        answer_id=card_id_for(member_id),
    )


@router.post(
    "/members/{member_id}/card/revoke", summary="Revoke a service card; its contacts become uncovered"
)
async def revoke_card(
    member_id: IdInPath, body: RevokeCard, request: Request, actor: Secretary
) -> CommandAccepted:
    return await dispatch(
        request,
        commands.RevokeCard(actor=actor, member_id=member_id, reason=body.reason),
        handlers.revoke_card,
        actor=actor,
        answer_id=card_id_for(member_id),
    )


@router.get("/members", summary="Members under a unit", response_model=answers.MemberPage)
async def list_members(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    status: Annotated[str | None, Query(pattern="^(active|deactivated)$")] = None,
    over_capacity: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.members_page(
            conn, root, status=status, over_capacity=over_capacity, limit=limit, offset=offset
        )


@router.get("/members/{member_id}", summary="One member", response_model=answers.MemberView)
async def get_member(
    member_id: IdInPath, request: Request, actor: Anyone, min_position: MinPosition = None
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        member = await queries.member_row(conn, member_id)
    access.ensure_member_or_staff(actor, member_id, member["org_unit"])
    return member


@router.get(
    "/members/{member_id}/dashboard",
    summary="A member's card, team, contacts and overdue visits",
    response_model=answers.Dashboard,
)
async def member_dashboard(
    member_id: IdInPath, request: Request, actor: Anyone, min_position: MinPosition = None
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        member = await queries.member_row(conn, member_id)
        access.ensure_member_or_staff(actor, member_id, member["org_unit"])
        return await queries.dashboard(conn, member_id, today=runtime.today())


@router.get(
    "/cards/{card_id}/history",
    summary="Every revision of a card and when it was in force",
    response_model=list[answers.CardRevision],
)
async def card_history(
    card_id: IdInPath, request: Request, actor: Staff, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        history = await queries.card_history(conn, card_id)
        member = await queries.member_row(conn, history[0]["member_id"])
    ensure_scope(actor, member["org_unit"])
    return history


@router.get(
    "/service-matters",
    summary="The catalogue of service matters a card lists and a problem's category is chosen from",
    response_model=list[answers.ServiceMatter],
)
async def service_matters() -> list[dict[str, str]]:
    return queries.service_matters()
