"""HTTP API of the province: the districts, their KPIs summed by district, street, city or
province, rankings with the minimum sample rule, trends, categories and coverage. For the roles
`province` and `city` only; each reads the districts of its own code."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from fourlinks_contracts.figures import FEEDBACK_RATES, RATES, TASK_RATES
from fourlinks_kernel.envelope import Actor
from fourlinks_province.application import access, answers, queries
from fourlinks_province.application.standing import links_of, standing
from fourlinks_province.runtime import ProvinceRuntime
from fourlinks_runtime.auth import require_roles
from fourlinks_runtime.figures import ranking
from fourlinks_runtime.http import Month

router = APIRouter(tags=["province"])
Reader = Annotated[Actor, Depends(require_roles(*access.READERS))]
KpiBy = Annotated[
    str,
    Query(pattern="^(district|street|city|province)$", description="how the districts' figures are summed"),
]
RankBy = Annotated[str, Query(pattern="^(district|street)$", description="what is ranked")]
RATE_NAMES = "|".join((*TASK_RATES, *FEEDBACK_RATES))
Metric = Annotated[str, Query(pattern=f"^({RATE_NAMES})$", description="the rate")]


def _runtime(request: Request) -> ProvinceRuntime:
    runtime: ProvinceRuntime = request.app.state.runtime
    return runtime


def _this_month(runtime: ProvinceRuntime) -> str:
    return runtime.clock().astimezone(ZoneInfo(runtime.settings.timezone)).strftime("%Y-%m")


def months_back(last: str, count: int) -> list[str]:
    """`count` months as YYYY-MM, oldest first, ending with `last`."""
    year, month = (int(part) for part in last.split("-"))
    first = date(year, month, 1)
    months = []
    for back in range(count - 1, -1, -1):
        index = first.year * 12 + first.month - 1 - back
        months.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return months


@router.get(
    "/districts",
    summary="Each district: how old its figures are, its checkpoint verified or why not, its link",
    response_model=list[answers.DistrictStanding],
)
async def districts(request: Request, actor: Reader) -> list[dict[str, Any]]:
    runtime = _runtime(request)
    prefix = access.district_prefix(actor)
    seen = [d for d in runtime.districts.districts if d.code.startswith(prefix)]
    async with runtime.engine.connect() as conn:
        heard = await queries.heard(conn, codes=[d.code for d in seen])
    links = links_of(await runtime.stream_info())
    stale = runtime.province.stale_minutes * 60
    return [
        standing(d, heard.get(d.code), links.get(d.code), now=runtime.clock(), stale_seconds=stale)
        for d in seen
    ]


@router.get(
    "/kpis",
    summary="Task and feedback counts summed by district, street, city or province, and their rates",
    response_model=list[answers.GroupFigures],  # type: ignore[valid-type]
)
async def kpis(
    request: Request, actor: Reader, by: KpiBy = "district", month: Month = None
) -> list[dict[str, Any]]:
    runtime = _runtime(request)
    prefix = access.district_prefix(actor)
    async with runtime.engine.connect() as conn:
        return await queries.kpis(conn, prefix=prefix, by=by, month=month, names=runtime.names())


@router.get(
    "/kpis/ranking",
    summary="Districts or streets ranked by a rate in a month, only above the minimum sample size",
    response_model=answers.GroupRanking,
)
async def rank(
    request: Request,
    actor: Reader,
    by: RankBy = "district",
    metric: Metric = "on_time_closure_rate",
    month: Month = None,
) -> dict[str, Any]:
    runtime = _runtime(request)
    figures = await kpis(request, actor, by=by, month=month or _this_month(runtime))
    minimum = runtime.settings.ranking_min_sample
    return ranking(figures, metric=metric, minimum=minimum, sample=RATES[metric].sample)


@router.get(
    "/kpis/trend",
    summary="A rate of all the reader's districts month by month, up to this month",
    response_model=list[answers.TrendPoint],
)
async def trend(
    request: Request,
    actor: Reader,
    metric: Metric = "on_time_closure_rate",
    months: Annotated[int, Query(ge=1, le=60, description="how many months, this one the last")] = 12,
) -> list[dict[str, Any]]:
    runtime = _runtime(request)
    prefix = access.district_prefix(actor)
    wanted = months_back(_this_month(runtime), months)
    async with runtime.engine.connect() as conn:
        return await queries.trend(conn, prefix=prefix, metric=metric, months=wanted)


@router.get(
    "/kpis/categories",
    summary="Tasks raised in a month by category, per district or for all the reader's districts",
    response_model=list[answers.CategoryCount],
)
async def categories(
    request: Request,
    actor: Reader,
    month: Month = None,
    by: Annotated[str, Query(pattern="^(district|province)$")] = "province",
) -> list[dict[str, Any]]:
    runtime = _runtime(request)
    prefix = access.district_prefix(actor)
    chosen = month or _this_month(runtime)
    async with runtime.engine.connect() as conn:
        return await queries.categories(conn, prefix=prefix, month=chosen, by=by, names=runtime.names())


@router.get(
    "/coverage",
    summary="Coverage per district or street, each community as last stated (in or before `month`)",
    response_model=list[answers.GroupCoverage],  # type: ignore[valid-type]
)
async def coverage(
    request: Request, actor: Reader, by: RankBy = "district", month: Month = None
) -> list[dict[str, Any]]:
    runtime = _runtime(request)
    prefix = access.district_prefix(actor)
    async with runtime.engine.connect() as conn:
        return await queries.coverage(conn, prefix=prefix, by=by, month=month, names=runtime.names())
