"""The feedback inbox (意见箱): every item of the reader's unit by state, those waiting for a response
first with the time left under the response limit — the feedback service's answer, its limit and
its moment; the console counts nothing — and, from the page, the secretary's three answers to an
opinion, praise or question: answer it, route it to a task, or close it as a duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.i18n import Language
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.names import N_
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other

router = APIRouter()
LISTED = 50
"""Items a list shows (the service's page; the total says how many there are)."""
TIME_LEFT = N_("%(hours)s h %(minutes)s min left")
OVERDUE_BY = N_("overdue by %(hours)s h %(minutes)s min")
ACTIONS = ("answer", "route", "duplicate")
"""The inbox's actions: each the feedback command of its name (`POST /feedback/{id}/...`)."""


@router.get("/inbox", name="inbox", dependencies=[opening("inbox")])
async def inbox_page(
    request: Request,
    person: CurrentPerson,
    *,
    unit: str | None = None,
    state: str | None = Query(default=None, max_length=30),
    category: str | None = Query(default=None, max_length=60),
    at: int | None = None,
) -> Response:
    root = (unit or person.scope).strip("/")
    return await _render(request, person, root=root, chosen={"state": state, "category": category}, at=at)


async def _render(
    request: Request,
    person: Person,
    *,
    root: str,
    chosen: dict[str, str | None],
    at: int | None,
    refused: tuple[str, ServiceRefused] | None = None,
) -> Response:
    services: Services = request.app.state.services
    token = person.token
    listing = {"unit": root, "category": chosen["category"], "limit": LISTED}
    # Waiting first, the rest after: an item answered meanwhile then shows twice (kept once, as it is
    # now), never in neither list, as two reads side by side could leave it.
    waiting, summary = await asyncio.gather(
        services.get(token, "feedback", "/feedback", {**listing, "waiting": "true"}, min_position=at),
        services.get(token, "feedback", "/feedback/summary", {"unit": root}, min_position=at),
    )
    others = await services.get(
        token,
        "feedback",
        "/feedback",
        {**listing, "waiting": "false", "state": chosen["state"]},
        min_position=at,
    )
    moved_on = {i["feedback_id"] for i in others["items"]}
    waiting["items"] = [i for i in waiting["items"] if i["feedback_id"] not in moved_on]
    items = [*waiting["items"], *others["items"]]
    named = (
        Wanted()
        .trail(root)
        .unit(*(i["org_unit"] for i in items))
        .household(*(i.get("household_id") for i in items))
    )
    language = pages_of(request).language(request)
    return pages_of(request).render(
        request,
        "inbox.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "chosen": chosen,
            "summary": summary,
            "waiting": waiting,
            "others": others,
            "time_left": {
                i["feedback_id"]: time_left(i.get("response_seconds_left"), language) for i in items
            },
            "originals": items,
            "refused": refused,
        },
        status=refused[1].status if refused else 200,
    )


def time_left(seconds: int | None, language: Language) -> str | None:
    """The time the service says is left under the response limit, in words (past it: overdue by)."""
    if seconds is None:
        return None
    hours, minutes = divmod(abs(seconds) // 60, 60)
    said = TIME_LEFT if seconds >= 0 else OVERDUE_BY
    return language.gettext(said) % {"hours": hours, "minutes": minutes}


def body_of(action: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The command's body from the posted form."""
    if action == "answer":
        return {"answer": form.get("answer", "")}
    if action == "duplicate":
        return {"duplicate_of": form.get("duplicate_of", "").strip()}
    return {}


@router.post("/inbox/{feedback_id}/{action}")
async def act(
    request: Request, person: CurrentPerson, form: CheckedForm, feedback_id: str, action: str
) -> Response:
    """Answer, route or mark as a duplicate: the feedback service decides and says why not."""
    root = (form.get("unit") or person.scope).strip("/")
    chosen = {"state": form.get("state") or None, "category": form.get("category") or None}
    if action not in ACTIONS:
        raise ServiceRefused(404, "no such action", code="not_found")
    services: Services = request.app.state.services
    path = f"/feedback/{part(feedback_id)}/{action}"
    try:
        answer: dict[str, Any] = await services.send(person.token, "feedback", path, body_of(action, form))
    except ServiceRefused as refused:
        return await _render(
            request, person, root=root, chosen=chosen, at=None, refused=(feedback_id, refused)
        )
    return see_other(
        "/inbox" + query(unit=root, **chosen, at=answer.get("position")) + f"#item-{part(feedback_id)}"
    )
