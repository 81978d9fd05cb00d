"""The one place that wires the assignments service."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_assignments import read_models
from fourlinks_assignments.adapters import (
    party_days_api,
    photos_api,
    search_api,
    task_commands_api,
    task_figures_api,
    task_reads_api,
)
from fourlinks_assignments.application import queries
from fourlinks_assignments.application.figures import FIGURES
from fourlinks_assignments.application.reactions import deadline_scheduler, policies
from fourlinks_contracts import assignments, full_registry
from fourlinks_runtime.app import create_app as create_service_app
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.photos import UPLOAD_LIMIT
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

DESCRIPTION = "The task loop: handed out, worked, spot-checked, corrected, adjusted, closed."


def definition(settings: Settings) -> ServiceDefinition:
    """What the assignments service is made of."""
    return ServiceDefinition(
        name="assignments",
        title="Four Links: assignments",
        description=DESCRIPTION,
        registry=full_registry(),
        publishes=assignments.EVENTS,
        projections=read_models.PROJECTIONS,
        routers=(
            task_commands_api.router,
            task_reads_api.router,
            task_figures_api.router,
            party_days_api.router,
            photos_api.router,
            search_api.router,
        ),
        figures=FIGURES,
        large_bodies={"/tasks/{task_id}/photos": UPLOAD_LIMIT},
        policies=policies(settings.subject_prefix),
        workers=(deadline_scheduler,),
        warm_up=warm_up,
    )


async def warm_up(conn: AsyncConnection, runtime: ServiceRuntime) -> None:
    """The hot queries, once at start (`fourlinks_runtime.warm`)."""
    await queries.warm_up(conn, zone=ZoneInfo(runtime.settings.timezone), now=runtime.clock())


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_assignments.bootstrap:create_app`)."""
    settings = settings or Settings()
    return create_service_app(definition(settings), settings)
