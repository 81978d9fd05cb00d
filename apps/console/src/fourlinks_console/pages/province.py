"""省市汇总: a city's or a province's page over the province service — how each district stands
(how old its figures are, its link, its checkpoint), the KPIs by district for a month, rankings of
districts and of streets across districts (only above the minimum sample), a rate month by month,
categories and coverage, and the KPIs by district as an Excel sheet.

Every figure is the province service's answer to the reader's token (a city reads its own
districts only: the service decides); the console computes none, and names districts and streets
by the names the districts gave, never by their codes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import PROVINCE, opening
from fourlinks_console.exports import Column, Table, xlsx_file
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.names import CHECKPOINT_PROBLEMS, N_
from fourlinks_console.pages.downloads import KPI_COLUMNS
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of
from fourlinks_contracts.figures import FEEDBACK_RATES, RATES, TASK_RATES

router = APIRouter()
TREND_MONTHS = 12
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"
SHOWN_RATES = (*TASK_RATES, *FEEDBACK_RATES)
"""The rates a reader may rank and follow, as the province service names them."""
RATE = "^(" + "|".join(SHOWN_RATES) + ")$"
FIRST_RATE = "on_time_closure_rate"
SAMPLE_SAID = {
    "tasks": N_("Only districts and streets with at least %(n)s tasks that month are ranked."),
    "feedback": N_("Only districts and streets with at least %(n)s feedback items that month are ranked."),
    "callbacks_answered": N_(
        "Only districts and streets with at least %(n)s answered call-backs that month are ranked."
    ),
}
"""The minimum sample in words, by the count a rate's ranking samples."""
SHEET_TITLE = N_("KPIs by district")
ALL_DISTRICTS = N_("All districts")
WHOLE = {PROVINCE: N_("Province-wide"), "city": N_("City-wide")}
DISTRICT_COLUMN = Column("district", N_("District"))


@dataclass(frozen=True)
class Standing:
    """How a district stands, as its line of the province's `/districts` says, in the page's
    terms: when its figures are as of, whether its link is interrupted and since when it was last
    heard, its checkpoint verified or why not."""

    name: str
    as_of: str | None
    position: int | None
    last_heard: str | None
    interrupted: bool
    lag: int | None
    verified: bool
    problem: str
    size: int | None
    refused: bool


def standing(line: Mapping[str, Any]) -> Standing:
    """A district's line of `/districts`: interrupted when the service calls it stale (silent
    longer than the province waits) or its stream source reports an error."""
    link: Mapping[str, Any] = line.get("link") or {}
    checkpoint: Mapping[str, Any] = line.get("checkpoint") or {}
    problem = str(checkpoint.get("problem") or "")
    return Standing(
        name=str(line["name"]),
        as_of=line.get("as_of"),
        position=line.get("as_of_position"),
        last_heard=latest(line.get("as_of"), checkpoint.get("published_at")),
        interrupted=bool(line.get("stale")) or bool(link.get("error")),
        lag=link.get("lag"),
        verified=bool(checkpoint.get("verified")),
        problem=problem if problem in CHECKPOINT_PROBLEMS else "checkpoint_unreadable",
        size=checkpoint.get("size"),
        refused=line.get("refused") is not None,
    )


def latest(*moments: str | None) -> str | None:
    """The latest of these moments (ISO), the last time the district was heard from."""
    known = [m for m in moments if m]
    return max(known, key=lambda m: datetime.fromisoformat(m.replace("Z", "+00:00")), default=None)


@dataclass(frozen=True)
class Point:
    """One month of the trend: the rate and its sample as answered, and a bar's length (the
    rate as a share of the whole bar, for drawing only)."""

    month: str
    value: float | None
    sample: int
    length: float


def points(trend: Sequence[Mapping[str, Any]]) -> list[Point]:
    """The service's trend as bars, oldest month first."""
    return [
        Point(str(p["month"]), p["value"], int(p["sample"]), round(100 * (p["value"] or 0), 1)) for p in trend
    ]


