"""A resident's pages, phone first (居民): following any feedback by its reference without signing
in (states and dates only), and, signed in through the link sent to the household's phone (its
page asks first, and signs in by a form), their own feedback: raising one (the reference number on
the spot), answering a call-back, rating their member once a month."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fourlinks_console.people import (
    CheckedForm,
    CurrentPerson,
    Person,
    session_of,
    sign_in,
    sign_out,
    signed_in,
)
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.uploads import photo_from, uploaded_photos
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.feedback import FeedbackKind, Resolved, Satisfaction
from fourlinks_runtime.rate_limits import RateLimit

LINK_LIMIT = RateLimit("residents' links and receipts", per_client=30, overall=1200)
"""Opening sign-in links and following receipts, per client address a minute: guessing is slowed."""
GONE = 410
"""What the services answer a household's sign-in link once the household was erased."""
router = APIRouter()
REFERENCE_HINT = "FL-20261130-ABCDEFGH"


@router.get("/follow", name="follow", dependencies=[Depends(LINK_LIMIT)])
async def follow(request: Request, reference: str | None = None) -> Response:
    """No sign-in: whoever holds a reference sees where that feedback stands."""
    found: dict[str, Any] | None = None
    refused: ServiceRefused | None = None
    wanted = (reference or "").strip().upper()
    if wanted:
        services: Services = request.app.state.services
        try:
            found = await services.get(None, "feedback", f"/public/follow-up/{part(wanted)}")
        except ServiceRefused as exc:
            refused = exc
    return pages_of(request).render(
        request,
        "follow.html",
        {"reference": wanted, "found": found, "refused": refused, "hint": REFERENCE_HINT},
        status=refused.status if refused else 200,
    )


@router.get("/r", name="resident_link", dependencies=[Depends(LINK_LIMIT)])
async def resident_link(request: Request, t: str = "") -> Response:
    """The link sent to a household's phone: a page asking to sign in as the household (opening
    the link signs nobody in, nor signs out whoever is signed in here: the page names them)."""
    resident = await _linked(request, t)
    if isinstance(resident, ServiceRefused):
        return _link_refused(request, resident)
    current = signed_in(request)
    if current is not None and _same(current, resident):
        return see_other("/r/feedback")
    return _confirm(request, t, current)


@router.post("/r", dependencies=[Depends(LINK_LIMIT)])
async def resident_signin(request: Request, form: CheckedForm) -> Response:
    """The link's token, once a service accepts it, starts the resident's session; another
    person's session is ended only when the page said so; the address without the token is where
    they land (no token in history)."""
    token = form.get("t", "")
    resident = await _linked(request, token)
    if isinstance(resident, ServiceRefused):
        return _link_refused(request, resident)
    current = signed_in(request)
    if current is not None and not _same(current, resident):
        if form.get("replace") != "yes":
            return _confirm(request, token, current, status=409)
        await sign_out(request)
    sign_in(request, resident)
    return see_other("/r/feedback")


async def _linked(request: Request, token: str) -> Person | ServiceRefused:
    """The household a link's token signs in, once the feedback service accepts the token (it
    checks signature, expiry, revocation and the household's erasure); else why not."""
    claims = _claims(token)
    if claims is None or "resident" not in claims.get("roles", []):
        return ServiceRefused(401, "not a sign-in link, or expired")
    services: Services = request.app.state.services
    try:
        await services.get(token, "feedback", "/feedback", {"limit": 1})
    except ServiceRefused as refused:
        return refused
    scope = str(claims.get("scope", ""))
    return Person(str(claims["sub"]), "", ("resident",), scope, token, float(claims["exp"]))


def _same(current: Person, resident: Person) -> bool:
    return current.id == resident.id and current.roles == resident.roles


def _confirm(request: Request, token: str, current: Person | None, *, status: int = 200) -> Response:
    page = pages_of(request).render(
        request, "resident_confirm.html", {"token": token, "other": current}, status=status
    )
    page.headers["Cache-Control"] = "no-store"  # the link's token is on the page
    return page


def _claims(token: str) -> dict[str, Any] | None:
    """What a token says about its holder, read without checking it (the services check it on
    every call; the console only needs who and until when)."""
    try:
        payload = token.split(".")[1]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    if not isinstance(claims, dict) or not claims.get("sub") or float(claims.get("exp", 0)) <= time.time():
        return None
    return claims


