"""The suggested agenda of a themed party day, written from what the services answer about the
community: recurring problems (the same building and category raised again and again lately),
overdue tasks, uncovered households and enterprises, and members whose residents are least
satisfied. Every count is the services'; the agenda only words them.

The lines name places and categories by their names (星河社区 3幢, 维修协调) and counts, never a
person: the agenda is stored in an event as written when the session is planned, so it reads the
same whatever is renamed later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fourlinks_console.names import N_


class Naming(Protocol):
    """What the agenda's words come from: the reader's language and the names of places and
    categories (`labels.Labels`)."""

    def say(self, message: str, **values: Any) -> str: ...

    def unit(self, path: str | None) -> str: ...

    def category(self, code: str | None) -> str: ...


@dataclass(frozen=True)
class Evidence:
    """What the agenda is written from: the assignments service's recurring problems (unit,
    category, count), its overdue tasks, the members service's uncovered contacts, the feedback
    service's least satisfied members."""

    recurring: Sequence[Mapping[str, Any]]
    overdue_tasks: int
    uncovered: int
    low_satisfaction_members: int


def suggested_agenda(evidence: Evidence, *, days: int, names: Naming) -> list[str]:
    """Agenda lines in the reader's language, places and categories by their names (`days`: how
    far back the recurring problems were counted)."""
    say = names.say
    lines = [
        say(
            N_("Recurring: %(unit)s, %(category)s, raised %(count)s times in %(days)s days"),
            unit=names.unit(problem["unit"]),
            category=names.category(problem["category"]),
            count=problem["count"],
            days=days,
        )
        for problem in evidence.recurring
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
