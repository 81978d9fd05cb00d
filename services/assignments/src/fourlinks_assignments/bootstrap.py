"""The one place that wires the assignments service."""

from __future__ import annotations

from fastapi import FastAPI

from fourlinks_contracts import full_registry
from fourlinks_runtime.service import ServiceDefinition
from fourlinks_runtime.service import create_app as create_service_app
from fourlinks_runtime.settings import Settings

DESCRIPTION = "The task loop: handed out, worked, spot-checked, corrected, adjusted, closed."


def definition() -> ServiceDefinition:
    """What the assignments service is made of."""
    return ServiceDefinition(
        name="assignments",
        title="Four Links: assignments",
        description=DESCRIPTION,
        registry=full_registry(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_assignments.bootstrap:create_app`)."""
    return create_service_app(definition(), settings)
