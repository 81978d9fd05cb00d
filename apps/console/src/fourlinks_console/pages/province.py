"""省市汇总: a city's or a province's page over the province service — how each district stands
(how old its figures are, its link, whether its figures match what it signed: in words, never a
log position), the KPIs by district for a month, rankings of districts and of streets across
districts (only above the minimum sample), a rate over the twelve months up to the month chosen,
categories and coverage, and the KPIs by district as an Excel sheet. The page checks its own
query: a month or a rate it cannot show falls back to this month or the first rate, said in words.

Every figure is the province service's answer to the reader's token (a city reads its own
districts only: the service decides); the console computes none, and names districts and streets
by the names the districts gave, never by their codes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import PROVINCE, opening
from fourlinks_console.exports import Column, Table, xlsx_file
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.i18n import Language
from fourlinks_console.names import CHECKPOINT_PROBLEMS, N_
from fourlinks_console.pages.downloads import KPI_COLUMNS
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import Services
from fourlinks_console.web import pages_of
from fourlinks_contracts.figures import FEEDBACK_RATES, RATES, TASK_RATES

router = APIRouter()
TREND_MONTHS = 12
MOST_TREND_MONTHS = 60
"""The most months the province service's trend answers."""
MONTH = r"20\d{2}-(0[1-9]|1[0-2])"
SHOWN_RATES = (*TASK_RATES, *FEEDBACK_RATES)
"""The rates a reader may rank and follow, as the province service names them."""
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
SHEET_HEADING = N_("%(scope)s %(title)s, %(year)s-%(month)s")
"""The line above the sheet's header: what it holds and the month (a printed page says it)."""
MONTH_MISWRITTEN = N_("A month is written like %(example)s; showing this month.")
MONTH_TO_COME = N_("%(asked)s has not come yet, so there are no figures for it; showing this month.")
RATE_UNKNOWN = N_("Choose a rate from the list; showing %(rate)s.")
ALL_DISTRICTS = N_("All districts")
WHOLE = {PROVINCE: N_("Province-wide"), "city": N_("City-wide")}
DISTRICT_COLUMN = Column("district", N_("District"))


@dataclass(frozen=True)
class Standing:
    """How a district stands, as its line of the province's `/districts` says, in the page's
    terms: when its figures are as of, whether its link is interrupted and since when it was last
    heard, its figures checked against what it signed or why not."""

    name: str
    as_of: str | None
    last_heard: str | None
    interrupted: bool
    lag: int | None
    verified: bool
    problem: str
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
        last_heard=latest(line.get("as_of"), checkpoint.get("published_at")),
        interrupted=bool(line.get("stale")) or bool(link.get("error")),
        lag=link.get("lag"),
        verified=bool(checkpoint.get("verified")),
        problem=problem if problem in CHECKPOINT_PROBLEMS else "checkpoint_unreadable",
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


@dataclass(frozen=True)
class Asked:
    """The month and the rate a reader asked for, as the page can show them, and what the page
    says where it showed another (a month miswritten or still to come, a rate not on its list)."""

    month: str
    rate: str
    notes: tuple[str, ...]


def asked(language: Language, *, month: str | None, rate: str | None, this_month: str) -> Asked:
    """The query's month and rate checked by the page itself: whatever it cannot show falls back
    to this month or the first rate, said in words (never a field's name)."""
    notes = []
    chosen = this_month
    if month and not re.fullmatch(MONTH, month):
        notes.append(language.gettext(MONTH_MISWRITTEN) % {"example": this_month})
    elif month and month > this_month:
        notes.append(language.gettext(MONTH_TO_COME) % {"asked": month})
    elif month:
        chosen = month
    shown = rate if rate in SHOWN_RATES else FIRST_RATE
    if rate and rate != shown:
        notes.append(language.gettext(RATE_UNKNOWN) % {"rate": language.gettext(shown)})
    return Asked(chosen, shown, tuple(notes))


def trend_asked(chosen: str, this_month: str) -> int:
    """How many months up to this one to ask the trend for (the service's trend ends this
    month) so that it covers the twelve up to the month chosen."""
    return min(TREND_MONTHS + months_between(chosen, this_month), MOST_TREND_MONTHS)


def months_between(earlier: str, later: str) -> int:
    """How many months `later` (YYYY-MM) is after `earlier`."""
    return _month_number(later) - _month_number(earlier)


def _month_number(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number)


def trend_to(trend: Sequence[Mapping[str, Any]], chosen: str) -> list[Point]:
    """The twelve months of the service's trend that end with the month chosen."""
    return points([p for p in trend if str(p["month"]) <= chosen][-TREND_MONTHS:])


def offered(months: Sequence[str], chosen: str) -> list[str]:
    """The months the picker offers, the chosen one among them even when older."""
    return sorted({*months, chosen})


@router.get("/province", name="province", dependencies=[opening("province")])
async def province_page(
    request: Request,
    person: CurrentPerson,
    month: str | None = None,
    rate: str | None = None,
) -> Response:
    services: Services = request.app.state.services
    months = months_back(today_in(request.app.state.runtime.timezone), TREND_MONTHS)
    language = pages_of(request).language(request)
    this_month = months[-1]
    query = asked(language, month=month, rate=rate, this_month=this_month)
    chosen, rate = query.month, query.rate
    token = person.token
    ranked = {"metric": rate, "month": chosen}
    trend_months = {"metric": rate, "months": trend_asked(chosen, this_month)}
    lines, kpis, by_district, by_street, trend, categories, per_district, coverage = await asyncio.gather(
        services.get(token, "province", "/districts"),
        services.get(token, "province", "/kpis", {"by": "district", "month": chosen}),
        services.get(token, "province", "/kpis/ranking", {**ranked, "by": "district"}),
        services.get(token, "province", "/kpis/ranking", {**ranked, "by": "street"}),
        services.get(token, "province", "/kpis/trend", trend_months),
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
            "this_month": this_month,
            "months": offered(months, chosen),
            "notes": query.notes,
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
            "trend": trend_to(trend, chosen),
            "categories": categories,
            "per_district": per_district,
            "coverage": coverage,
        },
    )


@router.get("/province/kpis.xlsx", name="province_sheet", dependencies=[opening("province")])
async def province_sheet(request: Request, person: CurrentPerson, month: str | None = None) -> Response:
    timezone: str = request.app.state.runtime.timezone
    language = pages_of(request).language(request)
    this_month = today_in(timezone).strftime("%Y-%m")
    chosen = asked(language, month=month, rate=None, this_month=this_month).month
    rows = await sheet_rows(request, person, chosen)
    columns = (DISTRICT_COLUMN, *KPI_COLUMNS[1:])
    scope = language.gettext(WHOLE[PROVINCE if person.has(PROVINCE) else "city"])
    table = Table(
        title=language.gettext(SHEET_TITLE),
        slug="province-kpis",
        scope=scope,
        taken_at=datetime.now(ZoneInfo(timezone)),
        zone=ZoneInfo(timezone),
        columns=[Column(c.key, language.gettext(c.header), c.kind) for c in columns],
        rows=rows,
        period=chosen,
        heading=sheet_heading(language, scope=scope, month=chosen),
    )
    return xlsx_file(table)


def sheet_heading(language: Language, *, scope: str, month: str) -> str:
    """The sheet's first line: whose districts, what, and the month in words (全省各区县指标 2026年7月)."""
    year, number = month.split("-")
    words = {"scope": scope, "title": language.gettext(SHEET_TITLE), "year": year, "month": int(number)}
    return language.gettext(SHEET_HEADING) % words


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
