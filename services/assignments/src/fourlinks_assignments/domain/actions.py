"""Which task commands a person may take now, written once: the role a route demands, the states
the task aggregate accepts, and who is kept out (the assignee from checking or closing their own
work). `GET /tasks/{id}/actions` answers from it, so a page offers only what would be accepted;
the routes and the aggregate still refuse whatever is forced."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fourlinks_contracts.assignments import OPEN_TASK_STATES, TaskState
from fourlinks_kernel.access import SECRETARIES, Role, covers
from fourlinks_kernel.envelope import Actor

OPEN = OPEN_TASK_STATES
TaskRow = Mapping[str, Any]


@dataclass(frozen=True)
class TaskAction:
    """One command on a task: who may send it, in which states, and any further condition."""

    roles: frozenset[Role]
    states: frozenset[TaskState]
    never_by_workers: bool = False
    condition: Callable[[TaskRow], bool] | None = None


def _has_parent(task: TaskRow) -> bool:
    return "/" in str(task["org_unit"])


def _extension_waiting(task: TaskRow) -> bool:
    return bool(task["extension_requested"])


def _extension_possible(task: TaskRow) -> bool:
    return task["due_at"] is not None and not task["extension_requested"]


_MEMBER = frozenset({Role.MEMBER})
ACTIONS: dict[str, TaskAction] = {
    "triage": TaskAction(SECRETARIES, frozenset({TaskState.RAISED})),
    "reject": TaskAction(SECRETARIES, frozenset({TaskState.RAISED})),
    "assign": TaskAction(SECRETARIES, frozenset({TaskState.ACCEPTED})),
    "accept": TaskAction(_MEMBER, frozenset({TaskState.ASSIGNED})),
    "return": TaskAction(_MEMBER, frozenset({TaskState.ASSIGNED, TaskState.IN_PROGRESS})),
    "progress": TaskAction(_MEMBER, frozenset({TaskState.IN_PROGRESS})),
    "resolution": TaskAction(_MEMBER, frozenset({TaskState.IN_PROGRESS})),
    "spot-check": TaskAction(
        frozenset({Role.INSPECTOR}), frozenset({TaskState.AWAITING_CHECK}), never_by_workers=True
    ),
    "reassign": TaskAction(
        SECRETARIES, frozenset({TaskState.ACCEPTED, TaskState.ASSIGNED, TaskState.IN_PROGRESS})
    ),
    "extension": TaskAction(SECRETARIES | _MEMBER, OPEN, condition=_extension_possible),
    "extension-decision": TaskAction(SECRETARIES, OPEN, never_by_workers=True, condition=_extension_waiting),
    "escalate": TaskAction(SECRETARIES, OPEN, condition=_has_parent),
    "push-down": TaskAction(SECRETARIES, OPEN),
    "park": TaskAction(SECRETARIES, OPEN - {TaskState.PARKED}),
    "unpark": TaskAction(SECRETARIES, frozenset({TaskState.PARKED})),
    "close": TaskAction(SECRETARIES, OPEN, never_by_workers=True),
    "reopen": TaskAction(SECRETARIES, frozenset({TaskState.CLOSED})),
}


def available_actions(actor: Actor, task: TaskRow) -> list[str]:
    """The commands this actor may send on this task now, in the order a page lists them."""
    workers = {task["assignee"], *task["helpers"]}
    in_scope = covers(actor, str(task["org_unit"]))
    return [name for name, action in ACTIONS.items() if _allows(action, actor, task, workers, in_scope)]


def _allows(action: TaskAction, actor: Actor, task: TaskRow, workers: set[Any], in_scope: bool) -> bool:
    held = action.roles & set(actor.roles)
    if not held or TaskState(task["state"]) not in action.states:
        return False
    if action.never_by_workers and actor.id in workers:
        return False
    if held <= _MEMBER:  # a member acts only on a task assigned to them
        if actor.id != task["assignee"]:
            return False
    elif not in_scope:
        return False
    return action.condition is None or action.condition(task)
