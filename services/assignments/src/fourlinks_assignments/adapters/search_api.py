"""HTTP API of searching tasks: by reference (a task's number, or the feedback it came from) or by
words (of its description where the reader may read it, or of its category), in the reader's scope."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fourlinks_assignments.adapters.reading import answered
from fourlinks_assignments.application import answers, queries
from fourlinks_contracts import visibility
from fourlinks_contracts.service_matters import matters_named
from fourlinks_runtime.guards import StaffOrInspector
from fourlinks_runtime.http import MinPosition, Unit, caught_up, scope_root

router = APIRouter(tags=["tasks"])
REFERENCE = re.compile(r"^[0-9a-f]{8}[0-9a-f-]{0,28}$")
"""A task's number as the console shows it (its first 8 characters) or whole; a feedback id."""
MOST_WORDS = 5
Typed = Annotated[
    str,
    Query(min_length=2, max_length=100, description="a task's number (8 characters or more), or words"),
]
Hits = Annotated[int, Query(ge=1, le=50, description="the most tasks answered")]


@router.get(
    "/search",
    summary="Find tasks in your scope by number or words (a confidential item's words: its secretaries')",
    response_model=answers.TaskSearchAnswer,
)
async def search_tasks(
    request: Request,
    actor: StaffOrInspector,
    q: Typed,
    unit: Unit = None,
    limit: Hits = 10,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.search_tasks(conn, _reading(q, root, visibility.guarded_scope(actor), limit))
    return {"q": q, "unit": root, "tasks": [answered(request, actor, task) for task in found]}


def _reading(q: str, unit: str, guarded_scope: str | None, limit: int) -> queries.TaskSearch:
    """A reference when it reads as one, else words."""
    typed = q.strip().lower()
    if REFERENCE.match(typed):
        return queries.TaskSearch(unit, guarded_scope, reference=typed, limit=limit)
    words = tuple(q.split()[:MOST_WORDS])
    return queries.TaskSearch(unit, guarded_scope, words=words, categories=matters_named(q), limit=limit)
