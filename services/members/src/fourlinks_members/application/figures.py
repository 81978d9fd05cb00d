"""The members service's business figures on /metrics: coverage of the district and each street."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_members.application.queries import coverage, coverage_below
from fourlinks_members.projections.org_units import org_units
from fourlinks_runtime.definition import Figure
from fourlinks_runtime.settings import Settings


async def coverage_by_street(conn: AsyncConnection, _: Settings, __: datetime) -> dict[str, float]:
    """Share of households and enterprises a card covers, for the district and each street."""
    district = await conn.scalar(select(org_units.c.path).where(org_units.c.level == "district").limit(1))
    if district is None:
        return {}
    rows = [await coverage(conn, district), *await coverage_below(conn, district)]
    return {row["unit"]: row["coverage_rate"] for row in rows if row["coverage_rate"] is not None}


FIGURES = (
    Figure(
        "fourlinks_coverage_ratio",
        "Share of households and enterprises a member's service card covers, by unit",
        coverage_by_street,
    ),
)
