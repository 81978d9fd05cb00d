"""The assignments service's business figures on /metrics: open and overdue tasks of the district
and each street."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_assignments.application.queries import OPEN_STATES, overdue_filter
from fourlinks_assignments.projections.tasks import tasks
from fourlinks_contracts.members import group_unit
from fourlinks_runtime.definition import Figure
from fourlinks_runtime.settings import Settings


async def open_tasks(conn: AsyncConnection, _: Settings, __: datetime) -> dict[str, float]:
    """Tasks between triage and closure, by unit."""
    return await _by_unit(conn, select(tasks.c.org_unit).where(tasks.c.state.in_(OPEN_STATES)))


async def overdue_tasks(conn: AsyncConnection, _: Settings, now: datetime) -> dict[str, float]:
    """Open tasks past their deadline, by unit."""
    return await _by_unit(conn, select(tasks.c.org_unit).where(overdue_filter(now)))


async def _by_unit(conn: AsyncConnection, query: Select[Any]) -> dict[str, float]:
    counted: Counter[str] = Counter()
    for (org_unit,) in (await conn.execute(query)).all():
        counted[org_unit.split("/")[0]] += 1  # the district
        street = group_unit(org_unit, "street")
        if street:
            counted[street] += 1
    return {unit: float(count) for unit, count in counted.items()}


FIGURES = (
    Figure("fourlinks_tasks_open", "Tasks between triage and closure, by unit", open_tasks),
    Figure("fourlinks_tasks_overdue", "Open tasks past their deadline, by unit", overdue_tasks),
)
