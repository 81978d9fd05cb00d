"""The suggested agenda of a themed party day, derived from what the community's records show:
recurring problems (the same building and category raised again and again lately), overdue tasks,
uncovered households and enterprises, and members whose residents are least satisfied.

The lines name places, categories and counts, never a person: the agenda is stored in an event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fourlinks_console.names import N_


@dataclass(frozen=True)
class Evidence:
    """What the agenda is derived from."""

    recent_tasks: Sequence[dict[str, Any]]
    overdue_tasks: int
    uncovered: int
    low_satisfaction_members: int


def recurring(tasks: Sequence[dict[str, Any]], times: int) -> list[tuple[str, str, int]]:
    """(building or unit, category, count) raised at least `times` times, most first."""
    counted = Counter((str(t["origin_unit"] or t["org_unit"]), str(t["category"])) for t in tasks)
    found = [(unit, category, n) for (unit, category), n in counted.items() if n >= times]
    return sorted(found, key=lambda item: (-item[2], item[0], item[1]))


def suggested_agenda(evidence: Evidence, *, times: int, days: int, say: Callable[..., str]) -> list[str]:
    """Agenda lines in the reader's language (`say` is the page's gettext with placeholders)."""
    lines = [
        say(
            N_("Recurring: %(unit)s, %(category)s, raised %(count)s times in %(days)s days"),
            unit=u,
            category=c,
            count=n,
            days=days,
        )
        for u, c, n in recurring(evidence.recent_tasks, times)
    ]
    if evidence.overdue_tasks:
        lines.append(say(N_("Overdue tasks: %(count)s"), count=evidence.overdue_tasks))
    if evidence.uncovered:
        lines.append(
            say(N_("Households and enterprises without a member: %(count)s"), count=evidence.uncovered)
        )
    if evidence.low_satisfaction_members:
        lines.append(
            say(
                N_("Members whose residents are least satisfied: %(count)s (see KPIs)"),
                count=evidence.low_satisfaction_members,
            )
        )
    return lines
