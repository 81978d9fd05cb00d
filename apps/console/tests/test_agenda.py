"""The suggested agenda of a themed party day: from counts and places, never a person; places and
categories by their names, as the agenda is stored when the session is planned."""

from __future__ import annotations

from typing import Any

from fourlinks_console.agenda import Evidence, suggested_agenda


def recurring(unit: str, category: str, count: int) -> dict[str, Any]:
    """A recurring problem as the assignments service answers it (`GET /kpis/recurring`)."""
    return {"unit": unit, "category": category, "count": count}


class Names:
    """Names as a page has them: a building's name, a category's label."""

    def say(self, message: str, **values: Any) -> str:
        return message % values

    def unit(self, path: str | None) -> str:
        return {"c1/b01": "1幢"}.get(path or "", "其他楼栋")

    def category(self, code: str | None) -> str:
        return {"leaks": "漏水"}.get(code or "", "其他")


def test_the_agenda_names_what_needs_the_sessions_attention() -> None:
    evidence = Evidence(
        [recurring("c1/b01", "leaks", 3)], overdue_tasks=2, uncovered=5, low_satisfaction_members=3
    )
    lines = suggested_agenda(evidence, days=30, names=Names())
    assert lines == [
        "Recurring: 1幢, 漏水, raised 3 times in 30 days",
        "Overdue tasks: 2",
        "Households and enterprises without a member: 5",
        "Members whose residents are least satisfied: 3 (see KPIs)",
    ]
    quiet = Evidence([], overdue_tasks=0, uncovered=0, low_satisfaction_members=0)
    assert suggested_agenda(quiet, days=30, names=Names()) == []
