"""Builds a service's ASGI app: routes, errors, request context, health, metrics, API docs.

Nothing is built at import time; `create_app` is the one place that wires a service, so tests
wire it the same way with their own settings.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi import get_asyncapi_html
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fourlinks_kernel.ids import new_id
from fourlinks_kernel.projection import ProjectionStatus
from fourlinks_runtime.asyncapi import build_broker, document_policies
from fourlinks_runtime.auth import TokenVerifier
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.docs import ASYNCAPI_CSS, ASYNCAPI_JS, install_docs, offline
from fourlinks_runtime.edge import BodyLimit
from fourlinks_runtime.errors import document_errors, install_error_handlers
from fourlinks_runtime.http import HEADER_TOKEN
from fourlinks_runtime.logs import bind_context, clear_context, configure_logging
from fourlinks_runtime.metrics import UNKNOWN
from fourlinks_runtime.runtime import ServiceRuntime, start_runtime, stop_runtime
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.stalls import StallWatch
from fourlinks_runtime.stored import correlation_in_envelope
from fourlinks_runtime.upstate import INSTANCE_ENV
from fourlinks_runtime.warm import warm_up, warming

if TYPE_CHECKING:
    from faststream.specification.base import Specification

log = structlog.get_logger(__name__)


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastAPI:
    """The service's ASGI app: routes, health, metrics, OpenAPI and AsyncAPI docs."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(definition, settings)
        app.state.runtime = runtime
        # The first request no slower than the next: routes built now, hot queries once caught up.
        app.state.warming = await warm_up(app, runtime)
        # What start-up made lives as long as the process: the collector need not walk it again.
        gc.collect()
        gc.freeze()
        log.info("service_started", service=definition.name)
        try:
            yield
        finally:
            app.state.warming.cancel()
            await stop_runtime(runtime)
            log.info("service_stopped", service=definition.name)

    app = service_shell(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        lifespan=lifespan,
        settings=settings,
        large_bodies=definition.large_bodies,
    )
    app.include_router(_operations_router(definition, settings))
    for router in definition.routers:
        app.include_router(router)
    document_errors(app)
    return app


def service_shell(
    *,
    title: str,
    description: str,
    version: str,
    lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]],
    settings: Settings,
    large_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """What every service's app has before its routes: bearer tokens checked, errors answered
    with codes, request context and timing (`app.state.runtime.metrics`), offline API docs. A
    service over something else than the district's log (the province) starts its own runtime
    in `lifespan`, adds its routes, then calls `document_errors`."""
    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local assets
        redoc_url=None,
    )
    app.state.verifier = TokenVerifier(settings)
    app.state.settings = settings
    install_error_handlers(app)
    install_docs(app)
    _install_request_context(app, settings, large_bodies or {})
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
                correlation_id=correlation if HEADER_TOKEN.match(correlation) else new_id(),
                method=scope["method"],
                path=scope["path"],
            )
        await self.app(scope, receive, send)


Observe = Callable[[Scope, int, float], None]
"""What a timer hands on for each request: its scope, the status sent, the seconds it took."""


class RequestTimer:
    """Times every HTTP request and hands the scope, the status sent and the seconds to `observe`
    (the services' and the console's metrics label them with the route template, never the path)."""

    def __init__(self, app: ASGIApp, observe: Observe) -> None:
        self.app, self.observe = app, observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.observe(scope, status[0], time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The route a request matched, as its template (`/tasks/{task_id}`), or "unmatched"."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


def _timed_by_runtime(owner: FastAPI) -> Observe:
    def observe(scope: Scope, status: int, seconds: float) -> None:
        runtime = getattr(owner.state, "runtime", None)
        if runtime is not None:
            runtime.metrics.http_duration.labels(scope["method"], route_template(scope), str(status)).observe(
                seconds
            )

    return observe


def _install_request_context(app: FastAPI, settings: Settings, large_bodies: Mapping[str, int]) -> None:
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, larger=dict(large_bodies))
    app.add_middleware(RequestContext)
    app.add_middleware(RequestTimer, observe=_timed_by_runtime(app))


