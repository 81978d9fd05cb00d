"""HTTP API of the members service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from fourlinks_contracts.members import OrgLevel
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotFound
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_members.projections.org_units import OrgUnitsProjection, org_units
from fourlinks_runtime.auth import CurrentActor, Role, ensure_in_scope, require_roles
from fourlinks_runtime.service import ServiceRuntime, command_context

router = APIRouter(prefix="/org-units", tags=["org units"])
Administrator = Annotated[Actor, Depends(require_roles(Role.ADMINISTRATOR))]
MinPosition = Annotated[
    int | None, Header(alias="X-Min-Position", description="wait until this log position is visible")
]
CODE = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class CreateOrgUnit(BaseModel):
    """A new unit under `parent_path` (empty for a district)."""

    code: str = Field(pattern=CODE, description="short lowercase code, becomes part of the path")
    name: str = Field(min_length=1, max_length=200)
    level: OrgLevel
    parent_path: str | None = Field(default=None, max_length=448)


class RenameOrgUnit(BaseModel):
    """A new display name."""

    name: str = Field(min_length=1, max_length=200)


class CommandAccepted(BaseModel):
    """Where the command's events landed: pass `position` as X-Min-Position to read your write."""

    id: str
    version: int
    position: int


class OrgUnitView(BaseModel):
    """One org unit as the read model shows it."""

    unit_id: str
    path: str
    code: str
    name: str
    level: OrgLevel
    parent_id: str | None
    version: int


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an org unit")
async def create_org_unit(body: CreateOrgUnit, request: Request, actor: Administrator) -> CommandAccepted:
    runtime = _runtime(request)
    path = f"{body.parent_path.strip('/')}/{body.code}" if body.parent_path else body.code
    ensure_in_scope(actor, path)
    parent = None
    if body.parent_path:
        parent, _, _ = await runtime.repository(OrgUnit).get(unit_id_for(body.parent_path.strip("/")))
        parent.path = parent.path or body.parent_path
    unit_id = unit_id_for(path)

    def create(unit: OrgUnit) -> None:
        unit.create(path=path, code=body.code, name=body.name, level=body.level, parent=parent)

    unit, result = await runtime.execute(
        OrgUnit, unit_id, create, command_context(request, actor), command="create_org_unit"
    )
    return CommandAccepted(id=unit.id, version=result.state.version, position=result.state.position)


@router.patch("/{unit_id}", summary="Rename an org unit")
async def rename_org_unit(
    unit_id: str, body: RenameOrgUnit, request: Request, actor: Administrator
) -> CommandAccepted:
    runtime = _runtime(request)
    current, _, _ = await runtime.repository(OrgUnit).get(unit_id)
    if not current.exists:
        raise NotFound(f"org unit {unit_id} does not exist")
    ensure_in_scope(actor, current.path)
    unit, result = await runtime.execute(
        OrgUnit,
        unit_id,
        lambda u: u.rename(body.name),
        command_context(request, actor),
        command="rename_org_unit",
    )
    return CommandAccepted(id=unit.id, version=result.state.version, position=result.state.position)


@router.get("/{unit_id}", summary="One org unit")
async def get_org_unit(
    unit_id: str, request: Request, actor: CurrentActor, min_position: MinPosition = None
) -> OrgUnitView:
    runtime = _runtime(request)
    await runtime.wait_for(min_position, projection=OrgUnitsProjection.name)
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(select(org_units).where(org_units.c.unit_id == unit_id))).first()
    if row is None:
        raise NotFound(f"org unit {unit_id} does not exist")
    ensure_in_scope(actor, row.path)
    return OrgUnitView.model_validate(row, from_attributes=True)


@router.get("", summary="Org units in your scope, optionally under a path")
async def list_org_units(
    request: Request,
    actor: CurrentActor,
    under: Annotated[str | None, Query(max_length=512)] = None,
    min_position: MinPosition = None,
) -> list[OrgUnitView]:
    runtime = _runtime(request)
    await runtime.wait_for(min_position, projection=OrgUnitsProjection.name)
    root = (under or actor.scope).strip("/")
    ensure_in_scope(actor, root)
    query = select(org_units).where(
        or_(org_units.c.path == root, org_units.c.path.startswith(root + "/", autoescape=True))
    )
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(org_units.c.path).limit(1000))).all()
    return [OrgUnitView.model_validate(r, from_attributes=True) for r in rows]
