"""Reading one task through HTTP: who may, and the task as the read model shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from fourlinks_assignments.application import access, queries
from fourlinks_assignments.application.reactions import deadline_policy
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.guards import TaskReader as Reader
from fourlinks_runtime.http import caught_up, runtime_of

__all__ = ["Reader", "answered", "page_answered", "readable_task"]


async def readable_task(
    request: Request, actor: Actor, task_id: str, min_position: int | None = None
) -> dict[str, Any]:
    """The task as the read model holds it (after `min_position`), if this actor may read it: whole,
    for deciding; an answer shows it through `access.shown`."""
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        task = await queries.task_row(conn, task_id)
    access.ensure_reader(actor, task)
    return task


def answered(request: Request, actor: Actor, task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as this actor may read it, with where it stands against its deadline now."""
    runtime = runtime_of(request)
    standing = queries.deadline_of(task, policy=deadline_policy(runtime), now=runtime.clock())
    return {**access.shown(actor, task), "deadline": standing}


def page_answered(request: Request, actor: Actor, page: Mapping[str, Any]) -> dict[str, Any]:
    """A page of tasks, each as `answered` shows it."""
    return {**page, "items": [answered(request, actor, task) for task in page["items"]]}
