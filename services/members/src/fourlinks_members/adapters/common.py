"""What every members route shares: the runtime, role guards, pagination, command answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import Field

from fourlinks_kernel.aggregate import UnitOfWork
from fourlinks_kernel.envelope import Actor
from fourlinks_members.projections.directory import DirectoryProjection
from fourlinks_runtime.auth import Role, require_roles
from fourlinks_runtime.http import CommandAccepted, Limit, MinPosition, Offset, Unit
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
Phone = Annotated[str, Field(min_length=5, max_length=40, pattern=r"^[0-9+\- ()]+$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=2, max_length=500)]


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


__all__ = [
    "Administrator",
    "Anyone",
    "CommandAccepted",
    "Limit",
    "MemberOrSecretary",
    "MinPosition",
    "Name",
    "Offset",
    "Phone",
    "Reason",
    "Secretary",
    "Staff",
    "Unit",
    "caught_up",
    "execute",
    "runtime_of",
    "unit_or_scope",
]
