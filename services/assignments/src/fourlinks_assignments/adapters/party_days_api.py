"""HTTP API of themed party days: record one with its agenda, list them, sum one up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import Field

from fourlinks_assignments.application import answers, commands, handlers, queries
from fourlinks_assignments.domain.party_days import session_id_for
from fourlinks_kernel.access import ensure_scope
from fourlinks_runtime.answers import list_of
from fourlinks_runtime.edge import (
    Body,
    Day,
    IdInPath,
    Line,
    UnitPath,
)
from fourlinks_runtime.guards import (
    Secretary,
)
from fourlinks_runtime.guards import StaffOrInspector as Staff
from fourlinks_runtime.http import (
    CommandAccepted,
    MinPosition,
    Unit,
    caught_up,
    dispatch,
    scope_root,
)

router = APIRouter(tags=["tasks"])


class HoldPartyDay(Body):
    """A themed party day session."""

    community: UnitPath
    held_on: Day
    agenda: list[Line] = Field(min_length=1, max_length=50)


# -- themed party days -----------------------------------------------------------------------------
@router.post(
    "/party-days", status_code=status.HTTP_201_CREATED, summary="Record a themed party day and its agenda"
)
async def hold_party_day(body: HoldPartyDay, request: Request, actor: Secretary) -> CommandAccepted:
    community = body.community.strip("/")
    command = commands.HoldPartyDay(actor, community, body.held_on, body.agenda)
    answer_id = session_id_for(community, body.held_on)
    return await dispatch(request, command, handlers.hold_party_day, actor=actor, answer_id=answer_id)


@router.get(
    "/party-days", summary="Themed party days of a community", response_model=list_of(answers.PartyDayView)
)
async def list_party_days(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.party_days_under(conn, root)


@router.get(
    "/party-days/{session_id}/summary",
    summary="What a session handed out, and what closed since the last",
    response_model=answers.PartyDaySummary,
)
async def party_day_summary(
    session_id: IdInPath, request: Request, actor: Staff, min_position: MinPosition = None
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        summary = await queries.party_day_summary(conn, session_id)
    ensure_scope(actor, summary["community"])
    return summary
