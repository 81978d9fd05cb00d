"""The monthly street report (月度报告): a printable page and its PDF, for one unit and month (the
last month unless asked), from the services' answers only (`fourlinks_console.report`)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.labels import labels_for
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.report import FIGURE_WORDS, FIGURES, MonthlyReport, monthly_report
from fourlinks_console.report_pdf import render
from fourlinks_console.web import pages_of

router = APIRouter()
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"


async def _report(request: Request, person: Person, unit: str | None, month: str | None) -> MonthlyReport:
    timezone = request.app.state.runtime.timezone
    chosen = month or months_back(today_in(timezone), 1)[-1]
    root = (unit or person.scope).strip("/")
    return await monthly_report(
        request.app.state.services, person, unit=root, month=chosen, timezone=timezone
    )


@router.get("/report", name="report", dependencies=[opening("report")])
async def report_page(
    request: Request,
    person: CurrentPerson,
    unit: str | None = None,
    month: str | None = Query(default=None, pattern=MONTH),
) -> Response:
    report = await _report(request, person, unit, month)
    return pages_of(request).render(
        request,
        "report.html",
        {
            "unit": report.unit,
            "report": report,
            "figures": FIGURES,
            "figure_words": FIGURE_WORDS,
            "labels": await labels_for(request, person, report.named()),
        },
    )


@router.get("/report.pdf", name="report_pdf", dependencies=[opening("report")])
async def report_pdf(
    request: Request,
    person: CurrentPerson,
    unit: str | None = None,
    month: str | None = Query(default=None, pattern=MONTH),
) -> Response:
    """The report as a PDF to print or send on; its name says the unit and the month."""
    report = await _report(request, person, unit, month)
    labels = await labels_for(request, person, report.named())
    pdf = await asyncio.to_thread(render, report, labels)
    name = f"monthly-report-{report.unit.replace('/', '-')}-{report.month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
