"""Categories at a glance: a month's feedback and tasks by category (ranked bars, each chart with its
table beside it) and by building (a building × category grid), each count linked to the list it
counts — the board, the inbox — filtered by category. The counts are the services' answers
(`GET /kpis/categories` of the feedback and assignments services); the console only draws them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import Service, Services
from fourlinks_console.web import pages_of

router = APIRouter()
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"
SOURCES: tuple[Service, ...] = ("feedback", "assignments")
"""The services that count by category: residents' feedback, and the tasks."""


@dataclass(frozen=True)
class Bar:
    """One bar of a ranked chart: a category, its count as answered, and its length (a share of
    the longest bar, for drawing only)."""

    category: str
    count: int
    length: float


@dataclass(frozen=True)
class Grid:
    """Counts by building and category, as answered: the rows (buildings) and columns
    (categories) that have a count, the most first, and the count of each cell."""

    buildings: list[str]
    categories: list[str]
    counts: Mapping[tuple[str, str], int]


def bars(rows: Sequence[Mapping[str, Any]]) -> list[Bar]:
    """The service's rows by category as bars, in the service's order (the most first)."""
    longest = max((int(row["count"]) for row in rows), default=0)
    return [
        Bar(
            row["category"],
            int(row["count"]),
            round(100 * int(row["count"]) / longest, 1) if longest else 0.0,
        )
        for row in rows
    ]


def grid(rows: Sequence[Mapping[str, Any]]) -> Grid:
    """The service's rows by building as a grid: buildings and categories in the order they first
    appear (the service answers the largest counts first)."""
    buildings = list(dict.fromkeys(str(row["unit"]) for row in rows))
    categories = list(dict.fromkeys(str(row["category"]) for row in rows))
    counts = {(str(row["unit"]), str(row["category"])): int(row["count"]) for row in rows}
    return Grid(buildings, categories, counts)


async def counted(
    services: Services, person: Person, *, unit: str, month: str, by: str
) -> dict[str, list[dict[str, Any]]]:
    """Each service's counts of the month by category or by building (`by`)."""
    asked = {"unit": unit, "month": month, "by": by}
    answers = await asyncio.gather(
        *(services.get(person.token, source, "/kpis/categories", asked) for source in SOURCES)
    )
    return dict(zip(SOURCES, answers, strict=True))


@router.get("/categories", name="categories", dependencies=[opening("categories")])
async def categories_page(
    request: Request,
    person: CurrentPerson,
    unit: str | None = None,
    month: str | None = Query(default=None, pattern=MONTH),
) -> Response:
    root = (unit or person.scope).strip("/")
    months = months_back(today_in(request.app.state.runtime.timezone), 6)
    chosen = month or months[-1]
    services: Services = request.app.state.services
    by_category, by_building = await asyncio.gather(
        counted(services, person, unit=root, month=chosen, by="category"),
        counted(services, person, unit=root, month=chosen, by="building"),
    )
    grids = {source: grid(rows) for source, rows in by_building.items()}
    named = Wanted().trail(root).unit(*(b for g in grids.values() for b in g.buildings))
    return pages_of(request).render(
        request,
        "categories.html",
        {
            "unit": root,
            "month": chosen,
            "months": months,
            "labels": await labels_for(request, person, named),
            "charts": {source: bars(rows) for source, rows in by_category.items()},
            "grids": grids,
        },
    )