def _operations_router(definition: ServiceDefinition, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["operations"])
    asyncapi_json: dict[str, str] = {}
    instance = os.environ.get(INSTANCE_ENV) or None  # the `fourlinks up` run that started this process
    stalls = StallWatch()

    def asyncapi_document() -> str:
        if "doc" not in asyncapi_json:
            broker = build_broker(definition, settings)
            if definition.policies:
                document_policies(definition, settings, broker)
            spec = AsyncAPI(
                broker, title=definition.title, version=definition.version, description=definition.description
            )
            document = correlation_in_envelope(json.loads(spec.to_specification().to_json()))
            asyncapi_json["doc"] = json.dumps(document, ensure_ascii=False)
        return asyncapi_json["doc"]

    @router.get(
        "/health/live",
        summary="The process is up and its NATS connections are not closed for good",
        responses={200: {"model": Liveness}, 503: {"model": Liveness}},
    )
    async def live(request: Request) -> JSONResponse:
        closed = closed_connections(request.app.state.runtime)
        if closed:  # it will never reconnect by itself: an orchestrator must restart the process
            return JSONResponse({"status": "dead", "closed_connections": closed}, status_code=503)
        return JSONResponse({"status": "live"})

    @router.get(
        "/health/ready",
        summary="NATS connected, projections caught up and not halted; which `fourlinks up` run "
        "started the process",
        responses={200: {"model": Readiness}, 503: {"model": Readiness}},
    )
    async def ready(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        statuses = await runtime.statuses()
        projections = {
            s.name: {"position": s.position, "caught_up": s.caught_up, "halted_reason": s.halted_reason}
            for s in statuses
        }
        missing = what_is_missing(runtime.nc.is_connected, statuses)
        if not missing:  # caught up by their own account: are they still following the log?
            with contextlib.suppress(Exception):  # the log's end unknown: the next probe asks again
                missing = stalls.stalled(statuses, await runtime.store.last_position())
        if not missing:
            missing = warming(getattr(request.app.state, "warming", None))
        ok = not missing
        body = {
            "status": "ready" if ok else "not ready",
            "missing": missing,
            "nats_connected": runtime.nc.is_connected,
            "projections": projections,
            "instance": instance,
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
        written = _Written(asyncapi_document(), definition.title)  # the document of /asyncapi.json
        page = get_asyncapi_html(
            cast("Specification", written),
            asyncapi_js_url=ASYNCAPI_JS,
            asyncapi_css_url=ASYNCAPI_CSS,
            try_it_out_path=None,
        )
        return HTMLResponse(offline(page))

    return router


@dataclass(frozen=True)
class _Written:
    """An AsyncAPI document already written out: what FastStream's page renders (it only asks for
    the JSON)."""

    text: str
    title: str

    def to_json(self) -> str:
        return self.text


class Liveness(BaseModel):
    """Whether the process should be restarted: `dead` when a NATS connection closed for good."""

    status: str
    closed_connections: list[str] = []


class ProjectionHealth(BaseModel):
    """Where one projection stands."""

    position: int
    caught_up: bool
    halted_reason: str | None


class Readiness(BaseModel):
    """Whether the service can answer now, and if not, what is missing, in words."""

    status: str
    missing: list[str]
    nats_connected: bool
    projections: dict[str, ProjectionHealth]
    instance: str | None = Field(
        default=None,
        description="the instance id of the `fourlinks up` run that started this process "
        "(FOURLINKS_UP_INSTANCE); null outside `fourlinks up`",
    )


def what_is_missing(nats_connected: bool, statuses: list[ProjectionStatus]) -> list[str]:
    """Why the service is not ready, each reason in words (empty when it is ready)."""
    missing = [] if nats_connected else ["NATS unreachable"]
    for status in statuses:
        name = status.name
        if status.halted_reason:
            missing.append(f"projection {name} halted: {status.halted_reason[:200]}")
        elif not status.healthy:
            behind = max(status.target - status.position, 0)
            missing.append(f"projection {name} catching up: {behind:,} events behind")
    return missing


def closed_connections(runtime: ServiceRuntime) -> list[str]:
    """The process's NATS connections that are closed for good (not merely reconnecting)."""
    return ["events"] if runtime.nc.is_closed else []


async def _refresh_gauges(runtime: ServiceRuntime) -> None:
    runtime.metrics.nats_connected.set(1 if runtime.nc.is_connected else 0)
    missing = what_is_missing(runtime.nc.is_connected, await runtime.statuses())
    runtime.metrics.ready.set(0 if missing else 1)
    try:
        last: int | None = await runtime.store.last_position()
    except Exception:
        last = None
    for runner in runtime.runners:
        name = runner.projection.name
        runtime.metrics.projection_position.labels(name).set(runner.status.position)
        runtime.metrics.projection_halted.labels(name).set(1 if runner.status.halted_reason else 0)
        lag = UNKNOWN if last is None else max(last - runner.status.position, 0)
        runtime.metrics.projection_lag.labels(name).set(lag)
    _refresh_policy_gauges(runtime, last)
    await _refresh_figures(runtime)


async def _refresh_figures(runtime: ServiceRuntime) -> None:
    """The service's business figures, read from its read models now."""
    if not runtime.definition.figures:
        return
    try:
        async with runtime.engine.connect() as conn:
            for figure in runtime.definition.figures:
                values = await figure.read(conn, runtime.settings, runtime.clock())
                gauge = runtime.metrics.figure(figure.name, figure.description)
                gauge.clear()  # a unit with nothing to count now drops out, never keeps its old figure
                for unit, value in values.items():
                    gauge.labels(unit).set(value)
    except SQLAlchemyError as exc:  # the read model's database is away: the rest of /metrics still says so
        log.warning("figures_unavailable", error=type(exc).__name__)


def _refresh_policy_gauges(runtime: ServiceRuntime, last: int | None) -> None:
    """Each policy's backlog in log positions (unknown when the log's end cannot be asked), the
    events in hand and those being tried again after a failure."""
    for runner in runtime.policies:
        name = runner.policy.name
        pending = UNKNOWN if last is None else max(last - runner.position, 0)
        runtime.metrics.policy_pending.labels(name).set(pending)
        runtime.metrics.policy_ack_pending.labels(name).set(runner.in_hand)
        runtime.metrics.policy_redelivered.labels(name).set(runner.failing)
