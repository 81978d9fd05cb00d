"""Small helpers every KPI read shares: UTC moments, months, fair rankings (rates:
`fourlinks_contracts.figures`, one rule for the services and the province)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from fourlinks_kernel.instants import as_utc


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last moment of a day in the district's time zone, in UTC: "as of" a day means its end."""
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(UTC)


def ranked(figures: list[dict[str, Any]], *, metric: str, minimum: int, sample: str) -> list[dict[str, Any]]:
    """Groups ranked by a rate, best first, only those whose `sample` count reaches `minimum`."""
    eligible = [f for f in figures if f[sample] >= minimum and f[metric] is not None]
    return sorted(eligible, key=lambda f: (-f[metric], f["group"]))


def ranking(
    figures: list[dict[str, Any]], *, metric: str, minimum: int, sample: str, lowest: int | None = None
) -> dict[str, Any]:
    """The answer of a ranking endpoint: the metric, the minimum sample and the ranked groups, best
    first (`lowest`: only that many at the bottom, the lowest first), and how many it lists."""
    listed = ranked(figures, metric=metric, minimum=minimum, sample=sample)
    if lowest is not None:
        listed = listed[::-1][:lowest]
    return {"metric": metric, "minimum_sample": minimum, "ranking": listed, "total": len(listed)}


def month_of(moment: datetime, zone: tzinfo) -> str:
    """The calendar month of the district's time zone a moment falls in ("2026-07"): KPIs count a
    task or an item in the month it was raised or submitted."""
    return as_utc(moment).astimezone(zone).strftime("%Y-%m")


def month_range(month: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """A calendar month of the district's time zone ("2026-07") as its first moment and the first
    moment after it, in UTC: what `month_of` answers that month for lies in between."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def category_counts(counted: Mapping[tuple[str | None, str], int]) -> list[dict[str, Any]]:
    """Counts by (building or None, category) as the rows of a `/kpis/categories` answer: the
    most first, then by building and category."""
    ranked_keys = sorted(counted, key=lambda key: (-counted[key], key[0] or "", key[1]))
    return [
        {"category": category, "unit": unit, "count": counted[(unit, category)]}
        for unit, category in ranked_keys
    ]


class Sums:
    """Counts by name, summed over rows or over the counters kept for them."""

    def __init__(self, names: Sequence[str]) -> None:
        self.counts = dict.fromkeys(names, 0)

    def add(self, counts: Mapping[str, int]) -> None:
        """Add one row's counts (or one counter row's)."""
        for name in self.counts:
            self.counts[name] += counts[name]


@dataclass(frozen=True)
class Asked:
    """Which KPIs: of which unit, grouped how (`member`, `community`, `street`), which month (or
    all), as of when."""

    unit: str
    by: str
    month: str | None
    zone: tzinfo
    as_of: datetime

    def wants(self, month: str) -> bool:
        """A group of this month is asked for."""
        return self.month is None or month == self.month
