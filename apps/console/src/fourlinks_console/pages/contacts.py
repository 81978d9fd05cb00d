"""A household's page and an enterprise's (住户、企业): who lives or answers there (as the reader may
see them: the members service answers), their card and member, the visits, and the tasks and
feedback about them (each service answers only what the reader may read: an anonymous item is
not listed as theirs for whoever may not know who sent it); a household's sign-in link sent from
the page. Search results and every list that names a household or an enterprise lead here."""

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
LISTED = 50
"""Tasks and feedback a page lists (the latest; the total says how many there are)."""
VISITS = 20


@router.get("/households/{household_id}", name="household", dependencies=[opening("household")])
async def household_page(
    request: Request, person: CurrentPerson, household_id: str, at: int | None = None, sent: str = ""
) -> Response:
    return await _render(request, person, "household", household_id, at=at, link_sent=sent == "link")


@router.get("/enterprises/{enterprise_id}", name="enterprise", dependencies=[opening("enterprise")])
async def enterprise_page(
    request: Request, person: CurrentPerson, enterprise_id: str, at: int | None = None
) -> Response:
    return await _render(request, person, "enterprise", enterprise_id, at=at)


async def _render(
    request: Request,
    person: Person,
    kind: str,
    contact_id: str,
    *,
    at: int | None = None,
    link_sent: bool = False,
    refused: ServiceRefused | None = None,
) -> Response:
    services: Services = request.app.state.services
    token, base = person.token, f"/{kind}s/{part(contact_id)}"
    contact, card, visits = await asyncio.gather(
        services.get(token, "members", base, min_position=at),
        services.get(token, "members", f"{base}/card", min_position=at),
        services.get(token, "members", f"{base}/visits", {"limit": VISITS}, min_position=at),
    )
    about = {kind: contact_id, "limit": LISTED}
    tasks, feedback = await asyncio.gather(
        services.get(token, "assignments", "/tasks", about),
        services.get(token, "feedback", "/feedback", about),
    )
    named = (
        Wanted()
        .trail(contact["org_unit"])
        .household(contact_id if kind == "household" else None)
        .member(*(v["member_id"] for v in visits), *(t.get("assignee") for t in tasks["items"]))
        .unit(*(t.get("origin_unit") or t["org_unit"] for t in tasks["items"]))
    )
    return pages_of(request).render(
        request,
        f"{kind}.html",
        {
            "kind": kind,
            "contact": contact,
            "card": card,
            "visits": visits,
            "tasks": tasks,
            "feedback": feedback,
            "labels": await labels_for(request, person, named),
            "link_sent": link_sent,
            "refused": refused,
        },
        status=refused.status if refused else 200,
    )


@router.post("/households/{household_id}/sign-in-link")
async def sign_in_link(
    request: Request, person: CurrentPerson, form: CheckedForm, household_id: str
) -> Response:
    """The household is sent the link its residents sign in with (by text, to its phone)."""
    services: Services = request.app.state.services
    try:
        answer: dict[str, Any] = await services.send(
            person.token, "notifications", f"/households/{part(household_id)}/sign-in-link", {}
        )
    except ServiceRefused as refused:
        return await _render(request, person, "household", household_id, refused=refused)
    return see_other(f"/households/{part(household_id)}" + query(at=answer.get("position"), sent="link"))
