"""HTTP API of the task KPIs: closure, on time, at level, rework, time to close; rankings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fourlinks_assignments.application import answers, queries
from fourlinks_assignments.application.reactions import zone
from fourlinks_runtime.edge import Instant
from fourlinks_runtime.figures import end_of_day, month_of, ranking
from fourlinks_runtime.guards import StaffOrInspector as Staff
from fourlinks_runtime.http import (
    AsOf,
    GroupBy,
    MinPosition,
    Month,
    Unit,
    caught_up,
    runtime_of,
    scope_root,
)

router = APIRouter(tags=["tasks"])


@router.get(
    "/kpis",
    summary="Closure, on-time closure, resolved-at-level, rework, median time to close",
    response_model=list[answers.TaskFigures],
)
async def kpis(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    by: GroupBy = "community",
    month: Month = None,
    as_of: AsOf = None,
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    moment = end_of_day(as_of, zone(runtime)) if as_of else runtime.clock()
    async with runtime.engine.connect() as conn:
        return await queries.kpis(
            conn,
            unit=root,
            by=by,
            month=month,
            zone=zone(runtime),
            as_of=moment,
            from_history=as_of is not None,
        )


@router.get(
    "/kpis/recurring",
    summary="Places and categories raised again and again lately (at least `times` times since then)",
    response_model=list[answers.RecurringProblem],
)
async def recurring(
    request: Request,
    actor: Staff,
    since: Annotated[Instant, Query(description="raised at or after this moment")],
    times: Annotated[int, Query(ge=2, le=1000, description="raised at least this often")] = 3,
    unit: Unit = None,
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.recurring(conn, root, since=since, times=times)


@router.get(
    "/kpis/categories",
    summary="Tasks raised in a month by category, or by building and category, the most first",
    response_model=list[answers.CategoryCount],
)
async def categories(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    month: Month = None,
    by: Annotated[str, Query(pattern="^(category|building)$")] = "category",
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    chosen = month or month_of(runtime.clock(), zone(runtime))
    async with runtime.engine.connect() as conn:
        return await queries.by_category(conn, unit=root, month=chosen, zone=zone(runtime), by=by)


@router.get(
    "/kpis/ranking",
    summary="Groups ranked by a rate, only above the minimum sample size",
    response_model=answers.TaskRanking,
)
async def rank_groups(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    by: GroupBy = "community",
    month: Month = None,
    metric: Annotated[
        str, Query(pattern="^(closure_rate|on_time_closure_rate|resolved_at_level_rate)$")
    ] = "on_time_closure_rate",
) -> dict[str, Any]:
    figures = await kpis(request, actor, unit=unit, by=by, month=month)
    minimum = runtime_of(request).settings.ranking_min_sample
    return ranking(figures, metric=metric, minimum=minimum, sample="tasks")
