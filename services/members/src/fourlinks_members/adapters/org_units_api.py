"""HTTP API of org units: administrators build and rename the tree."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from fourlinks_contracts.members import OrgLevel
from fourlinks_kernel.access import ensure_scope
from fourlinks_members.adapters.common import (
    Administrator,
    Anyone,
    CommandAccepted,
    MinPosition,
    Unit,
    runtime_of,
)
from fourlinks_members.application import commands, handlers, queries
from fourlinks_members.domain.org_units import unit_id_for
from fourlinks_members.projections.org_units import OrgUnitsProjection
from fourlinks_runtime.edge import UNIT_CODE, Body, Choice, IdInPath, Name, UnitPath
from fourlinks_runtime.http import dispatch, scope_root

router = APIRouter(prefix="/org-units", tags=["org units"])
CODE = f"^{UNIT_CODE}$"


class CreateOrgUnit(Body):
    """A new unit under `parent_path` (none for a district)."""

    code: str = Field(pattern=CODE, description="short lowercase code, becomes part of the path")
    name: Name
    level: Choice[OrgLevel]
    parent_path: UnitPath | None = None


class RenameOrgUnit(Body):
    """A new display name."""

    name: Name


class OrgUnitView(BaseModel):
    """One org unit as the read model shows it."""

    unit_id: IdInPath
    path: str
    code: str
    name: str
    level: OrgLevel
    parent_id: str | None
    version: int


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an org unit")
async def create_org_unit(body: CreateOrgUnit, request: Request, actor: Administrator) -> CommandAccepted:
    parent_path = (body.parent_path or "").strip("/")
    path = f"{parent_path}/{body.code}" if parent_path else body.code
    command = commands.CreateOrgUnit(actor=actor, path=path, name=body.name, level=body.level)
    return await dispatch(
        request, command, handlers.create_org_unit, actor=actor, answer_id=unit_id_for(path)
    )


@router.patch("/{unit_id}", summary="Rename an org unit")
async def rename_org_unit(
    unit_id: IdInPath, body: RenameOrgUnit, request: Request, actor: Administrator
) -> CommandAccepted:
    command = commands.RenameOrgUnit(actor=actor, unit_id=unit_id, name=body.name)
    return await dispatch(request, command, handlers.rename_org_unit, actor=actor, answer_id=unit_id)


@router.get("/{unit_id}", summary="One org unit")
async def get_org_unit(
    unit_id: IdInPath, request: Request, actor: Anyone, min_position: MinPosition = None
) -> OrgUnitView:
    runtime = runtime_of(request)
    await runtime.wait_for(min_position, projection=OrgUnitsProjection.name)
    async with runtime.engine.connect() as conn:
        row = await queries.org_unit_row(conn, unit_id)
    ensure_scope(actor, row["path"])
    return OrgUnitView.model_validate(row)


@router.get("", summary="Org units in your scope, optionally under a path")
async def list_org_units(
    request: Request,
    actor: Anyone,
    unit: Unit = None,
    min_position: MinPosition = None,
) -> list[OrgUnitView]:
    runtime = runtime_of(request)
    await runtime.wait_for(min_position, projection=OrgUnitsProjection.name)
    root = scope_root(actor, unit)
    async with runtime.engine.connect() as conn:
        rows = await queries.org_units_under(conn, root)
    return [OrgUnitView.model_validate(r) for r in rows]
