"""HTTP API of searching feedback: by reference (FL-20261130-ABCDEFGH, or its start) or by words
(of what was sent and answered, where the reader may read it, or of its category), in the
reader's scope."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fourlinks_contracts import visibility
from fourlinks_contracts.service_matters import matters_named
from fourlinks_feedback.application import access, answers, queries
from fourlinks_runtime.guards import StaffOrInspector
from fourlinks_runtime.http import MinPosition, Unit, caught_up, scope_root

router = APIRouter(tags=["feedback"])
REFERENCE = re.compile(r"^FL-\d[0-9A-Z-]{0,17}$")
"""A reference as printed on a resident's receipt, or its start (FL-2026...)."""
MOST_WORDS = 5
Typed = Annotated[
    str,
    Query(
        min_length=2, max_length=100, description="a reference (FL-YYYYMMDD-XXXXXXXX, or its start), or words"
    ),
]
Hits = Annotated[int, Query(ge=1, le=50, description="the most items answered")]


@router.get(
    "/search",
    summary="Find feedback in your scope by reference or words (confidential words: its secretaries')",
    response_model=answers.FeedbackSearchAnswer,
)
async def search_feedback(
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
        found = await queries.search_items(conn, _reading(q, root, visibility.guarded_scope(actor), limit))
    response_limit = timedelta(hours=runtime.settings.response_limit_hours)
    seen = [
        access.view(actor, queries.with_response_due(row, limit=response_limit, now=runtime.clock()))
        for row in found
        if access.visible_to(actor, row)
    ]
    return {"q": q, "unit": root, "items": seen}


def _reading(q: str, unit: str, guarded_scope: str | None, limit: int) -> queries.ItemSearch:
    """A reference when it reads as one, else words."""
    typed = q.strip().upper()
    if REFERENCE.match(typed):
        return queries.ItemSearch(unit, guarded_scope, reference=typed, limit=limit)
    words = tuple(q.split()[:MOST_WORDS])
    return queries.ItemSearch(unit, guarded_scope, words=words, categories=matters_named(q), limit=limit)