def street_names(ranking: Mapping[str, Any], districts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each ranked street with its district's name beside its own (two districts may each have a
    street of the same name)."""
    return [
        {**row, "district_name": districts.get(str(row.get("district")), "")} for row in ranking["ranking"]
    ]


@router.get("/province", name="province", dependencies=[opening("province")])
async def province_page(
    request: Request,
    person: CurrentPerson,
    month: str | None = Query(default=None, pattern=MONTH),
    rate: str = Query(default=FIRST_RATE, pattern=RATE),
) -> Response:
    services: Services = request.app.state.services
    months = months_back(today_in(request.app.state.runtime.timezone), TREND_MONTHS)
    chosen = month or months[-1]
    token = person.token
    ranked = {"metric": rate, "month": chosen}
    lines, kpis, by_district, by_street, trend, categories, per_district, coverage = await asyncio.gather(
        services.get(token, "province", "/districts"),
        services.get(token, "province", "/kpis", {"by": "district", "month": chosen}),
        services.get(token, "province", "/kpis/ranking", {**ranked, "by": "district"}),
        services.get(token, "province", "/kpis/ranking", {**ranked, "by": "street"}),
        services.get(token, "province", "/kpis/trend", {"metric": rate, "months": TREND_MONTHS}),
        services.get(token, "province", "/kpis/categories", {"month": chosen, "by": "province"}),
        services.get(token, "province", "/kpis/categories", {"month": chosen, "by": "district"}),
        services.get(token, "province", "/coverage", {"by": "district", "month": chosen}),
    )
    names = {str(line["code"]): str(line["name"]) for line in lines}
    return pages_of(request).render(
        request,
        "province.html",
        {
            "month": chosen,
            "months": months,
            "rate": rate,
            "rates": SHOWN_RATES,
            "task_rates": TASK_RATES,
            "feedback_rates": FEEDBACK_RATES,
            "districts": [standing(line) for line in lines],
            "kpis": kpis,
            "ranked_districts": by_district,
            "ranked_streets": {**by_street, "ranking": street_names(by_street, names)},
            "sample": RATES[rate].sample,
            "sample_said": SAMPLE_SAID[RATES[rate].sample],
            "trend": points(trend),
            "categories": categories,
            "per_district": per_district,
            "coverage": coverage,
        },
    )


@router.get("/province/kpis.xlsx", name="province_sheet", dependencies=[opening("province")])
async def province_sheet(
    request: Request, person: CurrentPerson, month: str | None = Query(default=None, pattern=MONTH)
) -> Response:
    timezone: str = request.app.state.runtime.timezone
    chosen = month or today_in(timezone).strftime("%Y-%m")
    rows = await sheet_rows(request, person, chosen)
    language = pages_of(request).language(request)
    columns = (DISTRICT_COLUMN, *KPI_COLUMNS[1:])
    table = Table(
        title=language.gettext(SHEET_TITLE),
        slug="province-kpis",
        scope=language.gettext(WHOLE[PROVINCE if person.has(PROVINCE) else "city"]),
        taken_at=datetime.now(ZoneInfo(timezone)),
        zone=ZoneInfo(timezone),
        columns=[Column(c.key, language.gettext(c.header), c.kind) for c in columns],
        rows=rows,
        period=chosen,
    )
    return xlsx_file(table)


async def sheet_rows(request: Request, person: Person, month: str) -> list[dict[str, Any]]:
    """The month's figures of each district, then of all the reader's districts, as answered."""
    services: Services = request.app.state.services
    whole_by = PROVINCE if person.has(PROVINCE) else "city"
    each, whole = await asyncio.gather(
        services.get(person.token, "province", "/kpis", {"by": "district", "month": month}),
        services.get(person.token, "province", "/kpis", {"by": whole_by, "month": month}),
    )
    everything = pages_of(request).language(request).gettext(ALL_DISTRICTS)
    return [{**row, "district": row["name"]} for row in each] + [
        {**row, "district": everything} for row in whole
    ]
