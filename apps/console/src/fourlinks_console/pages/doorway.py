"""A household's doorway (门口): the page a printed service card's QR code opens on a phone, with no
account. It shows the household's (or enterprise's) member now and their public phone; from a card
still in force the resident reports a problem with photos, asks their member to call back, and
follows it by its reference. A card replaced since it was printed says so and names the member now;
a forged or cut-short link gets a page saying so.

The members service alone reads a link (it holds the key that signs them). Once it has, the console
acts for the household with a resident token of its own making that lives a few minutes and says it
came by a card (`via: card_qr`): the feedback service records that channel from it, and marks the
report unconfirmed — unless the reporter confirmed their phone. Where the notifications service has
an SMS provider, the page first asks for the reporter's mobile number and has a code texted to it;
the report is sent with the code, which the notifications service checks and answers with a
vouching the console hands on to the feedback service in the same request (never to the browser).
The phone goes to the notifications service only, in a request body: never in an address."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fourlinks_console.people import CheckedForm
from fourlinks_console.services import ServiceRefused, Services, ServiceUnavailable, part
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
CODE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
"""A texted code's id, as the notifications service makes them (anything else is not one)."""
router = APIRouter()


@router.get("/d/{link}", name="doorway", dependencies=[Depends(DOOR_LIMIT)])
async def doorway(
    request: Request, link: str, reference: str | None = None, sent: str | None = None
) -> Response:
    """Who the household's member is now; the report form while the card printed is in force (with
    SMS, first the phone to text a code to; once `sent`, the code's box)."""
    door = await _opened(request, link)
    if isinstance(door, ServiceRefused):
        return _refused(request, door)
    confirming = await _confirming(request, door)
    code_id = sent if confirming and sent and CODE_ID.match(sent) else None
    return _page(request, link, door, reference=reference, confirming=confirming, code_id=code_id)


@router.post("/d/{link}/code", dependencies=[Depends(DOOR_LIMIT)])
async def send_code(request: Request, link: str, form: CheckedForm) -> Response:
    """Text a one-time code to the reporter's phone, then show the report form with the code's box."""
    door = await _opened(request, link)
    if isinstance(door, ServiceRefused):
        return _refused(request, door)
    if door["replaced"] or door["member"] is None:
        return _page(request, link, door, status=409)
    services: Services = request.app.state.services
    phone = {"phone": _mobile(form.get("phone", ""))}
    try:
        sent = await services.send(_household_token(request, door), "notifications", "/phone-codes", phone)
    except ServiceRefused as refused:
        return _page(request, link, door, refused=refused, confirming=True)
    except ServiceUnavailable:
        return _page(request, link, door, refused=_not_sent(), confirming=True)
    return see_other(f"/d/{link}" + query(sent=sent["code_id"]))


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
    code_id = form.get("code_id", "")
    confirmed = await _confirmed(request, door, token, code_id, form.get("code", ""))
    if isinstance(confirmed, ServiceRefused):
        retry = code_id if confirmed.code == "phone_code_wrong" and CODE_ID.match(code_id) else None
        return _page(request, link, door, refused=confirmed, confirming=True, code_id=retry, said=form)
    try:
        photos = await uploaded_photos(request, services, token, "feedback", "/photos")
        report = _feedback(door, form, photos, confirmed)
        answer = await services.send(token, "feedback", "/feedback", report)
    except ServiceRefused as refused:
        return _page(request, link, door, refused=refused, said=form)
    return see_other(f"/d/{link}" + query(reference=answer.get("reference")))


async def _opened(request: Request, link: str) -> dict[str, Any] | ServiceRefused:
    """What the members service says the link opens, or its refusal (404: not a card's link)."""
    services: Services = request.app.state.services
    try:
        door: dict[str, Any] = await services.get(None, "members", f"/doorway/{part(link)}")
    except ServiceRefused as refused:
        return refused
    return door


async def _confirming(request: Request, door: dict[str, Any]) -> bool:
    """Whether the reporter's phone is confirmed by a texted code here (the notifications service
    has an SMS provider); not while the card takes no reports, nor while the service is away."""
    if door["replaced"] or door["member"] is None:
        return False
    services: Services = request.app.state.services
    try:
        found = await services.get(_household_token(request, door), "notifications", "/phone-codes/offered")
    except (ServiceRefused, ServiceUnavailable):
        return False  # the report is then recorded unconfirmed, as without SMS
    return bool(found.get("offered"))


async def _confirmed(
    request: Request, door: dict[str, Any], token: str, code_id: str, code: str
) -> str | ServiceRefused | None:
    """The vouching for the reporter's phone once the notifications service took the code typed;
    None where phones are not confirmed; the refusal otherwise (a wrong or spent code, none typed)."""
    services: Services = request.app.state.services
    if not code_id:
        if await _confirming(request, door):
            return ServiceRefused(422, "confirm your phone first", code="phone_not_confirmed")
        return None
    if not CODE_ID.match(code_id):
        return ServiceRefused(409, "not a code texted", code="phone_code_used")
    path = f"/phone-codes/{part(code_id)}/confirmation"
    try:
        vouched = await services.send(token, "notifications", path, {"code": code.strip()})
    except ServiceRefused as refused:
        return refused
    except ServiceUnavailable:
        return ServiceRefused(503, "the code could not be checked", code="unavailable")
    return str(vouched["confirmation"])


def _mobile(typed: str) -> str:
    """A mobile number as people type it (spaces, dashes, +86) as the SMS provider takes it."""
    digits = re.sub(r"[\s\-()]", "", typed)
    return re.sub(r"^(\+?86)(?=1\d{10}$)", "", digits)


def _not_sent() -> ServiceRefused:
    return ServiceRefused(503, "the code could not be texted", code="code_not_sent")


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


def _feedback(
    door: dict[str, Any], form: dict[str, str], photos: list[dict[str, Any]], confirmation: str | None
) -> dict[str, Any]:
    """The report as the feedback service takes it: a problem of the card's household or enterprise,
    with the vouching for the reporter's phone where one was confirmed."""
    contact = "household_id" if door["contact_kind"] == "household" else "enterprise_id"
    return {
        "phone_confirmation": confirmation,
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
    confirming: bool = False,
    code_id: str | None = None,
    said: dict[str, str] | None = None,
) -> Response:
    """The page; `confirming`: the phone is asked for (and the code once `code_id` was texted);
    `said`: the report as sent, written back into the form after a refusal."""
    shown = {"link": link, "door": door, "reference": reference, "refused": refused}
    asked = {"confirming": confirming, "code_id": code_id, "said": said or {}}
    page = pages_of(request).render(
        request, "doorway.html", {**shown, **asked}, status=refused.status if refused else status
    )
    page.headers["Cache-Control"] = "no-store"  # the member's phone and the household's place
    page.headers["Referrer-Policy"] = "no-referrer"  # the card's link is in the address
    return page


def _refused(request: Request, refused: ServiceRefused) -> Response:
    """Not a card's link (forged, cut short: 404; malformed: 400), or its household erased (410),
    or too many tries (429): a page in the reader's language, never the service's JSON."""
    status = refused.status if refused.status in (404, 410, 429) else 400
    return pages_of(request).render(request, "doorway_refused.html", {"status": status}, status=status)
