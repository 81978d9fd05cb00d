"""Queries of the province service: the districts' latest statements summed by district, street,
city or the province, and rates computed from the sums by the one rule the districts' services
use (`fourlinks_contracts.figures.RATES`): a rate of a sum, never a sum or mean of rates."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.figures import (
    COUNTS,
    FEEDBACK_RATES,
    RATES,
    TASK_RATES,
    city_of,
    province_of,
    rates_of,
)
from fourlinks_province.projections.figures import district_checkpoints, figures, refused

KPI_KINDS = ("tasks", "feedback")
KPI_COUNTS = (*COUNTS["tasks"], *COUNTS["feedback"])
KPI_RATES = (*TASK_RATES, *FEEDBACK_RATES)


@dataclass(frozen=True)
class Statement:
    """One community's latest figures of one kind for one month."""

    district: str
    kind: str
    month: str
    unit: str
    street: str
    street_name: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Group:
    """Where a statement counts when figures are asked `by` something: its key and its name."""

    key: str
    name: str
    district: str | None = None


def group_of(statement: Statement, by: str, names: Mapping[str, str]) -> Group:
    """The district, street, city or province a community's figures count in."""
    district = statement.district
    if by == "street":
        return Group(f"{district}:{statement.street}", statement.street_name, district)
    if by == "city":
        return Group(city_of(district), city_of(district))
    if by == "province":
        return Group(province_of(district), province_of(district))
    return Group(district, names.get(district, district), district)


async def statements(
    conn: AsyncConnection, *, prefix: str, kinds: Sequence[str], month: str | None = None
) -> list[Statement]:
    """The latest statements of these kinds of the districts whose code starts with `prefix`."""
    columns = [figures.c[c] for c in ("district", "kind", "month", "unit", "street", "street_name", "counts")]
    query = select(*columns).where(figures.c.district.startswith(prefix), figures.c.kind.in_(kinds))
    if month is not None:
        query = query.where(figures.c.month == month)
    rows = (await conn.execute(query)).mappings()
    return [Statement(**{**row, "counts": json.loads(row["counts"])}) for row in rows]


def summed(
    found: Iterable[Statement], *, by: str, names: Mapping[str, str], counts: Sequence[str]
) -> dict[tuple[Group, str], dict[str, int]]:
    """The counts of each group and month, summed over its communities."""
    sums: dict[tuple[Group, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    for statement in found:
        total = sums[(group_of(statement, by, names), statement.month)]
        for name, value in statement.counts.items():
            if name in total:
                total[name] += value
    return sums


def _row(group: Group, month: str | None, counts: dict[str, int], rates: Sequence[str]) -> dict[str, Any]:
    return {
        "group": group.key,
        "name": group.name,
        "district": group.district,
        "month": month,
        **counts,
        **rates_of(tuple(rates), counts),
    }


async def kpis(
    conn: AsyncConnection, *, prefix: str, by: str, month: str | None, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Task and feedback counts and their rates per group and month."""
    found = await statements(conn, prefix=prefix, kinds=KPI_KINDS, month=month)
    sums = summed(found, by=by, names=names, counts=KPI_COUNTS)
    ordered = sorted(sums.items(), key=lambda item: (item[0][1], item[0][0].key))
    return [_row(group, period, counts, KPI_RATES) for (group, period), counts in ordered]


async def trend(
    conn: AsyncConnection, *, prefix: str, metric: str, months: Sequence[str]
) -> list[dict[str, Any]]:
    """One rate of everything the reader sees, month by month, with the counts it is made of."""
    rule = RATES[metric]
    kind = _kind_of(metric)
    found = [s for s in await statements(conn, prefix=prefix, kinds=(kind,)) if s.month in months]
    whole = Group(prefix, prefix)
    sums = summed(found, by="province", names={}, counts=COUNTS[kind])
    by_month = {period: counts for (_, period), counts in sums.items()}
    answer = []
    for period in months:
        counts = by_month.get(period, dict.fromkeys(COUNTS[kind], 0))
        answer.append(
            {
                "month": period,
                "metric": metric,
                "value": rule.of(counts),
                "sample": counts[rule.sample],
                "group": whole.key,
            }
        )
    return answer


def _kind_of(metric: str) -> str:
    if metric in TASK_RATES:
        return "tasks"
    return "feedback" if metric in FEEDBACK_RATES else "coverage"


async def categories(
    conn: AsyncConnection, *, prefix: str, month: str, by: str, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Tasks raised in a month by category, per district or for the whole scope, the most first."""
    found = await statements(conn, prefix=prefix, kinds=("categories",), month=month)
    counted: dict[tuple[Group, str], int] = defaultdict(int)
    for statement in found:
        group = group_of(statement, by, names)
        for category, count in statement.counts.items():
            counted[(group, category)] += count
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0][0].key, item[0][1]))
    return [
        {"group": g.key, "name": g.name, "district": g.district, "category": c, "count": n}
        for (g, c), n in ranked
    ]


async def coverage(
    conn: AsyncConnection, *, prefix: str, by: str, month: str | None, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Coverage per district or street: each community as its latest statement says (of the month
    asked, or before it), summed."""
    found = await statements(conn, prefix=prefix, kinds=("coverage",))
    latest: dict[tuple[str, str], Statement] = {}
    for statement in found:
        if month is not None and statement.month > month:
            continue
        key = (statement.district, statement.unit)
        if key not in latest or latest[key].month < statement.month:
            latest[key] = statement
    sums: dict[Group, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS["coverage"], 0))
    for statement in latest.values():
        total = sums[group_of(statement, by, names)]
        for name in total:
            total[name] += statement.counts.get(name, 0)
    return [
        _row(group, month, counts, ("coverage_rate",)) for group, counts in sorted(sums.items(), key=_by_key)
    ]


def _by_key(item: tuple[Group, Any]) -> str:
    return item[0].key


@dataclass(frozen=True)
class Heard:
    """What the province last heard from a district."""

    position: int | None
    figures_at: str | None
    checkpoint: Mapping[str, Any] | None
    refused: Mapping[str, Any] | None


async def heard(conn: AsyncConnection, *, prefix: str) -> dict[str, Heard]:
    """Per district: the position and time its latest figures are as of, its latest checkpoint,
    and the latest statement refused."""
    latest = (
        select(figures.c.district, func.max(figures.c.position), func.max(figures.c.published_at))
        .where(figures.c.district.startswith(prefix))
        .group_by(figures.c.district)
    )
    as_of = {d: (int(p), str(t)) for d, p, t in (await conn.execute(latest)).all()}
    notes = await _by_district(conn, district_checkpoints, prefix)
    refusals = await _by_district(conn, refused, prefix)
    codes = set(as_of) | set(notes) | set(refusals)
    unheard: tuple[int | None, str | None] = (None, None)
    return {code: Heard(*as_of.get(code, unheard), notes.get(code), refusals.get(code)) for code in codes}


async def _by_district(conn: AsyncConnection, table: Table, prefix: str) -> dict[str, dict[str, Any]]:
    query = select(table).where(table.c.district.startswith(prefix))
    return {row["district"]: dict(row) for row in (await conn.execute(query)).mappings()}
