"""Members: capacity used, over capacity flagged, the 1 + X team, the card's history ("who was
this household's member on date X"), and deactivating or transferring a member."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.members import DeactivationReason

router = APIRouter()
MEMBERS_PAGE = 50


@router.get("/members", name="members", dependencies=[opening("members")])
async def members_page(
    request: Request, person: CurrentPerson, unit: str | None = None, over: bool = False, offset: int = 0
) -> Response:
    root = (unit or person.scope).strip("/")
    services: Services = request.app.state.services
    params = {
        "unit": root,
        "limit": MEMBERS_PAGE,
        "offset": max(offset, 0),
        "over_capacity": "true" if over else None,
    }
    listed = await services.get(person.token, "members", "/members", params)
    named = Wanted().trail(root).unit(*(mb["org_unit"] for mb in listed["items"]))
    return pages_of(request).render(
        request,
        "members.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "listed": listed,
            "over": over,
            "offset": offset,
            "page": MEMBERS_PAGE,
        },
    )


@router.get("/members/{member_id}", name="member", dependencies=[opening("member")])
async def member_page(
    request: Request, person: CurrentPerson, member_id: str, at: int | None = None
) -> Response:
    return await _render_member(request, person, member_id, at)


async def _render_member(
    request: Request, person: Person, member_id: str, at: int | None, refused: ServiceRefused | None = None
) -> Response:
    services: Services = request.app.state.services
    dashboard = await services.get(
        person.token, "members", f"/members/{part(member_id)}/dashboard", min_position=at
    )
    card_id = dashboard["member"].get("card_id")
    contacts = dashboard["households"]
    first = part(contacts[0]["household_id"]) if contacts else ""
    history, tasks, suggested = await asyncio.gather(
        services.get(person.token, "members", f"/cards/{part(card_id)}/history") if card_id else _nothing(),
        services.get(person.token, "assignments", f"/members/{part(member_id)}/tasks", min_position=at),
        services.get(person.token, "members", f"/households/{first}/suggested-members")
        if contacts and person.manages
        else _nothing(),
    )
    replacements = [s for s in suggested if s["member_id"] != member_id][:3]
    return pages_of(request).render(
        request,
        "member.html",
        {
            "labels": await labels_for(request, person, Wanted().trail(dashboard["member"]["org_unit"])),
            "dashboard": dashboard,
            "history": history,
            "tasks": tasks,
            "replacements": replacements,
            "reasons": list(DeactivationReason),
            "refused": refused,
        },
        status=refused.status if refused else 200,
    )


async def _nothing() -> list[dict[str, str]]:
    return []


@router.post("/members/{member_id}/deactivate")
async def deactivate(request: Request, person: CurrentPerson, form: CheckedForm, member_id: str) -> Response:
    """Deactivate: their card is revoked and their contacts uncovered in one write; the tasks they
    hold are flagged for reassignment with the suggested replacement."""
    body = {"reason": form.get("reason", ""), "note": form.get("note", "")}
    return await _member_command(request, person, member_id, "deactivate", body)


@router.post("/members/{member_id}/transfer")
async def transfer(request: Request, person: CurrentPerson, form: CheckedForm, member_id: str) -> Response:
    """Transfer to another unit: their contacts become uncovered."""
    body = {"to_unit": form.get("to_unit", "").strip(), "reason": form.get("reason", "")}
    return await _member_command(request, person, member_id, "transfer", body)


@router.post("/members/{member_id}/erase")
async def erase(request: Request, person: CurrentPerson, form: CheckedForm, member_id: str) -> Response:
    """Erase a member who left (PIPL Art. 47): their name and phone become unreadable for good."""
    return await _member_command(request, person, member_id, "erase", {})


async def _member_command(
    request: Request, person: Person, member_id: str, command: str, body: dict[str, str]
) -> Response:
    services: Services = request.app.state.services
    try:
        answer = await services.send(
            person.token, "members", f"/members/{part(member_id)}/{part(command)}", body
        )
    except ServiceRefused as refused:
        return await _render_member(request, person, member_id, None, refused)
    return see_other(f"/members/{part(member_id)}" + query(at=answer.get("position")))
