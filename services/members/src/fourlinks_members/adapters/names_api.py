"""HTTP API of names: what a page shows for the ids and paths it holds — org units' names, members'
names, households' addresses — many at once, and only those the reader may see (the rest are left
out of the answer; a page shows a neutral word for them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from fourlinks_contracts.members import OrgLevel
from fourlinks_members.adapters.common import MinPosition, caught_up
from fourlinks_members.application import access, queries
from fourlinks_runtime.edge import ENTITY_ID_PATTERN, UNIT_PATH_PATTERN
from fourlinks_runtime.guards import NameReader

router = APIRouter(prefix="/names", tags=["names"])
AT_ONCE = 200
"""How many names one request may ask for (a page asks once per kind)."""
Paths = Annotated[
    list[Annotated[str, Field(pattern=UNIT_PATH_PATTERN, max_length=512)]],
    Query(min_length=1, max_length=AT_ONCE, description="org-unit paths, repeated: ?paths=a&paths=a/b"),
]
Ids = Annotated[
    list[Annotated[str, Field(pattern=ENTITY_ID_PATTERN)]],
    Query(min_length=1, max_length=AT_ONCE, description="ids, repeated: ?ids=...&ids=..."),
]


class UnitName(BaseModel):
    """An org unit's name."""

    path: str
    name: str
    level: OrgLevel


class MemberName(BaseModel):
    """A member's name (null: the member was erased)."""

    member_id: str
    name: str | None


class HouseholdPlace(BaseModel):
    """Where a household lives: its building (path and name), unit number and room."""

    household_id: str
    org_unit: str
    unit_name: str | None
    unit_no: str
    room: str


@router.get("/units", summary="Names of org units the reader may see", response_model=list[UnitName])
async def unit_names(
    request: Request, actor: NameReader, paths: Paths, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    wanted = {p.strip("/") for p in paths}
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.unit_names(conn, sorted(wanted))
    return [unit for unit in found if access.reads_unit_name(actor, unit["path"])]


@router.get("/members", summary="Names of members the reader may see", response_model=list[MemberName])
async def member_names(
    request: Request, actor: NameReader, ids: Ids, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.member_names(conn, sorted(set(ids)))
    return [m for m in found if access.reads_member_name(actor, m["member_id"], m["org_unit"])]


@router.get(
    "/households", summary="Addresses of households the reader may see", response_model=list[HouseholdPlace]
)
async def household_places(
    request: Request, actor: NameReader, ids: Ids, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.household_places(conn, sorted(set(ids)))
    return [h for h in found if access.reads_contact(actor, h["household_id"], h)]
