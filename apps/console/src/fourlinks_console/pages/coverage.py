"""Coverage: street → community → grid → building with rates, a grid of the units below coloured
by coverage, and the uncovered households and enterprises, each with the suggested members and a
form that puts it on a member's card (issued, or revised with the full new scope)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other

router = APIRouter()
UNCOVERED_PAGE = 20
CARD_KINDS = {"household": "households", "enterprise": "enterprises"}


@router.get("/coverage", name="coverage", dependencies=[opening("coverage")])
async def coverage_page(
    request: Request, person: CurrentPerson, unit: str | None = None, offset: int = 0, at: int | None = None
) -> Response:
    return await _render(request, person, (unit or person.scope).strip("/"), max(offset, 0), at)


async def _render(
    request: Request,
    person: Person,
    root: str,
    offset: int,
    at: int | None,
    *,
    refused: dict[str, ServiceRefused] | None = None,
    status: int = 200,
) -> Response:
    services: Services = request.app.state.services
    token = person.token
    below, here, uncovered = await asyncio.gather(
        services.get(token, "members", "/coverage/below", {"unit": root}),
        services.get(token, "members", "/coverage", {"unit": root}, min_position=at),
        services.get(
            token, "members", "/coverage/uncovered", {"unit": root, "limit": UNCOVERED_PAGE, "offset": offset}
        ),
    )
    named = Wanted().trail(root)
    for item in uncovered["items"]:
        named.household(item.get("household_id")).unit(item["org_unit"])
        named.unit(*(s["org_unit"] for s in item.get("suggested_members") or []))
    return pages_of(request).render(
        request,
        "coverage.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "coverage": here,
            "below": below,
            "uncovered": uncovered,
            "offset": offset,
            "page": UNCOVERED_PAGE,
            "refused": refused or {},
        },
        status=status,
    )


@router.post("/coverage/cards")
async def put_on_card(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    """Put an uncovered contact on the chosen member's card: issue one, or revise theirs with the
    contact added (the full new scope, as the service wants)."""
    root = form.get("unit", person.scope)
    contact, kind = form.get("contact_id", ""), form.get("kind", "")
    try:
        position = await _add_to_card(request, person, form, contact, CARD_KINDS.get(kind, "households"))
    except ServiceRefused as refused:
        return await _render(
            request, person, root, 0, None, refused={contact: refused}, status=refused.status
        )
    return see_other("/coverage" + query(unit=root, at=position))


async def _add_to_card(
    request: Request, person: Person, form: dict[str, str], contact: str, field: str
) -> int:
    services: Services = request.app.state.services
    member_id = form.get("member_id", "")
    if not member_id:
        raise ServiceRefused(
            422,
            "choose a member",
            {"member_id": "required"},
            code="invalid_input",
            params={"fields": [{"field": "member_id", "reason": "required"}]},
        )
    member = await services.get(person.token, "members", f"/members/{part(member_id)}")
    if not member.get("card_id"):
        body: dict[str, Any] = {field: [contact], "service_matters": [form.get("matter") or "other"]}
        answer = await services.send(person.token, "members", f"/members/{part(member_id)}/card", body)
        return int(answer["position"])
    history = await services.get(person.token, "members", f"/cards/{part(member['card_id'])}/history")
    current = history[-1]
    body = {
        "households": current["households"],
        "enterprises": current["enterprises"],
        "service_matters": current["service_matters"],
        "matters_note": current["matters_note"],
        "reason": form.get("reason") or "新增联系对象 (a contact added from the coverage page)",
        "expected_revision": current["revision"],  # a revision made meanwhile is not overwritten: 409
    }
    body[field] = [*body[field], contact]
    answer = await services.send(
        person.token, "members", f"/members/{part(member_id)}/card", body, method="PUT"
    )
    return int(answer["position"])
