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

from fourlinks_console.figures import (
    FEEDBACK_RATES,
    TASK_RATES,
    group_level,
    in_month,
    months_back,
    today_in,
    totals,
)
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of

router = APIRouter()
TREND_MONTHS = 6


@router.get("/kpis", name="kpis")
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
    by = group_level(root)
    token = person.token
    params: dict[str, Any] = {"unit": root, "by": by, "as_of": as_of.isoformat() if as_of else None}
    # Every month in one answer per service: each call reads the unit's rows once, whatever the months.
    task_rows, feedback_rows, ranking = await asyncio.gather(
        services.get(token, "assignments", "/kpis", params),
        services.get(token, "feedback", "/kpis", params),
        services.get(token, "feedback", "/kpis/ranking", {"unit": root, "by": by, "month": chosen}),
    )
    trend: list[dict[str, Any]] = [
        {
            "month": m,
            "tasks": totals(in_month(task_rows, m), TASK_RATES),
            "feedback": totals(in_month(feedback_rows, m), FEEDBACK_RATES),
        }
        for m in months
    ]
    series = {name: [row["feedback"][name] for row in trend] for name in FEEDBACK_RATES}
    series |= {name: [row["tasks"][name] for row in trend] for name in TASK_RATES}
    chart = {"months": months, "series": series}
    return pages_of(request).render(
        request,
        "kpis.html",
        {
            "unit": root,
            "as_of": as_of,
            "month": chosen,
            "trend": trend,
            "groups": {"tasks": in_month(task_rows, chosen), "feedback": in_month(feedback_rows, chosen)},
            "ranking": ranking,
            "chart": json.dumps(chart),
            "task_rates": list(TASK_RATES),
            "feedback_rates": list(FEEDBACK_RATES),
        },
    )
