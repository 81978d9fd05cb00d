"""Builds a service: FastAPI app, NATS connection, event store, projections, policies, docs.

Nothing is built at import time; `create_app` is the one place that wires a service, so tests
wire it the same way with their own settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.security import BaseSecurity, SASLPlaintext
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi import get_asyncapi_html
from nats.aio.client import Client
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.types import ASGIApp, Receive, Scope, Send

from fourlinks_kernel.aggregate import Aggregate, Outcome, Repository, UnitOfWork, run_command
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext, RecordedEvent, StoredEvent
from fourlinks_kernel.errors import ConcurrencyConflict, DomainError, InvalidCommand
from fourlinks_kernel.events import DomainEvent, EventRegistry
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.jetstream import JetStreamEventStore, NatsKeyStore
from fourlinks_kernel.projection import (
    Projection,
    ProjectionHalted,
    ProjectionRunner,
    ensure_bookkeeping,
    sqlite_pragmas,
)
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.auth import TokenVerifier
from fourlinks_runtime.edge import BodyLimit
from fourlinks_runtime.errors import document_errors, install_error_handlers
from fourlinks_runtime.idempotency import IdempotencyKeys, idempotency_key, scoped_key
from fourlinks_runtime.logs import bind_context, clear_context, configure_logging
from fourlinks_runtime.metrics import ServiceMetrics
from fourlinks_runtime.natsconn import connect, connect_options
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
SHUTDOWN_SECONDS = 5.0
_HEADER_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


@dataclass(frozen=True)
class Policy:
    """Reacts to events of other aggregates or services by issuing commands (a process manager).

    Runs as a FastStream subscriber on a durable pull consumer with manual acks: an event whose
    handler raises is nak'ed with a growing delay and redelivered, never dropped. Handlers must be
    idempotent (commands carry the event id as their command id, so a redelivery finds its work
    already recorded).
    """

    name: str
    version: int
    subjects: str
    handle: Callable[[RecordedEvent, ServiceRuntime], Awaitable[None]]
    description: str = ""
    # Events handled at once. 1 keeps the log's order; more only where every event starts its
    # own aggregate (a feedback item's task), so no two reactions can touch the same one.
    concurrency: int = 1


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
    version: str = "0.1.0"


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
    broker: NatsBroker | None = None
    idempotency: IdempotencyKeys = field(default_factory=lambda: IdempotencyKeys(None))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def wait_for(
        self, position: int | None, *, projection: str | None = None, timeout: float = 3.0
    ) -> None:
        """Read-your-writes for HTTP: wait (bounded) until one projection, or all, applied `position`.

        Positions are global, so one returned by another service works too; a position beyond the
        log's end can never be reached and is refused at once (422)."""
        if not position:
            return
        last = await self.store.last_position()
        if position > last:
            raise InvalidCommand(f"X-Min-Position {position} is beyond the log's last position {last}")
        runners = [r for r in self.runners if projection is None or r.projection.name == projection]
        deadline = asyncio.get_running_loop().time() + timeout
        while (
            any(r.status.position < position for r in runners)
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.01)

    async def wait_for_all(self, position: int, *, timeout: float = 10.0) -> None:
        """Wait (bounded) until every projection has applied `position`: a policy reading a read
        model then sees everything up to the event it reacts to."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(r.status.position < position for r in self.runners):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"read models have not reached position {position}; retried later")
            await asyncio.sleep(0.01)

    async def wait_until_caught_up(self) -> None:
        """Wait until every projection has caught up with the log as it stood at start."""
        while not all(r.status.caught_up for r in self.runners):
            await asyncio.sleep(0.05)

    def today(self) -> date:
        """Today in the district's time zone, by this service's clock."""
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    def repository(self, aggregate: type[A]) -> Repository[A]:
        """A repository for one aggregate type over this service's store."""
        return Repository(self.store, aggregate)

    async def execute(
        self,
        aggregate: type[A],
        aggregate_id: str,
        decide: Callable[[A], None],
        context: CommandContext,
        *,
        command: str,
    ) -> Outcome[A]:
        """Run a single-aggregate command."""

        async def work(uow: UnitOfWork) -> A:
            instance = await uow.get(aggregate, aggregate_id)
            decide(instance)
            return instance

        return await self.run(work, context, command=command)

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], context: CommandContext, *, command: str
    ) -> Outcome[T]:
        """Run a command over any aggregates, counting its outcome; conflicts surface as 409 when
        retries are exhausted."""
        try:
            outcome = await run_command(self.store, context, work)
        except ConcurrencyConflict:
            self.metrics.conflicts.labels(command).inc()
            self.metrics.commands.labels(command, "conflict").inc()
            raise
        except Exception:
            self.metrics.commands.labels(command, "refused").inc()
            raise
        self.metrics.commands.labels(command, "duplicate" if outcome.duplicate else "ok").inc()
        return outcome


