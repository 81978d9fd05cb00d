"""The notifier's figure on /metrics: dead letters waiting for a secretary, by district and street
(counts only: never who they were for)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.members import group_unit
from fourlinks_notifications.projections.outbox import notices
from fourlinks_runtime.definition import Figure
from fourlinks_runtime.settings import Settings


async def dead_letters(conn: AsyncConnection, settings: Settings, now: datetime) -> dict[str, float]:
    """Notices given up on and not sent again, by unit."""
    query = (
        select(notices.c.org_unit, func.count()).where(notices.c.state == "dead").group_by(notices.c.org_unit)
    )
    waiting: Counter[str] = Counter()
    for org_unit, count in (await conn.execute(query)).all():
        for unit in {org_unit.split("/")[0], group_unit(org_unit, "street")} - {None}:
            waiting[unit] += count
    return {unit: float(count) for unit, count in waiting.items()}


FIGURES = (
    Figure(
        "fourlinks_notices_dead",
        "Notices no channel took after every attempt, waiting to be sent again, by unit",
        dead_letters,
    ),
)
