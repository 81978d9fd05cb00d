"""What makes one service: its name, contracts, read models, routes, policies and workers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent, EventRegistry
from fourlinks_kernel.projection import Projection

if TYPE_CHECKING:
    from datetime import datetime

    from fastapi import APIRouter
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fourlinks_runtime.runtime import ServiceRuntime
    from fourlinks_runtime.settings import Settings


@dataclass(frozen=True)
class Policy:
    """Reacts to events of other aggregates or services by issuing commands (a process manager).

    Rides the worker process's read of the log after its projections, with a checkpoint of its
    own (`fourlinks_runtime.policies`): an event whose handler raises is tried again with a
    growing delay, never dropped. Handlers must be idempotent (commands carry the event id as
    their command id, so an event reacted to again finds its work already recorded).
    """

    name: str
    version: int
    # The aggregates it watches (subject filters) and the one event type it reacts to there:
    # the feed reads those aggregates' subjects and the policy passes any other type undecoded.
    subjects: tuple[str, ...]
    event_type: str
    handle: Callable[[RecordedEvent, ServiceRuntime], Awaitable[None]]
    description: str = ""
    # Events handled at once. 1 keeps the log's order; more only where every event starts its
    # own aggregate (a feedback item's task), so no two reactions can touch the same one.
    concurrency: int = 1

    @property
    def subject(self) -> str:
        """One filter covering every subject it watches (what it reads when it catches up)."""
        split = [filter_.split(".") for filter_ in self.subjects]
        if len({len(tokens) for tokens in split}) != 1:
            return ">"
        return ".".join(t[0] if len(set(t)) == 1 else "*" for t in zip(*split, strict=True))


@dataclass(frozen=True)
class Figure:
    """A business figure /metrics shows per unit (the district and its streets), read from the
    service's read models when Prometheus scrapes: a gauge `name{unit}`. No personal data: counts
    and rates of units only."""

    name: str
    description: str
    read: Callable[[AsyncConnection, Settings, datetime], Awaitable[dict[str, float]]]


@dataclass
class ServiceDefinition:
    """What makes one service: its name, contracts, read models, routes and policies."""

    name: str
    title: str
    description: str
    registry: EventRegistry
    publishes: Sequence[type[DomainEvent]] = ()
    projections: Sequence[Callable[[], Projection]] = ()
    routers: Sequence[APIRouter] = ()
    policies: Sequence[Policy] = ()
    workers: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    figures: Sequence[Figure] = ()
    # Paths whose request bodies may be larger than FOURLINKS_MAX_BODY_BYTES (an upload of a photo).
    large_bodies: Mapping[str, int] = field(default_factory=dict)
    # Whether a household was erased, as this service learnt it from the log: a service whose
    # routes take a resident's token (a household's sign-in link) answers that token 410 Gone on
    # every route once its household is erased (`fourlinks_runtime.auth.current_actor`).
    erased_household: Callable[[ServiceRuntime, str], Awaitable[bool]] | None = None
    # The service's hot queries, each run once at start on its read models, so that the first
    # request compiles no SQL and opens no connection (`fourlinks_runtime.warm`).
    warm_up: Callable[[AsyncConnection, ServiceRuntime], Awaitable[None]] | None = None
    version: str = "0.1.0"
