"""The feedback service's business figure on /metrics: this month's satisfaction of the district
and each street (satisfied or basically satisfied among the call-backs answered)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.members import group_unit
from fourlinks_feedback.projections.feedback import items
from fourlinks_runtime.definition import Figure
from fourlinks_runtime.settings import Settings

SATISFIED = ("satisfied", "basically_satisfied")


async def satisfaction_this_month(
    conn: AsyncConnection, settings: Settings, now: datetime
) -> dict[str, float]:
    """Satisfied among the answered call-backs of items submitted this month, by unit."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    query = select(items.c.org_unit, items.c.answer_satisfaction).where(
        items.c.submitted_at >= month_start, items.c.answer_satisfaction.is_not(None)
    )
    answered: Counter[str] = Counter()
    satisfied: Counter[str] = Counter()
    for org_unit, satisfaction in (await conn.execute(query)).all():
        for unit in {org_unit.split("/")[0], group_unit(org_unit, "street")} - {None}:
            answered[unit] += 1
            satisfied[unit] += satisfaction in SATISFIED
    return {unit: round(satisfied[unit] / answered[unit], 4) for unit in answered}


FIGURES = (
    Figure(
        "fourlinks_satisfaction_ratio",
        "Satisfied or basically satisfied among this month's answered call-backs, by unit",
        satisfaction_this_month,
    ),
)
