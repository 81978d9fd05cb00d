"""What the console asks the services for figures, and in which order it shows them. The services
answer every figure (a unit as a whole, by month, by the units below it); the console computes
none: no rate, no count, no state set and no deadline of its own (tests/test_console_figures.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_contracts.assignments import TaskState

FEEDBACK_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")
"""The feedback service's rates a page shows, in this order (their definitions are the service's)."""
TASK_RATES = ("closure_rate", "on_time_closure_rate")
"""The assignments service's rates a page shows, in this order."""
BOARD_STATES = tuple(state.value for state in TaskState if state is not TaskState.REJECTED)
"""The board's columns: the task lifecycle's states in order, rejected tasks left aside."""


def by_month(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """A unit's figures as the services answer them `by=unit` (one row a month), by month: a
    month without a row had nothing to count."""
    return {str(row["month"]): row for row in rows}


def months_back(today: date, count: int) -> list[str]:
    """The last `count` months as YYYY-MM, oldest first, ending with today's."""
    year, month = today.year, today.month
    wanted = []
    for _ in range(count):
        wanted.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return wanted[::-1]


def today_in(timezone: str) -> date:
    """Today in the district's time zone (months of KPIs are counted there)."""
    return datetime.now(ZoneInfo(timezone)).date()