def _channel(person: Person) -> str:
    """The channel the household's feedback comes by: how it signed in (its texted sign-in link,
    whose token says so; else the web pages, through the identity provider)."""
    return str((_claims(person.token) or {}).get("via") or "web")


def _link_refused(request: Request, refused: ServiceRefused) -> Response:
    """The link no longer works: expired or signed out (401), or its household erased (410)."""
    erased = refused.status == GONE
    return pages_of(request).render(
        request, "resident_link.html", {"erased": erased}, status=GONE if erased else 401
    )


@router.get("/r/feedback", name="my_feedback")
async def my_feedback(
    request: Request,
    person: CurrentPerson,
    at: int | None = None,
    reference: str | None = None,
    rated: str | None = None,
) -> Response:
    return await _render(request, person, at=at, reference=reference, rated=rated == "yes")


async def _render(
    request: Request,
    person: Person,
    *,
    at: int | None = None,
    reference: str | None = None,
    rated: bool = False,
    refused: tuple[str, ServiceRefused] | None = None,
) -> Response:
    services: Services = request.app.state.services
    try:
        mine = await services.get(person.token, "feedback", "/feedback", {"limit": 50}, min_position=at)
    except ServiceRefused as gone:
        if gone.status != GONE:
            raise
        session_of(request).renew()  # erased: the session ends; the link stays dead, not revoked
        return _link_refused(request, gone)
    return pages_of(request).render(
        request,
        "resident.html",
        {
            "items": mine["items"],
            "kinds": list(FeedbackKind),
            "resolved": list(Resolved),
            "satisfaction": list(Satisfaction),
            "reference": reference,
            "rated": rated,
            "refused": refused,
        },
        status=refused[1].status if refused else 200,
    )


@router.post("/r/feedback")
async def submit(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    services: Services = request.app.state.services
    try:
        photos = await uploaded_photos(request, services, person.token, "feedback", "/photos")
    except ServiceRefused as refused:
        return await _render(request, person, refused=("new", refused))
    body = {
        "channel": _channel(person),
        "kind": form.get("kind", "problem"),
        "category": form.get("category", ""),
        "description": form.get("description", ""),
        "household_id": person.id,
        "anonymous": form.get("anonymous") == "yes",
        "confidential": form.get("confidential") == "yes",
        "notify": form.get("notify") == "yes",
        "photos": photos,
    }
    try:
        answer = await services.send(person.token, "feedback", "/feedback", body)
    except ServiceRefused as refused:
        return await _render(request, person, refused=("new", refused))
    return see_other("/r/feedback" + query(at=answer.get("position"), reference=answer.get("reference")))


@router.get("/r/feedback/{feedback_id}/photos/{sha256}")
async def photo(request: Request, person: CurrentPerson, feedback_id: str, sha256: str) -> Response:
    """A photo sent with the resident's feedback, from the feedback service."""
    path = f"/feedback/{part(feedback_id)}/photos/{part(sha256)}"
    return await photo_from(request.app.state.services, person.token, "feedback", path)


@router.post("/r/feedback/{feedback_id}/callback")
async def answer_callback(
    request: Request, person: CurrentPerson, form: CheckedForm, feedback_id: str
) -> Response:
    body = {
        "resolved": form.get("resolved", ""),
        "satisfaction": form.get("satisfaction", ""),
        "comment": form.get("comment", ""),
    }
    services: Services = request.app.state.services
    try:
        answer = await services.send(
            person.token, "feedback", f"/feedback/{part(feedback_id)}/callback", body
        )
    except ServiceRefused as refused:
        return await _render(request, person, refused=(feedback_id, refused))
    return see_other("/r/feedback" + query(at=answer.get("position")))


@router.post("/r/rating")
async def rate(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    score = form.get("score", "")
    body = {
        "household_id": person.id,
        "score": int(score) if score.isdigit() else score,  # anything else: the service says why not
        "comment": form.get("comment", ""),
    }
    services: Services = request.app.state.services
    try:
        answer = await services.send(person.token, "feedback", "/ratings", body)
    except ServiceRefused as refused:
        return await _render(request, person, refused=("rating", refused))
    return see_other("/r/feedback" + query(at=answer.get("position"), rated="yes"))
