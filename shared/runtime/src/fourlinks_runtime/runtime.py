"""A running service: its NATS connection, event store, read-model engine, projections, policies
and workers, started and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import CommandContext
from fourlinks_kernel.errors import ConcurrencyConflict, InvalidCommand
from fourlinks_kernel.feed import ProjectionFeed
from fourlinks_kernel.kept import KeptAggregates
from fourlinks_kernel.projection import (
    ProjectionHalted,
    ProjectionRunner,
    ProjectionStatus,
    ensure_bookkeeping,
)
from fourlinks_kernel.store import EventStore
from fourlinks_kernel.unit_of_work import Outcome, UnitOfWork, run_command
from fourlinks_runtime.auth import RevokedTokens
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.idempotency import IdempotencyKeys
from fourlinks_runtime.metrics import ServiceMetrics
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.policies import PolicyRunner, policy_runners
from fourlinks_runtime.positions import StoredPositions
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")
C = TypeVar("C")
SHUTDOWN_SECONDS = 5.0


@dataclass
class ServiceRuntime:
    """The live parts of a running service, reachable from routes as `request.app.state.runtime`."""

    definition: ServiceDefinition
    settings: Settings
    nc: Client
    store: EventStore
    engine: AsyncEngine
    cipher: PersonalDataCipher
    metrics: ServiceMetrics
    runners: list[ProjectionRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    policies: list[PolicyRunner] = field(default_factory=list)
    idempotency: IdempotencyKeys = field(default_factory=lambda: IdempotencyKeys(None))
    revoked: RevokedTokens = field(default_factory=RevokedTokens)  # tokens signed out: refused
    kept: KeptAggregates = field(default_factory=KeptAggregates)
    stored: StoredPositions | None = None  # an API process: the worker's checkpoints
    feed: ProjectionFeed | None = None  # the worker's one read of the log
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def statuses(self) -> list[ProjectionStatus]:
        """Where each projection stands: this process's runners, or in an API process the
        checkpoints its worker process wrote."""
        if self.stored is not None:
            return await self.stored.statuses()
        return [runner.status for runner in self.runners]

    async def wait_for(
        self, position: int | None, *, projection: str | None = None, timeout: float = 3.0
    ) -> None:
        """Read-your-writes for HTTP: wait (bounded) until one projection, or all, applied `position`.

        Positions are global, so one returned by another service works too (the feed reads only
        the subjects its projections read, and is asked how far the whole log is read); a position
        beyond the log's end can never be reached and is refused at once (422)."""
        if not position:
            return
        last = await self.store.last_position()
        if position > last:
            raise InvalidCommand(f"X-Min-Position {position} is beyond the log's last position {last}")
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            statuses = [s for s in await self.statuses() if projection is None or s.name == projection]
            if all(s.position >= position for s in statuses):
                return
            await asyncio.sleep(0.01)
            self._nudge(position)

    async def wait_for_all(self, position: int, *, timeout: float = 10.0) -> None:
        """Wait (bounded) until every projection has applied `position`: a policy reading a read
        model then sees everything up to the event it reacts to."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(s.position < position for s in await self.statuses()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"read models have not reached position {position}; retried later")
            await asyncio.sleep(0.01)
            self._nudge(position)

    def _nudge(self, position: int) -> None:
        """A wait that lasts: ask the feed how far the whole log is read (an event it reads comes
        within milliseconds, another context's never comes; asking first would cost the server
        a probe for most waits)."""
        if self.feed is not None:
            self.feed.want(position)

    async def wait_until_caught_up(self) -> None:
        """Wait until every projection has caught up with the log as it stood at start."""
        while not all(s.caught_up for s in await self.statuses()):
            await asyncio.sleep(0.05)

    def today(self) -> date:
        """Today in the district's time zone, by this service's clock."""
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    async def dispatch(
        self, command: C, handler: Callable[[C, UnitOfWork], Awaitable[T]], context: CommandContext
    ) -> Outcome[T]:
        """Run a command object through its handler on a unit of work, counting its outcome (the
        command's class name labels it); conflicts surface as 409 when retries are exhausted."""
        name = type(command).__name__
        try:
            outcome = await run_command(self.store, context, partial(handler, command), self.kept)
        except ConcurrencyConflict:
            self.metrics.conflicts.labels(name).inc()
            self.metrics.commands.labels(name, "conflict").inc()
            raise
        except Exception:
            self.metrics.commands.labels(name, "refused").inc()
            raise
        self.metrics.commands.labels(name, "duplicate" if outcome.duplicate else "ok").inc()
        return outcome


async def _connect_with_retry(settings: Settings, name: str, attempts: int = 60) -> Client:
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings, name=name)
        except Exception as exc:
            if attempt == attempts:
                raise RuntimeError(f"cannot reach NATS at {settings.nats_url}: {exc}") from exc
            log.warning("nats_unreachable", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")  # pragma: no cover


async def _supervised_worker(
    worker: Callable[[ServiceRuntime], Awaitable[None]], runtime: ServiceRuntime
) -> None:
    """Keep a background worker (a scheduler) running through transient failures."""
    while True:
        try:
            await worker(runtime)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("worker_restarting", worker=worker.__name__, error=repr(exc)[:200])
            await asyncio.sleep(2.0)


async def _supervise(feed: ProjectionFeed) -> None:
    """Keep the projections running through disconnects; a halt stays halted until fixed."""
    delay = 0.5
    while True:
        try:
            await feed.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("projections_restarting", error=repr(exc)[:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


async def start_runtime(definition: ServiceDefinition, settings: Settings) -> ServiceRuntime:
    """Connect, build the store and engine, start projections and policies (riding one feed)."""
    nc = await _connect_with_retry(settings, f"fourlinks-{definition.name}")
    store, cipher = open_event_store(nc, settings, definition.registry, service=definition.name)
    await store.check_layout()
    url, schema = settings.read_model_database(definition.name)
    engine = await create_engine_with_schema(url, schema)
    runtime = ServiceRuntime(definition, settings, nc, store, engine, cipher, ServiceMetrics())
    runtime.idempotency = await IdempotencyKeys.open(nc, settings.idempotency_bucket)
    runtime.revoked = await RevokedTokens.open(nc, settings.revoked_bucket)
    runtime.tasks.append(asyncio.create_task(runtime.revoked.follow(), name="revocations"))
    runtime.kept = KeptAggregates(settings.kept_aggregates)
    cipher.on_erase.append(runtime.kept.forget_person)
    if settings.process_role == "api":
        return await _api_only(runtime)
    await ensure_bookkeeping(engine)
    for factory in definition.projections:
        runner = ProjectionRunner(
            factory(), store=store, engine=engine, batch_size=settings.projection_batch_size
        )
        runtime.runners.append(runner)
        with contextlib.suppress(ProjectionHalted):
            await runner.prepare()  # tables exist before the first query; a halt is reported by run()
    runtime.policies = policy_runners(runtime)
    if runtime.runners or runtime.policies:
        # One read of the log for all of them: the policies take each micro-batch after the projections.
        feed = runtime.feed = ProjectionFeed(
            runtime.runners, riders=runtime.policies, store=store, batch_size=settings.projection_batch_size
        )
        runtime.tasks.append(asyncio.create_task(_supervise(feed), name="projections"))
    for policy in runtime.policies:
        runtime.tasks.append(asyncio.create_task(policy.ride(), name=f"policy:{policy.policy.name}"))
    for worker in definition.workers:
        runtime.tasks.append(
            asyncio.create_task(_supervised_worker(worker, runtime), name=f"worker:{worker.__name__}")
        )
    return runtime


async def _api_only(runtime: ServiceRuntime) -> ServiceRuntime:
    """An API process: commands and queries only; the worker process runs the projections,
    policies and schedulers, and its checkpoints tell this one where the read models stand."""
    names = [factory().name for factory in runtime.definition.projections]
    runtime.stored = StoredPositions(runtime.engine, names, await runtime.store.last_position())
    return runtime


async def stop_runtime(runtime: ServiceRuntime) -> None:
    """Stop policies and projections, then close connections; bounded so shutdown never hangs."""
    for task in runtime.tasks:
        task.cancel()
    if runtime.tasks:
        await asyncio.wait(runtime.tasks, timeout=SHUTDOWN_SECONDS)
    for runner in runtime.runners:
        runner.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.nc.close(), SHUTDOWN_SECONDS)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.engine.dispose(), SHUTDOWN_SECONDS)
