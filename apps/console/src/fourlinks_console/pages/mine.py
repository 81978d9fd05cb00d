"""A party member's own pages, phone first (我的): the households and enterprises on their card with
the visits that are due, recording a visit in three taps (a problem found becomes a task), their
open tasks and their 1 + X team. An inspector's spot-check queue (抽查) lives here too: both are
one person's work list rather than a unit's records."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.figures import today_in
from fourlinks_console.labels import Labels, Place, Wanted, labels_for
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.members import ContactKind, Urgency

router = APIRouter()


@router.get("/me", name="mine", dependencies=[opening("mine")])
async def my_page(
    request: Request, person: CurrentPerson, at: int | None = None, done: str | None = None
) -> Response:
    services: Services = request.app.state.services
    dashboard, tasks = await asyncio.gather(
        services.get(person.token, "members", f"/members/{part(person.id)}/dashboard", min_position=at),
        services.get(person.token, "assignments", f"/members/{part(person.id)}/tasks", min_position=at),
    )
    named = Wanted().unit(*(h["org_unit"] for h in dashboard["households"]))
    labels = await labels_for(request, person, named)
    return pages_of(request).render(
        request,
        "me.html",
        {
            "labels": labels,
            "contacts": contacts_of(dashboard, labels),
            "dashboard": dashboard,
            "open_tasks": tasks["total"],
            "done": done,
        },
    )


def contacts_of(dashboard: dict[str, Any], labels: Labels) -> list[dict[str, Any]]:
    """The member's households and enterprises as one list, the visits due first (oldest first)."""
    listed = [
        {
            "kind": "household",
            "id": h["household_id"],
            "label": labels.address(Place(labels.units.get(h["org_unit"]), h["unit_no"], h["room"])),
            "people": [r["name"] for r in h["residents"] if r.get("name")],
            "due_on": h["visit_due_on"],
            "last_visit_on": h.get("last_visit_on"),
            "overdue": h["overdue"],
        }
        for h in dashboard["households"]
    ]
    listed += [  # enterprises keep no visiting cadence: never overdue, the last visit shown
        {
            "kind": "enterprise",
            "id": e["enterprise_id"],
            "label": e["name"],
            "people": [e["contact_name"]] if e.get("contact_name") else [],
            "due_on": None,
            "last_visit_on": e.get("last_visit_on"),
            "overdue": False,
        }
        for e in dashboard["enterprises"]
    ]
    return sorted(listed, key=lambda c: (not c["overdue"], c["due_on"] or "9999", c["label"]))


@router.get("/me/visits/new", name="new_visit", dependencies=[opening("new_visit")])
async def visit_form(request: Request, person: CurrentPerson, kind: str, contact: str) -> Response:
    return _visit_page(request, person, kind, contact)


def _visit_page(
    request: Request, person: Person, kind: str, contact: str, refused: ServiceRefused | None = None
) -> Response:
    timezone: str = request.app.state.runtime.timezone
    return pages_of(request).render(
        request,
        "me_visit.html",
        {
            "kind": kind if kind in set(ContactKind) else "household",
            "contact": contact,
            "today": today_in(timezone).isoformat(),
            "urgencies": list(Urgency),
            "refused": refused,
        },
        status=refused.status if refused else 200,
    )


@router.post("/me/visits")
async def record_visit(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    """The visit as the member saw it; with a problem, the assignments service raises a task."""
    body: dict[str, Any] = {
        "member_id": person.id,
        "contact_kind": form.get("kind", ""),
        "contact_id": form.get("contact", ""),
        "visited_on": form.get("visited_on", ""),
        "notes": form.get("notes", ""),
    }
    if form.get("problem") == "yes":
        body["problem"] = {
            "category": form.get("category", ""),
            "description": form.get("description", ""),
            "urgency": form.get("urgency", "general"),
        }
    services: Services = request.app.state.services
    try:
        answer = await services.send(person.token, "members", "/visits", body)
    except ServiceRefused as refused:
        return _visit_page(request, person, body["contact_kind"], body["contact_id"], refused)
    return see_other("/me" + query(at=answer.get("position"), done="visit"))


@router.get("/me/tasks", name="my_tasks", dependencies=[opening("my_tasks")])
async def my_tasks(request: Request, person: CurrentPerson, at: int | None = None) -> Response:
    services: Services = request.app.state.services
    tasks = await services.get(
        person.token, "assignments", f"/members/{part(person.id)}/tasks", min_position=at
    )
    labels = await labels_for(request, person, Wanted().unit(*(t["origin_unit"] for t in tasks["items"])))
    return pages_of(request).render(
        request, "me_tasks.html", {"tasks": tasks["items"], "total": tasks["total"], "labels": labels}
    )


@router.get("/checks", name="checks", dependencies=[opening("checks")])
async def spot_check_queue(request: Request, person: CurrentPerson, unit: str | None = None) -> Response:
    """Resolved tasks waiting for a spot check in the inspector's scope, oldest first; never work
    the inspector did or helped with (the assignments service leaves those out)."""
    root = (unit or person.scope).strip("/")
    services: Services = request.app.state.services
    wanted = {"unit": root, "state": "awaiting_check", "checkable": "true", "limit": 100}
    waiting = await services.get(person.token, "assignments", "/tasks", wanted)
    queue = waiting["items"]
    labels = await labels_for(request, person, Wanted().trail(root).unit(*(t["origin_unit"] for t in queue)))
    return pages_of(request).render(
        request, "checks.html", {"unit": root, "tasks": queue, "total": waiting["total"], "labels": labels}
    )
