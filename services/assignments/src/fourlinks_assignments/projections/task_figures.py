"""What a task counts towards its unit's KPIs, from its row: the tasks projection keeps these as
counters per origin unit and month, and the KPI query sums the same shares when it counts rows
("as of" a past day, or per member), so both ways answer by one rule.

What depends on the moment asked is never a counter: an open task counts as due once its first
deadline has passed, so the query reads the open tasks past their deadline at query time."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fourlinks_contracts.figures import rate_of
from fourlinks_kernel.instants import as_utc
from fourlinks_runtime.figures import Sums

WORKED = frozenset({"resolved", "partly_resolved", "closed_unresolved"})
"""Close reasons of tasks that were worked (not withdrawn or duplicates): resolved at level counts these."""
COUNTERS = (
    "tasks",
    "closed",
    "closed_due",
    "closed_due_extended",
    "closed_on_time",
    "worked",
    "worked_at_level",
    "rework",
)
STATE = (
    "task_id",
    "state",
    "parked_from",
    "raised_at",
    "triaged_at",
    "origin_unit",
    "category",
    "due_at",
    "original_due_at",
    "extended",
    "on_time",
    "close_reason",
    "escalated",
    "rework_count",
    "hours_to_close",
)
"""The row's columns its share depends on (and those the projection's changes are folded from)."""


def counted(row: Mapping[str, Any]) -> bool:
    """Rejected tasks and tasks not yet triaged count nowhere."""
    return row["state"] != "rejected" and row["triaged_at"] is not None


def counts_of(row: Mapping[str, Any]) -> dict[str, int]:
    """What a counted task adds to its group, whatever the moment asked."""
    closed = row["state"] == "closed"
    due = closed and row["due_at"] is not None  # closed: its outcome is known
    extended = bool(row["extended"])
    worked = closed and row["close_reason"] in WORKED
    return {
        "tasks": 1,
        "closed": int(closed),
        "closed_due": int(due),
        "closed_due_extended": int(due and extended),
        "closed_on_time": int(due and not extended and bool(row["on_time"])),
        "worked": int(worked),
        "worked_at_level": int(worked and not row["escalated"]),
        "rework": int(row["rework_count"] or 0),
    }


def overdue_open(row: Mapping[str, Any], as_of: datetime) -> bool:
    """An open task whose first deadline passed by `as_of`: due, though not closed."""
    return (
        row["state"] != "closed"
        and row["due_at"] is not None
        and row["original_due_at"] is not None
        and as_utc(row["original_due_at"]) <= as_of
    )


def close_hours(row: Mapping[str, Any]) -> float | None:
    """A closed task's hours from raised to closed (the median's values)."""
    if row["state"] != "closed" or row["hours_to_close"] is None:
        return None
    return float(row["hours_to_close"])


class GroupFigures(Sums):
    """One group's shares for one month, summed; then its KPIs."""

    def __init__(self) -> None:
        super().__init__(COUNTERS)
        self.due_open = 0
        self.due_open_extended = 0
        self.hours: dict[str, list[float]] = {}

    def add_overdue(self, extended: bool) -> None:
        self.due_open += 1
        self.due_open_extended += int(extended)

    def add_hours(self, category: str, hours: list[float]) -> None:
        if hours:  # a category whose only closed task was reopened has none
            self.hours.setdefault(category, []).extend(hours)

    def figures(self, group: str, month: str) -> dict[str, Any]:
        """Closure, on-time closure (closed on time / due and not extended on approval), resolved
        at level (worked and never escalated), rework, median hours to close per category."""
        counts = self.counts
        shares = {
            "tasks": counts["tasks"],
            "closed": counts["closed"],
            "due": counts["closed_due"] + self.due_open,
            "extended": counts["closed_due_extended"] + self.due_open_extended,
            "closed_on_time": counts["closed_on_time"],
            "worked": counts["worked"],
            "resolved_at_level": counts["worked_at_level"],
            "rework_count": counts["rework"],
        }
        return {
            "group": group,
            "month": month,
            **shares,
            "closure_rate": rate_of("closure_rate", shares),
            "on_time_closure_rate": rate_of("on_time_closure_rate", shares),
            "resolved_at_level_rate": rate_of("resolved_at_level_rate", shares),
            "median_hours_to_close": {
                category: round(statistics.median(hours), 2) for category, hours in sorted(self.hours.items())
            },
        }
