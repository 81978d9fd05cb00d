"""A unit's figures from the services' per-group rows: counts add up, rates are recomputed from
the summed counts (the services define every rate as one count over another)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_runtime.figures import rate

OPEN_STATES = ("accepted", "assigned", "in_progress", "awaiting_check", "ready_to_close", "parked")
BOARD_STATES = ("raised", *OPEN_STATES, "closed")
FEEDBACK_RATES = {
    "response_rate": ("responded", "feedback"),
    "resolution_rate": ("resolved", "callbacks_answered"),
    "satisfaction_rate": ("satisfied", "callbacks_answered"),
}
TASK_RATES = {
    "closure_rate": ("closed", "tasks"),
    "on_time_closure_rate": ("closed_on_time", "due_not_extended"),
}


def group_level(unit: str) -> str:
    """How the services should group a unit's KPI rows: by community at a community and below,
    else by street."""
    return "community" if unit.count("/") >= 2 else "street"


def totals(rows: list[dict[str, Any]], rates: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The rows' counts summed, and each rate recomputed from them."""
    summed: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, int) and not isinstance(value, bool):
                summed[key] = summed.get(key, 0) + value
    if "due" in summed:
        summed["due_not_extended"] = summed["due"] - summed.get("extended", 0)
    for name, (part, whole) in rates.items():
        summed[name] = rate(summed.get(part, 0), summed.get(whole, 0))
    return summed


def in_month(rows: list[dict[str, Any]], month: str) -> list[dict[str, Any]]:
    """The rows of one month (the services answer every month at once when none is named)."""
    return [row for row in rows if row["month"] == month]


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


def open_count(board: dict[str, int]) -> int:
    """Open tasks on a board (every state between triage and closure)."""
    return sum(board.get(state, 0) for state in OPEN_STATES)
