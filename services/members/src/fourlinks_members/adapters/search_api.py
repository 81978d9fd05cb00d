"""HTTP API of search: residents and members by name or phone, households by building and room,
enterprises by name or credit code — in the reader's scope, through blind indexes only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_members.adapters.common import Limit, MinPosition, Unit, caught_up, runtime_of
from fourlinks_members.application import access, answers, queries
from fourlinks_members.domain.search_terms import Clause, clauses
from fourlinks_runtime.guards import StaffOrInspector
from fourlinks_runtime.http import scope_root

router = APIRouter(tags=["search"])
Query_ = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="what a person typed: a name or 2 characters of it, pinyin initials (wxm), the "
        "start of a phone (4 digits or more) or its last 4, a room (502, 3幢502, 3-1-502), an "
        "enterprise's name or credit code",
    ),
]


@router.get(
    "/search",
    summary="Find residents, members, households and enterprises in your scope",
    response_model=answers.SearchAnswer,
)
async def search(
    request: Request,
    actor: StaffOrInspector,
    q: Query_,
    unit: Unit = None,
    limit: Limit = 10,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = runtime_of(request)
    sought = tuple(digested(clause, runtime.cipher) for clause in clauses(q))
    groups = access.search_groups(actor)
    found: dict[str, list[dict[str, Any]]] = {group: [] for group in queries.SEARCH_GROUPS}
    if sought and groups:
        wanted = queries.SearchWanted(sought, root, groups, min(limit, 50))
        runtime = await caught_up(request, min_position)
        async with runtime.engine.connect() as conn:
            found = await queries.search_hits(conn, wanted)
    return {"q": q, "unit": root, **found}


def digested(clause: Clause, cipher: PersonalDataCipher) -> queries.Sought:
    """A reading of the query as the index holds it: its terms' blind indexes."""
    tokens = {cipher.blind_index(term.value, purpose=term.purpose) for term in clause.terms}
    return queries.Sought(tuple(sorted(tokens)), clause.building, clause.unit_no, clause.phone_start)
