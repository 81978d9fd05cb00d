"""Reading one task through HTTP: who may, and the task as the read model shows it."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from fourlinks_assignments.application import access, queries
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.guards import TaskReader as Reader
from fourlinks_runtime.http import caught_up

__all__ = ["Reader", "readable_task"]


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
