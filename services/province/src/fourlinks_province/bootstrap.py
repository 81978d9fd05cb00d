"""The one place that wires the province service: the runtime's HTTP shell (bearer tokens, errors
with codes, request timing, docs), its own runtime over FOURLINKS_PROVINCE (no district's events
stream, no key: it has none), health and metrics."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fourlinks_province.adapters.province_api import router
from fourlinks_province.runtime import ProvinceRuntime, start, stop
from fourlinks_province.settings import Districts, ProvinceSettings
from fourlinks_runtime.app import Liveness, Readiness, service_shell, what_is_missing
from fourlinks_runtime.errors import document_errors
from fourlinks_runtime.logs import configure_logging
from fourlinks_runtime.metrics import UNKNOWN
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import INSTANCE_ENV

log = structlog.get_logger(__name__)
DESCRIPTION = (
    "The figures a province's districts send up (counts per community and month, never events nor "
    "personal data), summed by district, street, city and province, with the districts' rates, "
    "rankings, trends and their checkpoints verified."
)


def create_app(settings: Settings | None = None, province: ProvinceSettings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_province.bootstrap:create_app`); a broken
    districts file stops the start."""
    settings, province = settings or Settings(), province or ProvinceSettings()
    districts = Districts.read(province.districts_file)
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = await start(settings, province, districts)
        log.info("service_started", service="province", districts=len(districts.districts))
        try:
            yield
        finally:
            await stop(app.state.runtime)

    app = service_shell(
        title="Four Links: province",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        settings=settings,
    )
    app.include_router(_operations())
    app.include_router(router)
    document_errors(app)
    return app


def _operations() -> APIRouter:
    operations = APIRouter(tags=["operations"])

    @operations.get("/health/live", summary="The process is up and its NATS connection not closed for good")
    async def live(request: Request) -> JSONResponse:
        runtime: ProvinceRuntime = request.app.state.runtime
        if runtime.nc.is_closed:
            body = Liveness(status="dead", closed_connections=["figures"])
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(Liveness(status="live").model_dump())

    @operations.get(
        "/health/ready",
        summary="NATS connected, the districts' figures caught up and not halted",
        responses={200: {"model": Readiness}, 503: {"model": Readiness}},
    )
    async def ready(request: Request) -> JSONResponse:
        runtime: ProvinceRuntime = request.app.state.runtime
        status = runtime.follower.status
        missing = what_is_missing(runtime.nc.is_connected, [status])
        body = Readiness(
            status="not ready" if missing else "ready",
            missing=missing,
            nats_connected=runtime.nc.is_connected,
            instance=os.environ.get(INSTANCE_ENV) or None,  # the `fourlinks up` run that started it
            projections={
                status.name: {
                    "position": status.position,
                    "caught_up": status.caught_up,
                    "halted_reason": status.halted_reason,
                }
            },
        )
        return JSONResponse(body.model_dump(), status_code=503 if missing else 200)

    @operations.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        runtime: ProvinceRuntime = request.app.state.runtime
        await _refresh(runtime)
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return operations


async def _refresh(runtime: ProvinceRuntime) -> None:
    status = runtime.follower.status
    metrics = runtime.metrics
    metrics.nats_connected.set(1 if runtime.nc.is_connected else 0)
    metrics.ready.set(0 if what_is_missing(runtime.nc.is_connected, [status]) else 1)
    metrics.projection_position.labels(status.name).set(status.position)
    metrics.projection_halted.labels(status.name).set(1 if status.halted_reason else 0)
    try:
        lag: float = max(await runtime.follower.last_sequence() - status.position, 0)
    except Exception:
        lag = UNKNOWN  # NATS cannot say now
    metrics.projection_lag.labels(status.name).set(lag)
