"""HTTP API of the notices: the secretaries' list (dead letters first of all) and sending one
again; a household's sign-in link sent to its phone."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from fourlinks_contracts.refusals import CONTACT_NOT_REGISTERED
from fourlinks_directory.members_directory import household_erased
from fourlinks_kernel.errors import Gone, NotFound
from fourlinks_notifications.application import answers, handlers, queries
from fourlinks_notifications.application.commands import RequestSignInLink, SendAgain
from fourlinks_notifications.settings import Channels
from fourlinks_runtime.edge import IdInPath
from fourlinks_runtime.guards import Secretary
from fourlinks_runtime.http import (
    CommandAccepted,
    Limit,
    MinPosition,
    Offset,
    Unit,
    caught_up,
    command_context,
    dispatch,
    scope_root,
)

router = APIRouter(tags=["notices"])


class NoticeState(StrEnum):
    """Where a notice stands."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@router.get(
    "/notices",
    summary="Notices in your scope; `state=dead` lists the dead letters",
    response_model=answers.NoticePage,
)
async def list_notices(
    request: Request,
    actor: Secretary,
    unit: Unit = None,
    state: NoticeState | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        total, rows = await queries.notices_in(
            conn, unit=root, state=state.value if state else None, limit=limit, offset=offset
        )
    items = [{**row._mapping, "params": json.loads(row.params)} for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


class Reach(BaseModel):
    """Who the configured channels reach (nothing secret): those they do not are kept, not sent."""

    staff: bool
    residents: bool


@router.get(
    "/notices/reach", summary="Whether members, secretaries and residents can be told", response_model=Reach
)
async def reach(request: Request, _: Secretary) -> Reach:
    channels: Channels = request.app.state.channels
    return Reach(staff=channels.reaches_staff, residents=channels.reaches_residents)


@router.post(
    "/notices/{notice_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a dead letter again (a full round of attempts)",
)
async def retry_notice(
    notice_id: IdInPath, request: Request, actor: Secretary, min_position: MinPosition = None
) -> CommandAccepted:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.notice(conn, notice_id)
    if found is None:
        raise NotFound(f"no notice {notice_id}")
    handlers.ensure_secretary(actor, found.org_unit)
    return await dispatch(
        request, SendAgain(notice_id), handlers.send_again, actor=actor, answer_id=notice_id
    )


@router.post(
    "/households/{household_id}/sign-in-link",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a household its sign-in link by text message (never to an erased household: 410)",
)
async def send_sign_in_link(
    household_id: IdInPath, request: Request, actor: Secretary, min_position: MinPosition = None
) -> CommandAccepted:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        org_unit = await queries.contact_unit(conn, household_id, "household")
        erased = org_unit is None and await household_erased(conn, household_id)
    if erased:
        raise Gone(f"household {household_id} was erased: no sign-in link is sent to it")
    if org_unit is None:
        raise NotFound(
            f"no household {household_id} (just registered? send its position as X-Min-Position)",
            CONTACT_NOT_REGISTERED,
            field="household_id",
            kind="household",
        )
    handlers.ensure_secretary(actor, org_unit)
    request_id = command_context(request, actor).id_for("sign-in-link")
    command = RequestSignInLink(request_id, household_id, org_unit)
    return await dispatch(request, command, handlers.request_link, actor=actor, answer_id=request_id)
