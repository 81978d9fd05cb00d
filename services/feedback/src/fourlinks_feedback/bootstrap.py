"""The one place that wires the feedback service."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts import feedback, full_registry
from fourlinks_feedback import read_models
from fourlinks_feedback.adapters import photos_api, search_api
from fourlinks_feedback.adapters.feedback_api import router
from fourlinks_feedback.application import queries
from fourlinks_feedback.application.access import household_erased
from fourlinks_feedback.application.figures import FIGURES
from fourlinks_feedback.application.reactions import callback_scheduler, policies
from fourlinks_runtime.app import create_app as create_service_app
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.photos import UPLOAD_LIMIT
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

DESCRIPTION = "Residents' feedback, call-backs, satisfaction and corrections."


def definition(settings: Settings) -> ServiceDefinition:
    """What the feedback service is made of."""
    return ServiceDefinition(
        name="feedback",
        title="Four Links: feedback",
        description=DESCRIPTION,
        registry=full_registry(),
        publishes=feedback.EVENTS,
        projections=read_models.PROJECTIONS,
        routers=(router, photos_api.router, search_api.router),
        figures=FIGURES,
        large_bodies={"/photos": UPLOAD_LIMIT},
        policies=policies(settings.subject_prefix),
        workers=(callback_scheduler,),
        erased_household=household_erased,
        warm_up=warm_up,
    )


async def warm_up(conn: AsyncConnection, runtime: ServiceRuntime) -> None:
    """The hot queries, once at start (`fourlinks_runtime.warm`)."""
    limit = timedelta(hours=runtime.settings.response_limit_hours)
    zone = ZoneInfo(runtime.settings.timezone)
    await queries.warm_up(conn, zone=zone, now=runtime.clock(), response_limit=limit)


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_feedback.bootstrap:create_app`)."""
    settings = settings or Settings()
    return create_service_app(definition(settings), settings)
