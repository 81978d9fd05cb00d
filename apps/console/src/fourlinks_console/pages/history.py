"""An auditor's page: the history of a task (every event: who, when, why, every correction
round), of a service card or a member's card (every revision and its scope), and who was a
household's member on a given day; and the latest integrity check of the whole log."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.figures import today_in
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services, part
from fourlinks_console.web import pages_of

router = APIRouter()
KINDS = ("task", "card", "member", "household")


@router.get("/history", name="history")
async def history_page(
    request: Request,
    person: CurrentPerson,
    kind: str = Query(default="task", pattern="^(task|card|member|household)$"),
    id: str = "",
    on: date | None = None,
) -> Response:
    services: Services = request.app.state.services
    found: object = None
    wanted = id.strip()
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
    context = {"kind": kind, "id": wanted, "on": on, "found": found, "kinds": KINDS}
    context["integrity"] = await services.integrity()
    return pages_of(request).render(request, "history.html", context)
