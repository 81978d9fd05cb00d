"""Queries of the province service: the districts' latest statements summed by district, street,
city or the province, and rates computed from the sums by the one rule the districts' services
use (`fourlinks_contracts.figures.RATES`): a rate of a sum, never a sum or mean of rates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Label, Select, String, Subquery, Table, and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from fourlinks_contracts.figures import (
    COUNTS,
    FEEDBACK_RATES,
    RATES,
    TASK_RATES,
    city_of,
    province_of,
    rates_of,
)
from fourlinks_province.projections.figures import category_counts, district_checkpoints, figures, refused

KPI_KINDS = ("tasks", "feedback")
KPI_COUNTS = (*COUNTS["tasks"], *COUNTS["feedback"])
KPI_RATES = (*TASK_RATES, *FEEDBACK_RATES)


@dataclass(frozen=True)
class Part:
    """The counts of one district's communities (or one street's) for one month, summed in SQL."""

    district: str
    month: str
    counts: dict[str, int]
    street: str = ""
    street_name: str = ""


@dataclass(frozen=True)
class Group:
    """Where a part counts when figures are asked `by` something: its key and its name."""

    key: str
    name: str
    district: str | None = None


def group_of(part: Part, by: str, names: Mapping[str, str]) -> Group:
    """The district, street, city or province a district's (or street's) figures count in."""
    district = part.district
    if by == "street":
        return Group(f"{district}:{part.street}", part.street_name, district)
    if by == "city":
        return Group(city_of(district), city_of(district))
    if by == "province":
        return Group(province_of(district), province_of(district))
    return Group(district, names.get(district, district), district)


def _of_districts(table: Table, prefix: str) -> ColumnElement[bool]:
    return table.c.district.startswith(prefix)


def _sums_of(names: Sequence[str]) -> list[Label[Any]]:
    """Each count summed (0 where no row has it; PostgreSQL's sum of bigints is a numeric)."""
    return [func.coalesce(func.sum(figures.c[name]), 0).label(name) for name in names]


def _keys(by: str, *, monthly: bool = True) -> list[Column[Any]]:
    """What the communities' figures are summed per in SQL: each district (or street), and month;
    the few sums are then added up by city or province here."""
    keys: list[Column[Any]] = [figures.c.district]
    if monthly:
        keys.append(figures.c.month)
    if by == "street":
        keys += [figures.c.street, figures.c.street_name]
    return keys


def _parts(rows: Iterable[Sequence[Any]], keys: Sequence[str], counts: Sequence[str]) -> list[Part]:
    """Rows of `keys` then `counts` as parts (by position: a row mapping costs more than the sum)."""
    width = len(keys)
    found = []
    for row in rows:
        fields = dict(zip(keys, row[:width], strict=True))
        found.append(Part(**fields, counts=dict(zip(counts, map(int, row[width:]), strict=True))))
    return found


async def parts(
    conn: AsyncConnection,
    *,
    prefix: str,
    kinds: Sequence[str],
    counts: Sequence[str],
    by: str = "district",
    months: Sequence[str] | None = None,
) -> list[Part]:
    """The latest statements of these kinds of the districts whose code starts with `prefix`,
    their counts summed per district (or street, `by="street"`) and month, of `months` (or all)."""
    keys = _keys(by)
    query = (
        select(*keys, *_sums_of(counts))
        .where(_of_districts(figures, prefix), figures.c.kind.in_(kinds))
        .group_by(*keys)
    )
    if months is not None:
        query = query.where(figures.c.month.in_(months))
    rows = (await conn.execute(query)).all()
    return _parts(rows, [key.name for key in keys], counts)


def summed(
    found: Iterable[Part], *, by: str, names: Mapping[str, str], counts: Sequence[str]
) -> dict[tuple[Group, str], dict[str, int]]:
    """The counts of each group and month, added up over its parts."""
    sums: dict[tuple[Group, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    for part in found:
        total = sums[(group_of(part, by, names), part.month)]
        for name in counts:
            total[name] += part.counts[name]
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
    months = None if month is None else [month]
    found = await parts(conn, prefix=prefix, kinds=KPI_KINDS, counts=KPI_COUNTS, by=by, months=months)
    sums = summed(found, by=by, names=names, counts=KPI_COUNTS)
    ordered = sorted(sums.items(), key=lambda item: (item[0][1], item[0][0].key))
    return [_row(group, period, counts, KPI_RATES) for (group, period), counts in ordered]


async def trend(
    conn: AsyncConnection, *, prefix: str, metric: str, months: Sequence[str]
) -> list[dict[str, Any]]:
    """One rate of everything the reader sees, month by month, with the counts it is made of."""
    rule = RATES[metric]
    kind = _kind_of(metric)
    found = await parts(conn, prefix=prefix, kinds=(kind,), counts=COUNTS[kind], months=months)
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
    table = category_counts
    query = (
        select(table.c.district, table.c.category, func.sum(table.c.count).label("count"))
        .where(_of_districts(table, prefix), table.c.month == month)
        .group_by(table.c.district, table.c.category)
    )
    counted: dict[tuple[Group, str], int] = defaultdict(int)
    for row in (await conn.execute(query)).mappings():
        group = group_of(Part(row["district"], month, {}), by, names)
        counted[(group, row["category"])] += int(row["count"])
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
    latest = _latest_coverage(prefix, month)
    keys = _keys(by, monthly=False)  # each community's latest month counts, whichever it is
    query = (
        select(*keys, *_sums_of(COUNTS["coverage"]))
        .join_from(
            figures,
            latest,
            and_(
                figures.c.district == latest.c.district,
                figures.c.unit == latest.c.unit,
                figures.c.month == latest.c.month,
            ),
        )
        .where(figures.c.kind == "coverage")
        .group_by(*keys)
    )
    rows = (await conn.execute(query)).all()
    found = _parts(
        [(month or "", *row) for row in rows], ["month", *(k.name for k in keys)], COUNTS["coverage"]
    )
    sums: dict[Group, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS["coverage"], 0))
    for part in found:
        total = sums[group_of(part, by, names)]
        for name in total:
            total[name] += part.counts[name]
    return [
        _row(group, month, counts, ("coverage_rate",)) for group, counts in sorted(sums.items(), key=_by_key)
    ]


def _latest_coverage(prefix: str, month: str | None) -> Subquery:
    """Each community's latest coverage month (up to `month`)."""
    query = (
        select(figures.c.district, figures.c.unit, func.max(figures.c.month).label("month"))
        .where(_of_districts(figures, prefix), figures.c.kind == "coverage")
        .group_by(figures.c.district, figures.c.unit)
    )
    if month is not None:
        query = query.where(figures.c.month <= month)
    return query.subquery("latest")


def _by_key(item: tuple[Group, Any]) -> str:
    return item[0].key


@dataclass(frozen=True)
class Heard:
    """What the province last heard from a district."""

    position: int | None
    figures_at: str | None
    checkpoint: Mapping[str, Any] | None
    refused: Mapping[str, Any] | None


async def heard(conn: AsyncConnection, *, codes: Sequence[str]) -> dict[str, Heard]:
    """Per district of `codes`: the position and time its latest figures are as of, its latest
    checkpoint, and the latest statement refused."""
    if not codes:
        return {}
    latest = union_all(*(_as_of(code) for code in codes))
    as_of = {d: (p, t) for d, p, t in (await conn.execute(latest)).all()}
    notes = await _by_district(conn, district_checkpoints, codes)
    refusals = await _by_district(conn, refused, codes)
    return {
        code: Heard(*as_of.get(code, (None, None)), notes.get(code), refusals.get(code)) for code in codes
    }


def _as_of(code: str) -> Select[Any]:
    """One district's latest position and time: two index seeks, whatever else the table holds
    (a GROUP BY over every district would read all their statements)."""
    of_district = figures.c.district == code
    return select(
        literal(code, String()).label("district"),
        select(func.max(figures.c.position)).where(of_district).scalar_subquery().label("position"),
        select(func.max(figures.c.published_at)).where(of_district).scalar_subquery().label("at"),
    )


async def _by_district(
    conn: AsyncConnection, table: Table, codes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    query = select(table).where(table.c.district.in_(codes))
    return {row["district"]: dict(row) for row in (await conn.execute(query)).mappings()}
