"""What every service's HTTP API shares: command answers, pagination, read-your-writes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Query, Request
from pydantic import BaseModel

from fourlinks_kernel.access import ensure_scope
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import ConcurrencyConflict, DomainError
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.unit_of_work import Outcome, UnitOfWork
from fourlinks_runtime.edge import EARLIEST, LATEST, Day
from fourlinks_runtime.idempotency import fingerprint, idempotency_key, scoped_key
from fourlinks_runtime.runtime import ServiceRuntime

MAX_POSITION = 2**62
HEADER_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
"""What a correlation id may look like; anything else is replaced by a fresh one."""
MAX_OFFSET = 1_000_000

MinPosition = Annotated[
    int | None,
    Header(
        alias="X-Min-Position",
        ge=0,
        le=MAX_POSITION,
        description="wait (bounded) until this log position is visible; positions are global across services",
    ),
]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
Unit = Annotated[str | None, Query(max_length=512, description="org-unit path; default: your scope")]
GroupBy = Annotated[
    str,
    Query(
        pattern="^(member|community|street|unit|child)$",
        description="what a KPI row is about: a member, a community, a street, the unit asked as a "
        "whole (`unit`), or each unit right below it (`child`)",
    ),
]
Month = Annotated[
    str | None,
    Query(
        pattern=r"^20\d{2}-(0[1-9]|1[0-2])$",
        description="YYYY-MM in the district's time zone, 2000-01 to 2099-12",
    ),
]
AsOf = Annotated[
    Day | None,
    Query(description=f"answer as the history stood at the end of this day ({EARLIEST.year}-{LATEST.year})"),
]


class CommandAccepted(BaseModel):
    """Where the command's events landed: send `position` as X-Min-Position to read your write."""

    id: str
    position: int
    duplicate: bool = False


def scope_root(actor: Actor, unit: str | None) -> str:
    """The unit a read asks about (the reader's whole scope when none is named), refused with 403
    unless it lies within the reader's scope."""
    root = (unit or actor.scope).strip("/")
    ensure_scope(actor, root)
    return root


def command_context(request: Request, actor: Actor) -> CommandContext:
    """Who and why for a command from HTTP: `Idempotency-Key` makes a retried request safe (the
    key is the actor's own: two people's equal keys are two commands)."""
    key = idempotency_key(request)
    correlation = request.headers.get("x-correlation-id")
    command_id = f"http:{scoped_key(actor, key)}" if key else new_id()
    correlation_id = correlation if correlation and HEADER_TOKEN.match(correlation) else command_id
    return CommandContext(actor=actor, command_id=command_id, correlation_id=correlation_id)


def runtime_of(request: Request) -> ServiceRuntime:
    """The running service behind a request."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


C = TypeVar("C")
T = TypeVar("T")


async def handle(
    request: Request, command: C, handler: Callable[[C, UnitOfWork], Awaitable[T]], *, actor: Actor
) -> Outcome[T]:
    """Run a command object through its handler for an HTTP request: the same `Idempotency-Key`
    for another request is refused before anything runs. The outcome holds the handler's value
    (None when the request was a retry already recorded)."""
    runtime = runtime_of(request)
    context = command_context(request, actor)
    key = idempotency_key(request)
    scoped = scoped_key(actor, key) if key is not None else None
    first_use = scoped is not None and await runtime.idempotency.claim(scoped, await fingerprint(request))
    try:
        return await runtime.dispatch(command, handler, context)
    except (DomainError, ConcurrencyConflict):  # refused: nothing written, the key is not spent
        if first_use and scoped is not None:
            await runtime.idempotency.release(scoped)
        raise


def accepted(outcome: Outcome[Any], answer_id: str) -> CommandAccepted:
    """The answer to a command: the id it is about and where its events landed."""
    return CommandAccepted(id=answer_id, position=outcome.position, duplicate=outcome.duplicate)


async def dispatch(
    request: Request,
    command: C,
    handler: Callable[[C, UnitOfWork], Awaitable[object]],
    *,
    actor: Actor,
    answer_id: str,
) -> CommandAccepted:
    """Run a command object for an HTTP request and answer with the id and log position of its result."""
    return accepted(await handle(request, command, handler, actor=actor), answer_id)


async def caught_up(request: Request, position: int | None) -> ServiceRuntime:
    """The runtime, once its read models show `position` (read-your-writes, bounded)."""
    runtime = runtime_of(request)
    await runtime.wait_for(position)
    return runtime
