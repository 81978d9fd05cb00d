"""An auditor's page: the history of a task (every event: who, when, why, every correction
round), of a service card or a member's card (every revision and its scope), and who was a
household's member on a given day; and the latest integrity check of the whole log."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import histories_for, opening
from fourlinks_console.figures import today_in
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.pages.search import PICKS, picked, to_pick
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services, part
from fourlinks_console.timeline import told, wanted_by
from fourlinks_console.web import pages_of, query

router = APIRouter()


@router.get("/history", name="history", dependencies=[opening("history")])
async def history_page(
    request: Request,
    person: CurrentPerson,
    kind: str = Query(default="task", pattern="^(task|card|member|household)$"),
    id: str = "",
    on: date | None = None,
) -> Response:
    services: Services = request.app.state.services
    found: object = None
    chosen, words = picked(request.query_params, "id")
    if words and kind in PICKS:  # words typed, not an id chosen: choose from what they find
        return to_pick(request, kind, words, back="/history" + query(kind=kind, on=on), field="id")
    wanted = chosen or words
    if wanted:
        path = {
            "task": f"/tasks/{part(wanted)}/timeline",
            "card": f"/cards/{part(wanted)}/history",
            "member": f"/members/{part(wanted)}",
            "household": f"/households/{part(wanted)}/member-on",
        }[kind]
        service = "assignments" if kind == "task" else "members"
        day = on or today_in(request.app.state.runtime.timezone)
        params = {"on": day.isoformat()} if kind == "household" else None
        found = await services.get(person.token, service, path, params)  # type: ignore[arg-type]
    if kind == "member" and isinstance(found, dict) and found.get("card_id"):
        found = {
            "member": found,
            "card": await services.get(person.token, "members", f"/cards/{part(found['card_id'])}/history"),
        }
    named = Wanted()
    if kind == "task" and isinstance(found, list):
        named = wanted_by(found)
    elif kind == "household" and isinstance(found, dict):
        named.member(found.get("member_id")).household(wanted)
    elif kind == "member":
        named.member(wanted)
    labels = await labels_for(request, person, named)
    if kind == "task" and isinstance(found, list):
        found = told(found, labels)
    kinds = histories_for(person)  # only what the reader may ask for
    context = {"kind": kind, "id": wanted, "on": on, "found": found, "kinds": kinds, "labels": labels}
    context["integrity"] = await services.integrity()
    return pages_of(request).render(request, "history.html", context)
