"""KPIs: monthly trends of the task loop and of residents' feedback (tables and a chart), the
groups of the chosen month, rankings only above the minimum sample, and an "as of" day that
answers from history."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.figures import FEEDBACK_RATES, TASK_RATES, by_month, months_back, today_in
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of

router = APIRouter()
TREND_MONTHS = 6


@router.get("/kpis", name="kpis", dependencies=[opening("kpis")])
async def kpis_page(
    request: Request,
    person: CurrentPerson,
    unit: str | None = None,
    as_of: date | None = None,
    month: str | None = Query(default=None, pattern=r"^\d{4}-\d{2}$"),
) -> Response:
    root = (unit or person.scope).strip("/")
    services: Services = request.app.state.services
    months = months_back(as_of or today_in(request.app.state.runtime.timezone), TREND_MONTHS)
    chosen = month or months[-1]
    token = person.token
    as_of_day = as_of.isoformat() if as_of else None
    whole: dict[str, Any] = {"unit": root, "by": "unit", "as_of": as_of_day}
    below: dict[str, Any] = {"unit": root, "by": "child", "month": chosen, "as_of": as_of_day}
    # The unit as a whole, every month in one answer per service; the units below it, the month chosen.
    task_rows, feedback_rows, feedback_groups, ranking = await asyncio.gather(
        services.get(token, "assignments", "/kpis", whole),
        services.get(token, "feedback", "/kpis", whole),
        services.get(token, "feedback", "/kpis", below),
        services.get(token, "feedback", "/kpis/ranking", {"unit": root, "by": "child", "month": chosen}),
    )
    task_months, feedback_months = by_month(task_rows), by_month(feedback_rows)
    trend: list[dict[str, Any]] = [
        {"month": m, "tasks": task_months.get(m, {}), "feedback": feedback_months.get(m, {})} for m in months
    ]
    series = {name: [row["feedback"].get(name) for row in trend] for name in FEEDBACK_RATES}
    series |= {name: [row["tasks"].get(name) for row in trend] for name in TASK_RATES}
    chart = {"months": months, "series": series}
    groups = [g["group"] for g in (*feedback_groups, *ranking["ranking"])]
    named = Wanted().trail(root).unit(*groups)
    return pages_of(request).render(
        request,
        "kpis.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "as_of": as_of,
            "month": chosen,
            "trend": trend,
            "groups": feedback_groups,
            "ranking": ranking,
            "chart": json.dumps(chart),
            "task_rates": list(TASK_RATES),
            "feedback_rates": list(FEEDBACK_RATES),
        },
    )
