"""Themed party days (主题党日): plan one with the agenda the system suggests, hand out tasks during
the session, and read its summary afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.agenda import Evidence, suggested_agenda
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.members import Urgency

router = APIRouter()
LOWEST = 3


@router.get("/party-days", name="party_days")
async def party_days_page(request: Request, person: CurrentPerson, unit: str | None = None) -> Response:
    return await _render(request, person, (unit or person.scope).strip("/"))


async def _render(
    request: Request,
    person: Person,
    root: str,
    refused: ServiceRefused | None = None,
    agenda: list[str] | None = None,
) -> Response:
    services: Services = request.app.state.services
    sessions, suggested = await asyncio.gather(
        services.get(person.token, "assignments", "/party-days", {"unit": root}),
        _suggested(request, person, root),
    )
    return pages_of(request).render(
        request,
        "party_days.html",
        {"unit": root, "sessions": sessions, "agenda": agenda or suggested, "refused": refused},
        status=refused.status if refused else 200,
    )


async def _suggested(request: Request, person: Person, root: str) -> list[str]:
    settings: ConsoleSettings = request.app.state.console
    services: Services = request.app.state.services
    since = (datetime.now(UTC) - timedelta(days=settings.recurring_days)).isoformat()
    recent, overdue, uncovered, ranking = await asyncio.gather(
        services.get(
            person.token, "assignments", "/tasks", {"unit": root, "raised_since": since, "limit": 500}
        ),
        services.get(person.token, "assignments", "/tasks", {"unit": root, "overdue": "true", "limit": 1}),
        services.get(person.token, "members", "/coverage", {"unit": root}),
        services.get(person.token, "feedback", "/kpis/ranking", {"unit": root, "by": "member"}),
    )
    evidence = Evidence(
        recent_tasks=recent["items"],
        overdue_tasks=overdue["total"],
        uncovered=uncovered["households"]["uncovered"] + uncovered["enterprises"]["uncovered"],
        low_satisfaction_members=min(LOWEST, len(ranking.get("ranked", []))),
    )
    language = pages_of(request).language(request)

    def say(message: str, **values: Any) -> str:
        return language.gettext(message) % values

    return suggested_agenda(evidence, times=settings.recurring_times, days=settings.recurring_days, say=say)


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


@router.get("/party-days/{session_id}", name="party_day")
async def party_day_page(
    request: Request, person: CurrentPerson, session_id: str, at: int | None = None
) -> Response:
    services: Services = request.app.state.services
    summary = await services.get(
        person.token, "assignments", f"/party-days/{part(session_id)}/summary", min_position=at
    )
    return pages_of(request).render(
        request, "party_day.html", {"summary": summary, "session_id": session_id, "urgencies": list(Urgency)}
    )


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