def command_context(request: Request, actor: Actor) -> CommandContext:
    """Who and why for a command from HTTP: `Idempotency-Key` makes a retried request safe (the
    key is the actor's own: two people's equal keys are two commands)."""
    key = idempotency_key(request)
    correlation = request.headers.get("x-correlation-id")
    command_id = f"http:{scoped_key(actor, key)}" if key else new_id()
    correlation_id = correlation if correlation and _HEADER_TOKEN.match(correlation) else command_id
    return CommandContext(actor=actor, command_id=command_id, correlation_id=correlation_id)


def build_broker(definition: ServiceDefinition, settings: Settings) -> NatsBroker:
    """The FastStream broker: policy subscribers and the AsyncAPI description of published events."""
    options = connect_options(settings, name=f"fourlinks-{definition.name}-policies")
    servers, user, password, tls = (options.pop(k, None) for k in ("servers", "user", "password", "tls"))
    security: BaseSecurity | None = None
    if user is not None:  # FastStream takes credentials and TLS as a security object
        security = SASLPlaintext(username=user, password=password or "", ssl_context=tls)
    elif tls is not None:
        security = BaseSecurity(ssl_context=tls)
    broker = NatsBroker(
        servers,
        logger=logging.getLogger("fourlinks.faststream"),
        security=security,
        **{k: v for k, v in options.items() if k != "name"},
    )
    stream = JStream(settings.stream, declare=False)
    for contract in definition.publishes:
        broker.publisher(
            f"{settings.subject_prefix}.{definition.name}.*.*.{contract.event_type}",
            title=contract.event_type,
            description=(contract.__doc__ or "").strip(),
            schema=contract,
            stream=stream,
        )
    return broker


def _register_policies(runtime: ServiceRuntime, broker: NatsBroker) -> None:
    stream = JStream(runtime.settings.stream, declare=False)
    for policy in runtime.definition.policies:
        subscriber = broker.subscriber(
            policy.subjects,
            stream=stream,
            durable=f"{runtime.definition.name}-{policy.name}-v{policy.version}",
            # One message a fetch: a fetch for more waits until it has them all or its timeout ends
            # (seconds of latency at a quiet hour); the workers still handle `concurrency` at once.
            pull_sub=PullSub(batch_size=1),
            max_workers=policy.concurrency,
            ack_policy=AckPolicy.MANUAL,
            title=f"{runtime.definition.name}.{policy.name}",
            description=policy.description,
        )
        subscriber(_policy_handler(runtime, policy))


