"""Call-backs due (回访): whom to call now, and recording the answer — resolved? satisfied? (One
nobody answers is recorded as not reached by the feedback service when its time runs out.)"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.feedback import Resolved, Satisfaction

router = APIRouter()


@router.get("/callbacks", name="callbacks", dependencies=[opening("callbacks")])
async def callbacks_page(
    request: Request, person: CurrentPerson, unit: str | None = None, at: int | None = None
) -> Response:
    return await _render(request, person, (unit or person.scope).strip("/"), at)


async def _render(
    request: Request,
    person: Person,
    root: str,
    at: int | None,
    refused: tuple[str, ServiceRefused] | None = None,
) -> Response:
    services: Services = request.app.state.services
    due, summary = await asyncio.gather(
        services.get(person.token, "feedback", "/callbacks/due", {"unit": root}, min_position=at),
        services.get(person.token, "feedback", "/callbacks/summary", {"unit": root}, min_position=at),
    )
    named = Wanted().trail(root)
    for callback in due:
        named.unit(callback["org_unit"]).household(callback.get("household_id"))
    return pages_of(request).render(
        request,
        "callbacks.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "due": due,
            "summary": summary,
            "resolved": list(Resolved),
            "satisfaction": list(Satisfaction),
            "refused": refused,
        },
        status=refused[1].status if refused else 200,
    )


@router.post("/callbacks/{feedback_id}")
async def record(request: Request, person: CurrentPerson, form: CheckedForm, feedback_id: str) -> Response:
    root = form.get("unit") or person.scope
    services: Services = request.app.state.services
    body = {
        "resolved": form.get("resolved", ""),
        "satisfaction": form.get("satisfaction", ""),
        "comment": form.get("comment", ""),
    }
    path = f"/feedback/{part(feedback_id)}/callback"
    try:
        answer = await services.send(person.token, "feedback", path, body)
    except ServiceRefused as refused:
        return await _render(request, person, root, None, (feedback_id, refused))
    return see_other("/callbacks" + query(unit=root, at=answer.get("position")))


@router.post("/callbacks/{feedback_id}/not-reached")
async def not_reached(
    request: Request, person: CurrentPerson, form: CheckedForm, feedback_id: str
) -> Response:
    """Nobody answered the call: recorded as not reached, which counts in no rate."""
    root = form.get("unit") or person.scope
    services: Services = request.app.state.services
    path = f"/feedback/{part(feedback_id)}/callback/not-reached"
    try:
        answer = await services.send(person.token, "feedback", path, {})
    except ServiceRefused as refused:
        return await _render(request, person, root, None, (feedback_id, refused))
    return see_other("/callbacks" + query(unit=root, at=answer.get("position")))
