"""The one place that wires the feedback service."""

from __future__ import annotations

from fastapi import FastAPI

from fourlinks_contracts import full_registry
from fourlinks_runtime.service import ServiceDefinition
from fourlinks_runtime.service import create_app as create_service_app
from fourlinks_runtime.settings import Settings

DESCRIPTION = "Residents' feedback, call-backs, satisfaction and corrections."


def definition() -> ServiceDefinition:
    """What the feedback service is made of."""
    return ServiceDefinition(
        name="feedback",
        title="Four Links: feedback",
        description=DESCRIPTION,
        registry=full_registry(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_feedback.bootstrap:create_app`)."""
    return create_service_app(definition(), settings)