def _policy_handler(runtime: ServiceRuntime, policy: Policy) -> Callable[[NatsMessage], Awaitable[None]]:
    """Manual acks: ack after the handler succeeded, nak with a growing delay when it raised."""

    async def handle(message: NatsMessage) -> None:
        raw = message.raw_message
        stored = StoredEvent(raw.metadata.sequence.stream, raw.subject, raw.data)
        clear_context()
        bind_context(policy=policy.name, position=stored.position)
        try:
            event = await runtime.store.codec.decode(stored)
            bind_context(correlation_id=event.envelope.correlation_id)
            await policy.handle(event, runtime)
        except DomainError as exc:  # the same event would be refused again: say so and move on
            log.warning("policy_refused", error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:
            attempt = raw.metadata.num_delivered
            log.warning("policy_failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}"[:300])
            await message.nack(delay=min(0.1 * 2**attempt, 60.0))
            return
        await message.ack()

    return handle


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


async def _supervise(runner: ProjectionRunner) -> None:
    """Keep a projection running through disconnects; a halt stays halted until fixed."""
    delay = 0.5
    while True:
        try:
            await runner.run()
            return
        except ProjectionHalted:
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("projection_restarting", projection=runner.projection.name, error=repr(exc)[:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


def open_event_store(
    nc: Client, settings: Settings, registry: EventRegistry
) -> tuple[JetStreamEventStore, PersonalDataCipher]:
    """The JetStream event store of `settings`, with the cipher over the shared key table."""
    cipher = PersonalDataCipher(
        master_key=settings.master_key_bytes(), keys=NatsKeyStore(nc, settings.key_bucket)
    )
    return JetStreamEventStore(nc, EventCodec(registry, cipher), settings.jetstream()), cipher


async def start_runtime(definition: ServiceDefinition, settings: Settings) -> ServiceRuntime:
    """Connect, build the store and engine, start projections and policies."""
    nc = await _connect_with_retry(settings, f"fourlinks-{definition.name}")
    store, cipher = open_event_store(nc, settings, definition.registry)
    url, schema = settings.read_model_database(definition.name)
    engine = await create_engine_with_schema(url, schema)
    runtime = ServiceRuntime(definition, settings, nc, store, engine, cipher, ServiceMetrics())
    runtime.idempotency = await IdempotencyKeys.open(nc, settings.idempotency_bucket)
    await ensure_bookkeeping(engine)
    for factory in definition.projections:
        runner = ProjectionRunner(
            factory(), store=store, engine=engine, batch_size=settings.projection_batch_size
        )
        runtime.runners.append(runner)
        with contextlib.suppress(ProjectionHalted):
            await runner.prepare()  # tables exist before the first query; a halt is reported by run()
        runtime.tasks.append(
            asyncio.create_task(_supervise(runner), name=f"projection:{runner.projection.name}")
        )
    for worker in definition.workers:
        runtime.tasks.append(
            asyncio.create_task(_supervised_worker(worker, runtime), name=f"worker:{worker.__name__}")
        )
    if definition.policies:
        runtime.broker = build_broker(definition, settings)
        _register_policies(runtime, runtime.broker)
        await runtime.broker.start()
    return runtime


async def stop_runtime(runtime: ServiceRuntime) -> None:
    """Stop policies and projections, then close connections; bounded so shutdown never hangs."""
    if runtime.broker is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.broker.stop(), SHUTDOWN_SECONDS)
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


async def create_engine_with_schema(url: str, schema: str | None) -> AsyncEngine:
    """An engine whose tables live in `schema` (PostgreSQL), created if missing."""
    if schema is None:
        return create_engine(url)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    await admin.dispose()
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": {"search_path": schema}},
    )


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block the projection."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sqlalchemy_event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastAPI:
    """The service's ASGI app: routes, health, metrics, OpenAPI and AsyncAPI docs."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(definition, settings)
        app.state.runtime = runtime
        log.info("service_started", service=definition.name)
        try:
            yield
        finally:
            await stop_runtime(runtime)
            log.info("service_stopped", service=definition.name)

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        lifespan=lifespan,
    )
    app.state.verifier = TokenVerifier(settings)
    app.state.settings = settings
    install_error_handlers(app)
    _install_request_context(app, settings)
    app.include_router(_operations_router(definition, settings))
    for router in definition.routers:
        app.include_router(router)
    document_errors(app)
    return app


class RequestContext:
    """Binds a correlation id, method and path to every log line of a request (a plain ASGI
    middleware: Starlette's BaseHTTPMiddleware costs about a millisecond a request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            clear_context()
            headers = dict(scope.get("headers") or [])
            correlation = headers.get(b"x-correlation-id", b"").decode("latin-1")
            bind_context(
                correlation_id=correlation if _HEADER_TOKEN.match(correlation) else new_id(),
                method=scope["method"],
                path=scope["path"],
            )
        await self.app(scope, receive, send)


def _install_request_context(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestContext)


def _operations_router(definition: ServiceDefinition, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["operations"])
    asyncapi_json: dict[str, str] = {}

    def asyncapi_document() -> str:
        if "doc" not in asyncapi_json:
            broker = build_broker(definition, settings)
            if definition.policies:
                _register_doc_policies(definition, settings, broker)
            spec = AsyncAPI(
                broker, title=definition.title, version=definition.version, description=definition.description
            )
            asyncapi_json["doc"] = spec.to_specification().to_json()
        return asyncapi_json["doc"]

    @router.get("/health/live", summary="The process is up and its NATS connections are not closed for good")
    async def live(request: Request) -> JSONResponse:
        closed = closed_connections(request.app.state.runtime)
        if closed:  # it will never reconnect by itself: an orchestrator must restart the process
            return JSONResponse({"status": "dead", "closed_connections": closed}, status_code=503)
        return JSONResponse({"status": "live"})

    @router.get("/health/ready", summary="NATS connected, projections caught up and not halted")
    async def ready(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        projections = {
            r.projection.name: {
                "position": r.status.position,
                "caught_up": r.status.caught_up,
                "halted_reason": r.status.halted_reason,
            }
            for r in runtime.runners
        }
        missing = what_is_missing(runtime)
        ok = not missing
        body = {
            "status": "ready" if ok else "not ready",
            "missing": missing,
            "nats_connected": runtime.nc.is_connected,
            "projections": projections,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        runtime: ServiceRuntime = request.app.state.runtime
        await _refresh_gauges(runtime)
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/asyncapi.json", summary="AsyncAPI description of the events this service publishes and consumes"
    )
    async def asyncapi() -> Response:
        return Response(asyncapi_document(), media_type="application/json")

    @router.get("/asyncapi", summary="AsyncAPI description, rendered", response_class=HTMLResponse)
    async def asyncapi_html() -> HTMLResponse:
        broker = build_broker(definition, settings)
        spec = AsyncAPI(broker, title=definition.title, version=definition.version)
        return HTMLResponse(get_asyncapi_html(spec.to_specification()))

    return router


def what_is_missing(runtime: ServiceRuntime) -> list[str]:
    """Why the service is not ready, each reason in words (empty when it is ready)."""
    missing = [] if runtime.nc.is_connected else ["NATS unreachable"]
    for runner in runtime.runners:
        status, name = runner.status, runner.projection.name
        if status.halted_reason:
            missing.append(f"projection {name} halted: {status.halted_reason[:200]}")
        elif not status.healthy:
            behind = max(status.target - status.position, 0)
            missing.append(f"projection {name} catching up: {behind:,} events behind")
    return missing


def closed_connections(runtime: ServiceRuntime) -> list[str]:
    """The process's NATS connections that are closed for good (not merely reconnecting)."""
    closed = ["events"] if runtime.nc.is_closed else []
    policies = runtime.broker._connection if runtime.broker is not None else None
    if policies is not None and policies.is_closed:
        closed.append("policies")
    return closed


def _register_doc_policies(definition: ServiceDefinition, settings: Settings, broker: NatsBroker) -> None:
    stream = JStream(settings.stream, declare=False)
    for policy in definition.policies:

        async def documented(message: NatsMessage) -> None:  # pragma: no cover - documentation only
            return None

        broker.subscriber(
            policy.subjects,
            stream=stream,
            durable=f"{definition.name}-{policy.name}-v{policy.version}",
            # One message a fetch: a fetch for more waits until it has them all or its timeout ends
            # (seconds of latency at a quiet hour); the workers still handle `concurrency` at once.
            pull_sub=PullSub(batch_size=1),
            max_workers=policy.concurrency,
            ack_policy=AckPolicy.MANUAL,
            title=f"{definition.name}.{policy.name}",
            description=policy.description,
        )(documented)


async def _refresh_gauges(runtime: ServiceRuntime) -> None:
    runtime.metrics.nats_connected.set(1 if runtime.nc.is_connected else 0)
    try:
        last = await runtime.store.last_position()
    except Exception:
        last = None
    for runner in runtime.runners:
        name = runner.projection.name
        runtime.metrics.projection_position.labels(name).set(runner.status.position)
        runtime.metrics.projection_halted.labels(name).set(1 if runner.status.halted_reason else 0)
        if last is not None:
            runtime.metrics.projection_lag.labels(name).set(max(last - runner.status.position, 0))
