"""Who may see a task, and how much of it: its assignee and helpers, and staff whose scope covers
it, see the task; what it copied from a resident's feedback (the words, the household) each sees
by `fourlinks_contracts.visibility`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fourlinks_contracts import visibility
from fourlinks_contracts.assignments import TaskRaised, TaskReopened
from fourlinks_kernel.access import Role, covers
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import OUT_OF_SCOPE, NotAllowed


def is_staff(actor: Actor) -> bool:
    """Secretaries, administrators, auditors and inspectors."""
    return bool({Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR, Role.INSPECTOR} & set(actor.roles))


def ensure_reader(actor: Actor, task: dict[str, Any]) -> None:
    """NotAllowed unless the actor worked on the task or is staff whose scope covers it."""
    if Role.MEMBER in actor.roles and actor.id in (task["assignee"], *task["helpers"]):
        return
    if is_staff(actor) and covers(actor, task["org_unit"]):
        return
    raise NotAllowed("this task is outside your scope", OUT_OF_SCOPE, unit=task["org_unit"])


def discretion(task: Mapping[str, Any]) -> visibility.Discretion:
    """What the resident asked of the feedback the task came from, about the unit it came from."""
    return visibility.Discretion(
        unit=task["origin_unit"], confidential=bool(task["confidential"]), anonymous=bool(task["anonymous"])
    )


def shown(actor: Actor, task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as this actor may read it: the resident's words and household withheld as they asked."""
    return visibility.shown(actor, task, discretion(task), visibility.TASK)


def page_shown(actor: Actor, page: Mapping[str, Any]) -> dict[str, Any]:
    """A page of tasks, each as this actor may read it."""
    return {**page, "items": [shown(actor, task) for task in page["items"]]}


def timeline_shown(
    actor: Actor, task: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A task's timeline as this actor may read it: the household on the raising line, and the
    resident's words on a reopening they asked for, withheld as they asked."""
    wishes = discretion(task)
    shown_lines = []
    for line in lines:
        names = visibility.withheld(actor, wishes, _guarded_on(line))
        shown_lines.append({**line, "details": visibility.emptied(line["details"], names), "withheld": names})
    return shown_lines


def _guarded_on(line: Mapping[str, Any]) -> visibility.Fields:
    if line["event_type"] == TaskRaised.event_type:
        return visibility.TASK_RAISED_LINE
    if line["event_type"] == TaskReopened.event_type and line["details"].get("correction_ref"):
        return visibility.RESIDENT_REOPENING_LINE
    return {}
