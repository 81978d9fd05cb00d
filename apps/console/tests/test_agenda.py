"""The suggested agenda of a themed party day: from counts and places, never a person."""

from __future__ import annotations

from typing import Any

from fourlinks_console.agenda import Evidence, recurring, suggested_agenda


def raised(unit: str, category: str) -> dict[str, Any]:
    return {"origin_unit": unit, "org_unit": unit, "category": category}


def say(message: str, **values: Any) -> str:
    return message % values


def test_a_building_and_category_raised_often_enough_is_recurring() -> None:
    tasks = [raised("c1/b01", "漏水")] * 3 + [raised("c1/b02", "漏水")] * 2 + [raised("c1/b01", "噪音")] * 4
    assert recurring(tasks, 3) == [("c1/b01", "噪音", 4), ("c1/b01", "漏水", 3)]


def test_the_agenda_names_what_needs_the_sessions_attention() -> None:
    evidence = Evidence(
        [raised("c1/b01", "漏水")] * 3, overdue_tasks=2, uncovered=5, low_satisfaction_members=3
    )
    lines = suggested_agenda(evidence, times=3, days=30, say=say)
    assert lines == [
        "Recurring: c1/b01, 漏水, raised 3 times in 30 days",
        "Overdue tasks: 2",
        "Households and enterprises without a member: 5",
        "Members whose residents are least satisfied: 3 (see KPIs)",
    ]
    quiet = Evidence([], overdue_tasks=0, uncovered=0, low_satisfaction_members=0)
    assert suggested_agenda(quiet, times=3, days=30, say=say) == []
