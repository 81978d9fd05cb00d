"""What every members route shares: the runtime, role guards, pagination, command answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request
from pydantic import BaseModel, Field

from fourlinks_kernel.aggregate import UnitOfWork
from fourlinks_kernel.envelope import Actor
from fourlinks_members.projections.directory import DirectoryProjection
from fourlinks_runtime.auth import Role, require_roles
from fourlinks_runtime.service import ServiceRuntime, command_context

T = TypeVar("T")
Administrator = Annotated[Actor, Depends(require_roles(Role.ADMINISTRATOR))]
Secretary = Annotated[Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR))]
Staff = Annotated[Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR))]
MemberOrSecretary = Annotated[Actor, Depends(require_roles(Role.MEMBER, Role.SECRETARY, Role.ADMINISTRATOR))]
Anyone = Annotated[
    Actor,
    Depends(
        require_roles(
            Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR, Role.MEMBER, Role.RESIDENT, Role.HELPER
        )
    ),
]
MinPosition = Annotated[
    int | None,
    Header(alias="X-Min-Position", description="wait (up to 3 s) until this log position is visible"),
]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
Unit = Annotated[str | None, Query(max_length=512, description="org-unit path; default: your scope")]
Phone = Annotated[str, Field(min_length=5, max_length=40, pattern=r"^[0-9+\- ()]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=2, max_length=500)]


class CommandAccepted(BaseModel):
    """Where the command's events landed: send `position` as X-Min-Position to read your write."""

    id: str
    position: int
    duplicate: bool = False


def runtime_of(request: Request) -> ServiceRuntime:
    """The running service."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def execute(
    request: Request,
    actor: Actor,
    work: Callable[[UnitOfWork], Awaitable[T]],
    *,
    command: str,
    answer_id: str,
) -> CommandAccepted:
    """Run a command from HTTP and answer with its id and log position."""
    outcome = await runtime_of(request).run(work, command_context(request, actor), command=command)
    return CommandAccepted(id=answer_id, position=outcome.position, duplicate=outcome.duplicate)


async def caught_up(request: Request, position: int | None) -> ServiceRuntime:
    """The runtime, once the directory has applied `position` (read-your-writes)."""
    runtime = runtime_of(request)
    await runtime.wait_for(position, projection=DirectoryProjection.name)
    return runtime


def unit_or_scope(actor: Actor, unit: str | None) -> str:
    """The unit a list is filtered by: the one asked for, else the actor's scope."""
    return (unit or actor.scope).strip("/")
