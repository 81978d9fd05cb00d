"""工作台: a secretary's home — coverage, open and overdue tasks, this month's rates beside last
month's, call-backs due today; each figure links to the list behind it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.figures import (
    FEEDBACK_RATES,
    group_level,
    in_month,
    months_back,
    open_count,
    today_in,
    totals,
)
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of, query, see_other

router = APIRouter()


@router.get("/", name="home")
async def home(request: Request, person: CurrentPerson, unit: str | None = None) -> Response:
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
    by = group_level(root)
    token = person.token
    coverage, board, overdue, rates, due = await asyncio.gather(
        services.get(token, "members", "/coverage", {"unit": root}),
        services.get(token, "assignments", "/board", {"unit": root}),
        services.get(token, "assignments", "/tasks", {"unit": root, "overdue": "true", "limit": 1}),
        services.get(token, "feedback", "/kpis", {"unit": root, "by": by}),  # every month, one answer
        services.get(token, "feedback", "/callbacks/due", {"unit": root}),
    )
    figures = {
        "coverage": coverage,
        "open": open_count(board),
        "raised": board.get("raised", 0),
        "overdue": overdue["total"],
        "this_month": totals(in_month(rates, this_month), FEEDBACK_RATES),
        "last_month": totals(in_month(rates, last_month), FEEDBACK_RATES),
        "callbacks_due": len(due),
    }
    return pages_of(request).render(
        request,
        "home.html",
        {"unit": root, "figures": figures, "months": (this_month, last_month), "rates": list(FEEDBACK_RATES)},
    )
