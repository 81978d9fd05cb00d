"""A household's doorway (门口): the page a printed service card's QR code opens on a phone, with no
account. It shows the household's (or enterprise's) member now and their public phone; from a card
still in force the resident reports a problem with photos, asks their member to call back, and
follows it by its reference. A card replaced since it was printed says so and names the member now;
a forged or cut-short link gets a page saying so.

The members service alone reads a link (it holds the key that signs them). Once it has, the console
acts for the household with a resident token of its own making that lives a few minutes and says it
came by a card (`via: card_qr`): the feedback service records that channel from it, and marks the
report unconfirmed (nobody confirmed the reporter's phone)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fourlinks_console.people import CheckedForm
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.uploads import uploaded_photos
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_kernel.access import Role
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.rate_limits import RateLimit
from fourlinks_runtime.settings import Settings

DOOR_LIMIT = RateLimit("opening a service card", per_client=30, overall=1200)
"""Card links opened and reports sent per client address a minute (the members service also limits
each card's)."""
REPORT_MINUTES = 15
"""How long the token a card's page reports with lives."""
router = APIRouter()


@router.get("/d/{link}", name="doorway", dependencies=[Depends(DOOR_LIMIT)])
async def doorway(request: Request, link: str, reference: str | None = None) -> Response:
    """Who the household's member is now; the report form while the card printed is in force."""
    door = await _opened(request, link)
    if isinstance(door, ServiceRefused):
        return _refused(request, door)
    return _page(request, link, door, reference=reference)


@router.post("/d/{link}/report", dependencies=[Depends(DOOR_LIMIT)])
async def report(request: Request, link: str, form: CheckedForm) -> Response:
    """A problem reported from the card's page: recorded for the household, by the card's QR code."""
    door = await _opened(request, link)
    if isinstance(door, ServiceRefused):
        return _refused(request, door)
    if door["replaced"] or door["member"] is None:
        return _page(request, link, door, status=409)
    token = _household_token(request, door)
    services: Services = request.app.state.services
    try:
        photos = await uploaded_photos(request, services, token, "feedback", "/photos")
        answer = await services.send(token, "feedback", "/feedback", _feedback(door, form, photos))
    except ServiceRefused as refused:
        return _page(request, link, door, refused=refused)
    return see_other(f"/d/{link}" + query(reference=answer.get("reference")))


async def _opened(request: Request, link: str) -> dict[str, Any] | ServiceRefused:
    """What the members service says the link opens, or its refusal (404: not a card's link)."""
    services: Services = request.app.state.services
    try:
        door: dict[str, Any] = await services.get(None, "members", f"/doorway/{part(link)}")
    except ServiceRefused as refused:
        return refused
    return door


def _household_token(request: Request, door: dict[str, Any]) -> str:
    """A short-lived resident token for the household the card names, saying it came by the card."""
    runtime: Settings = request.app.state.runtime
    return issue_token(
        runtime,
        subject=door["contact_id"],
        roles=[Role.RESIDENT],
        scope=door["org_unit"],
        lifetime=timedelta(minutes=REPORT_MINUTES),
        via="card_qr",
    )


def _feedback(door: dict[str, Any], form: dict[str, str], photos: list[dict[str, Any]]) -> dict[str, Any]:
    """The report as the feedback service takes it: a problem of the card's household or enterprise."""
    contact = "household_id" if door["contact_kind"] == "household" else "enterprise_id"
    return {
        "channel": "card_qr",
        "kind": "problem",
        "category": form.get("category", ""),
        "description": form.get("description", ""),
        contact: door["contact_id"],
        "call_back": form.get("call_back") == "yes",
        "photos": photos,
    }


def _page(
    request: Request,
    link: str,
    door: dict[str, Any],
    *,
    reference: str | None = None,
    refused: ServiceRefused | None = None,
    status: int = 200,
) -> Response:
    page = pages_of(request).render(
        request,
        "doorway.html",
        {"link": link, "door": door, "reference": reference, "refused": refused},
        status=refused.status if refused else status,
    )
    page.headers["Cache-Control"] = "no-store"  # the member's phone and the household's place
    page.headers["Referrer-Policy"] = "no-referrer"  # the card's link is in the address
    return page


def _refused(request: Request, refused: ServiceRefused) -> Response:
    """Not a card's link (forged, cut short: 404; malformed: 400), or its household erased (410),
    or too many tries (429): a page in the reader's language, never the service's JSON."""
    status = refused.status if refused.status in (404, 410, 429) else 400
    return pages_of(request).render(request, "doorway_refused.html", {"status": status}, status=status)
