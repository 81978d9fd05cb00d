"""工作台: a secretary's home — coverage, open and overdue tasks, this month's rates beside last
month's, call-backs due today; each figure links to the list behind it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import ABOVE_DISTRICTS, opening
from fourlinks_console.figures import FEEDBACK_RATES, by_month, months_back, today_in
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of, query, see_other

router = APIRouter()


@router.get("/", name="home", dependencies=[opening("home")])
async def home(request: Request, person: CurrentPerson, unit: str | None = None) -> Response:
    if person.has(*ABOVE_DISTRICTS):  # a city's or province's staff: the districts' figures
        return see_other("/province")
    if person.has("resident") and not person.is_staff:
        return see_other("/r/feedback")
    if not person.is_staff:  # a member works from their own list
        return see_other("/me")
    if not person.has("secretary", "administrator", "auditor"):  # an inspector: the spot-check queue
        return see_other("/checks" + query(unit=unit))
    root = (unit or person.scope).strip("/")
    services: Services = request.app.state.services
    timezone: str = request.app.state.runtime.timezone
    last_month, this_month = months_back(today_in(timezone), 2)
    token = person.token
    coverage, tasks, callbacks, rates = await asyncio.gather(
        services.get(token, "members", "/coverage", {"unit": root}),
        services.get(token, "assignments", "/board/summary", {"unit": root}),
        services.get(token, "feedback", "/callbacks/summary", {"unit": root}),
        services.get(token, "feedback", "/kpis", {"unit": root, "by": "unit"}),  # every month, one answer
    )
    months = by_month(rates)
    figures = {
        "coverage": coverage,
        "tasks": tasks,
        "callbacks": callbacks,
        "this_month": months.get(this_month, {}),
        "last_month": months.get(last_month, {}),
    }
    return pages_of(request).render(
        request,
        "home.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, Wanted().trail(root)),
            "figures": figures,
            "months": (this_month, last_month),
            "rates": list(FEEDBACK_RATES),
        },
    )
