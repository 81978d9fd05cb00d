"""An auditor's page: the history of a task (every event: who, when, why, every correction
round) or of a service card (every revision and its scope, erased fields shown as erased)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of

router = APIRouter()
KINDS = ("task", "card", "member")


@router.get("/history", name="history")
async def history_page(
    request: Request,
    person: CurrentPerson,
    kind: str = Query(default="task", pattern="^(task|card|member)$"),
    id: str = "",
) -> Response:
    services: Services = request.app.state.services
    found: object = None
    wanted = id.strip()
    if wanted:
        path = {
            "task": f"/tasks/{wanted}/timeline",
            "card": f"/cards/{wanted}/history",
            "member": f"/members/{wanted}",
        }[kind]
        service = "assignments" if kind == "task" else "members"
        found = await services.get(person.token, service, path)  # type: ignore[arg-type]
    if kind == "member" and isinstance(found, dict) and found.get("card_id"):
        found = {
            "member": found,
            "card": await services.get(person.token, "members", f"/cards/{found['card_id']}/history"),
        }
    return pages_of(request).render(
        request, "history.html", {"kind": kind, "id": wanted, "found": found, "kinds": KINDS}
    )
