"""The monthly street report (月度报告): what the services answer about a unit for one month and the
five before it, gathered once for the printable page and its PDF. Figures, trends, the communities
ranked (only those above the services' minimum sample), the categories most raised and the places
raised again and again — counts, rates and names of units and categories only: no person's name,
phone, address or words."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_console.figures import FEEDBACK_RATES, TASK_RATES, by_month, months_back
from fourlinks_console.labels import Wanted
from fourlinks_console.names import N_
from fourlinks_console.people import Person
from fourlinks_console.services import Services

TREND_MONTHS = 6
RECURRING_TIMES = 3
"""A place and category raised this often since the month began is a recurring problem."""
TOP_CATEGORIES = 8


@dataclass(frozen=True)
class MonthlyReport:
    """One unit's month as the services answer it."""

    unit: str
    month: str
    months: list[str]  # the trend's months, oldest first, ending with `month`
    feedback: Mapping[str, Mapping[str, Any]]  # the unit's feedback figures by month
    tasks: Mapping[str, Mapping[str, Any]]  # the unit's task figures by month
    communities: list[dict[str, Any]]  # each community's figures of the month: "group", "feedback", "tasks"
    feedback_ranking: Mapping[str, Any]
    task_ranking: Mapping[str, Any]
    categories: Mapping[str, list[dict[str, Any]]]  # "feedback", "assignments": the month's, the most first
    recurring: list[dict[str, Any]]

    @property
    def this_month(self) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """The month's feedback and task figures (empty where nothing was counted)."""
        return self.feedback.get(self.month, {}), self.tasks.get(self.month, {})

    def named(self) -> Wanted:
        """The units the report names."""
        groups = [c["group"] for c in self.communities]
        groups += [r["group"] for r in (*self.feedback_ranking["ranking"], *self.task_ranking["ranking"])]
        return Wanted().trail(self.unit).unit(*groups, *(r["unit"] for r in self.recurring))


async def monthly_report(
    services: Services, person: Person, *, unit: str, month: str, timezone: str
) -> MonthlyReport:
    """Everything the report shows, asked of the services at once."""
    token, zone = person.token, ZoneInfo(timezone)
    first_day = date.fromisoformat(f"{month}-01")
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).isoformat()
    whole = {"unit": unit, "by": "unit"}
    month_by_community = {"unit": unit, "by": "community", "month": month}
    asked = await asyncio.gather(
        services.get(token, "feedback", "/kpis", whole),
        services.get(token, "assignments", "/kpis", whole),
        services.get(token, "feedback", "/kpis", month_by_community),
        services.get(token, "assignments", "/kpis", month_by_community),
        services.get(
            token, "feedback", "/kpis/ranking", {**month_by_community, "metric": "satisfaction_rate"}
        ),
        services.get(
            token, "assignments", "/kpis/ranking", {**month_by_community, "metric": "on_time_closure_rate"}
        ),
        services.get(token, "feedback", "/kpis/categories", {"unit": unit, "month": month}),
        services.get(token, "assignments", "/kpis/categories", {"unit": unit, "month": month}),
        services.get(
            token, "assignments", "/kpis/recurring", {"unit": unit, "since": since, "times": RECURRING_TIMES}
        ),
    )
    feedback, tasks, feedback_groups, task_groups, feedback_ranking, task_ranking = asked[:6]
    return MonthlyReport(
        unit=unit,
        month=month,
        months=months_back(first_day, TREND_MONTHS),
        feedback=by_month(feedback),
        tasks=by_month(tasks),
        communities=_side_by_side(feedback_groups, task_groups),
        feedback_ranking=feedback_ranking,
        task_ranking=task_ranking,
        categories={"feedback": asked[6][:TOP_CATEGORIES], "assignments": asked[7][:TOP_CATEGORIES]},
        recurring=asked[8],
    )


def _side_by_side(feedback: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each community's feedback and task figures of the month, in the services' order."""
    groups = list(dict.fromkeys([*(g["group"] for g in feedback), *(g["group"] for g in tasks)]))
    said, worked = {g["group"]: g for g in feedback}, {g["group"]: g for g in tasks}
    return [{"group": g, "feedback": said.get(g, {}), "tasks": worked.get(g, {})} for g in groups]


FIGURES = (
    ("feedback", "feedback", "number"),
    *(("feedback", rate, "percent") for rate in FEEDBACK_RATES),
    ("tasks", "tasks", "number"),
    *(("tasks", rate, "percent") for rate in TASK_RATES),
    ("tasks", "rework_count", "number"),
)
"""The month's figures the report shows, in order: (which service's, which figure, how shown)."""
FIGURE_WORDS = {"feedback": N_("Feedback items"), "tasks": N_("Tasks"), "rework_count": N_("Rework")}
"""What the counts among the figures are called (the rates are called by their names)."""
