"""Themed party days (主题党日): plan one with the agenda the system suggests, hand out tasks during
the session, and read its summary afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.agenda import Evidence, suggested_agenda
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.members import Urgency

router = APIRouter()
LOWEST = 3
"""How many of the members whose residents are least satisfied the agenda points to."""


@router.get("/party-days", name="party_days", dependencies=[opening("party_days")])
async def party_days_page(request: Request, person: CurrentPerson, unit: str | None = None) -> Response:
    return await _render(request, person, (unit or person.scope).strip("/"))


async def _render(
    request: Request,
    person: Person,
    root: str,
    refused: ServiceRefused | None = None,
    agenda: list[str] | None = None,
) -> Response:
    settings: ConsoleSettings = request.app.state.console
    services: Services = request.app.state.services
    sessions, evidence = await asyncio.gather(
        services.get(person.token, "assignments", "/party-days", {"unit": root}),
        _evidence(request, person, root),
    )
    named = Wanted().trail(root).unit(*(s["community"] for s in sessions))
    named.unit(*(problem["unit"] for problem in evidence.recurring))
    labels = await labels_for(request, person, named)
    # The agenda is written with names, not codes: what is planned is stored as it reads now.
    suggested = suggested_agenda(evidence, days=settings.recurring_days, names=labels)
    return pages_of(request).render(
        request,
        "party_days.html",
        {
            "unit": root,
            "labels": labels,
            "sessions": sessions,
            "agenda": agenda or suggested,
            "refused": refused,
        },
        status=refused.status if refused else 200,
    )


async def _evidence(request: Request, person: Person, root: str) -> Evidence:
    settings: ConsoleSettings = request.app.state.console
    services: Services = request.app.state.services
    since = (datetime.now(UTC) - timedelta(days=settings.recurring_days)).isoformat()
    often = {"unit": root, "since": since, "times": settings.recurring_times}
    lowest = {"unit": root, "by": "member", "lowest": LOWEST}
    recurring, tasks, coverage, ranking = await asyncio.gather(
        services.get(person.token, "assignments", "/kpis/recurring", often),
        services.get(person.token, "assignments", "/board/summary", {"unit": root}),
        services.get(person.token, "members", "/coverage", {"unit": root}),
        services.get(person.token, "feedback", "/kpis/ranking", lowest),
    )
    return Evidence(
        recurring=recurring,
        overdue_tasks=tasks["overdue"],
        uncovered=coverage["uncovered"],
        low_satisfaction_members=ranking["total"],
    )


@router.post("/party-days")
async def hold(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    root = form.get("community", "").strip()
    agenda = [line.strip() for line in form.get("agenda", "").splitlines() if line.strip()]
    services: Services = request.app.state.services
    body = {"community": root, "held_on": form.get("held_on", ""), "agenda": agenda}
    try:
        answer = await services.send(person.token, "assignments", "/party-days", body)
    except ServiceRefused as refused:
        return await _render(request, person, root or person.scope, refused, agenda)
    return see_other(f"/party-days/{answer['id']}" + query(at=answer.get("position")))


@router.get("/party-days/{session_id}", name="party_day", dependencies=[opening("party_day")])
async def party_day_page(
    request: Request, person: CurrentPerson, session_id: str, at: int | None = None
) -> Response:
    services: Services = request.app.state.services
    summary = await services.get(
        person.token, "assignments", f"/party-days/{part(session_id)}/summary", min_position=at
    )
    handed_out = await _handed_out(services, person, summary, at)
    named = Wanted().trail(summary["community"]).unit(*(t["origin_unit"] for t in handed_out.values()))
    return pages_of(request).render(
        request,
        "party_day.html",
        {
            "summary": summary,
            "handed_out": handed_out,
            "labels": await labels_for(request, person, named),
            "session_id": session_id,
            "urgencies": list(Urgency),
        },
    )


async def _handed_out(
    services: Services, person: Person, summary: dict[str, Any], at: int | None
) -> dict[str, dict[str, Any]]:
    """The tasks the session handed out, by id, as far as the reader may list its community's
    tasks (one read of them, not one per task)."""
    wanted = set(summary["handed_out"])
    if not wanted:
        return {}
    params = {"unit": summary["community"], "source": "party_day", "limit": 500}
    try:
        listed = await services.get(person.token, "assignments", "/tasks", params, min_position=at)
    except ServiceRefused:
        return {}
    return {t["task_id"]: t for t in listed["items"] if t["task_id"] in wanted}


@router.post("/party-days/{session_id}/tasks")
async def hand_out(request: Request, person: CurrentPerson, form: CheckedForm, session_id: str) -> Response:
    """A task handed out during the session: raised with the session's id, so its summary lists it."""
    services: Services = request.app.state.services
    body = {
        "source": "party_day",
        "party_day_id": session_id,
        "category": form.get("category", "").strip(),
        "urgency": form.get("urgency") or "general",
        "org_unit": form.get("org_unit", "").strip(),
        "description": form.get("description", ""),
    }
    try:
        answer = await services.send(person.token, "assignments", "/tasks", body)
    except ServiceRefused as refused:
        back = f"/party-days/{part(session_id)}"
        return pages_of(request).render(
            request, "refused.html", {"refused": refused, "back": back}, status=refused.status
        )
    return see_other(f"/party-days/{part(session_id)}" + query(at=answer.get("position")))
