"""Who may see a task: its assignee and helpers, and staff whose scope covers it."""

from __future__ import annotations

from typing import Any

from fourlinks_kernel.access import Role, covers
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed


def is_staff(actor: Actor) -> bool:
    """Secretaries, administrators, auditors and inspectors."""
    return bool({Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR, Role.INSPECTOR} & set(actor.roles))


def ensure_reader(actor: Actor, task: dict[str, Any]) -> None:
    """NotAllowed unless the actor worked on the task or is staff whose scope covers it."""
    if Role.MEMBER in actor.roles and actor.id in (task["assignee"], *task["helpers"]):
        return
    if is_staff(actor) and covers(actor, task["org_unit"]):
        return
    raise NotAllowed("this task is outside your scope")
