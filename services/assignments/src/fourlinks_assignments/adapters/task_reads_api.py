"""HTTP API of the task loop's reads: lists, the board, one task, its timeline and actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from fourlinks_assignments.adapters.reading import Reader, answered, page_answered, readable_task
from fourlinks_assignments.application import access, answers, queries
from fourlinks_assignments.application.reactions import deadline_policy
from fourlinks_assignments.domain.actions import available_actions
from fourlinks_contracts import visibility
from fourlinks_contracts.assignments import (
    TaskSource,
    TaskState,
)
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.access import Role, covers
from fourlinks_kernel.errors import NotAllowed
from fourlinks_runtime.answers import list_of
from fourlinks_runtime.edge import (
    IdInPath,
    IdInQuery,
    Instant,
)
from fourlinks_runtime.guards import StaffOrInspector as Staff
from fourlinks_runtime.http import (
    Limit,
    MinPosition,
    Offset,
    Unit,
    caught_up,
    runtime_of,
    scope_root,
)

router = APIRouter(tags=["tasks"])


# -- queries ---------------------------------------------------------------------------------------
def _task_filter(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    state: TaskState | None = None,
    assignee: IdInQuery = None,
    overdue: bool = False,
    needs_reassignment: bool = False,
    category: Annotated[str | None, Query(max_length=60, description="a task category")] = None,
    urgency: Urgency | None = None,
    source: TaskSource | None = None,
    raised_since: Annotated[Instant | None, Query(description="raised at or after this moment")] = None,
    checkable: Annotated[
        bool, Query(description="only those the caller may spot-check: not their own work, nor help")
    ] = False,
    household: IdInQuery = None,  # about this household (an anonymous one: if yours to read)
    enterprise: IdInQuery = None,
) -> queries.TaskFilter:
    """Which tasks of a unit in the actor's scope a list shows (the same filters everywhere)."""
    root = scope_root(actor, unit)
    return queries.TaskFilter(
        unit=root,
        state=state,
        assignee=assignee,
        overdue_at=runtime_of(request).clock() if overdue else None,
        needs_reassignment=needs_reassignment,
        category=category,
        urgency=urgency,
        source=source,
        raised_since=raised_since,
        checker=actor.id if checkable else None,
        contact=household or enterprise,
        guarded_scope=visibility.guarded_scope(actor),
    )


@router.get("/tasks", summary="Tasks of a unit, filtered", response_model=answers.TaskPage)
async def list_tasks(
    request: Request,
    actor: Staff,
    wanted: Annotated[queries.TaskFilter, Depends(_task_filter)],
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.tasks_page(conn, wanted, limit=limit, offset=offset)
    return page_answered(request, actor, found)


@router.get(
    "/board/columns",
    summary="A board's columns: each state's oldest tasks (up to `limit`) and its count, filtered",
    response_model=answers.BoardColumns,
)
async def board_columns(
    request: Request,
    actor: Staff,
    wanted: Annotated[queries.TaskFilter, Depends(_task_filter)],
    limit: Annotated[int, Query(ge=1, le=100, description="tasks per column")] = 30,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        columns = await queries.board_columns(conn, wanted, limit=limit)
    return {state: page_answered(request, actor, column) for state, column in columns.items()}


@router.get("/members/{member_id}/tasks", summary="A member's open tasks", response_model=answers.TaskPage)
async def member_tasks(
    member_id: IdInPath, request: Request, actor: Reader, min_position: MinPosition = None
) -> dict[str, Any]:
    if Role.MEMBER in actor.roles and actor.id != member_id and not access.is_staff(actor):
        raise NotAllowed("members see their own tasks")
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        result = await queries.open_tasks_page(conn, member_id)
    if access.is_staff(actor):
        result["items"] = [t for t in result["items"] if covers(actor, t["org_unit"])]
    return page_answered(request, actor, result)


@router.get("/tasks/{task_id}", summary="One task", response_model=answers.TaskView)
async def get_task(
    task_id: IdInPath, request: Request, actor: Reader, min_position: MinPosition = None
) -> dict[str, Any]:
    return answered(request, actor, await readable_task(request, actor, task_id, min_position))


@router.get(
    "/tasks/{task_id}/timeline",
    summary="A task's full timeline: who, when, what",
    response_model=list_of(answers.TimelineEntry),
)
async def task_timeline(
    task_id: IdInPath, request: Request, actor: Reader, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        task = await queries.task_row(conn, task_id)
        access.ensure_reader(actor, task)
        return access.timeline_shown(actor, task, await queries.task_timeline(conn, task_id))


@router.get(
    "/tasks/{task_id}/actions",
    summary="What the caller may do on this task now (what a page should offer)",
    response_model=answers.TaskActions,
)
async def task_actions(
    task_id: IdInPath, request: Request, actor: Reader, min_position: MinPosition = None
) -> dict[str, Any]:
    task = await readable_task(request, actor, task_id, min_position)
    return {"task_id": task_id, "state": task["state"], "actions": available_actions(actor, task)}


@router.get(
    "/board/summary",
    summary="A unit's tasks now: waiting for triage, open, overdue, deadline approaching",
    response_model=answers.BoardSummary,
)
async def board_summary(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.board_summary(conn, root, policy=deadline_policy(runtime), now=runtime.clock())


@router.get("/board", summary="A unit's board: tasks per state")
async def board(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> dict[str, int]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.board(conn, root)
