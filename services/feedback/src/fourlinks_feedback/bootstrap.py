"""The one place that wires the feedback service."""

from __future__ import annotations

from fastapi import FastAPI

from fourlinks_contracts import feedback, full_registry
from fourlinks_directory.members_directory import MemberDirectoryProjection
from fourlinks_feedback.adapters.feedback_api import router
from fourlinks_feedback.application.reactions import callback_scheduler, policies
from fourlinks_feedback.projections.feedback import FeedbackProjection
from fourlinks_runtime.service import ServiceDefinition
from fourlinks_runtime.service import create_app as create_service_app
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
        projections=(MemberDirectoryProjection, FeedbackProjection),
        routers=(router,),
        policies=policies(settings.subject_prefix),
        workers=(callback_scheduler,),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_feedback.bootstrap:create_app`)."""
    settings = settings or Settings()
    return create_service_app(definition(settings), settings)
