"""The one place that wires the members service."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts import full_registry, members
from fourlinks_members import read_models
from fourlinks_members.adapters import (
    cards_api,
    contacts_api,
    members_api,
    names_api,
    org_units_api,
    search_api,
)
from fourlinks_members.application import queries
from fourlinks_members.application.access import household_erased
from fourlinks_members.application.figures import FIGURES
from fourlinks_runtime.app import create_app as create_service_app
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings


def definition(settings: Settings | None = None) -> ServiceDefinition:
    """What the members service is made of (it needs no settings to say so)."""
    return ServiceDefinition(
        name="members",
        title="Four Links: members",
        description=(
            "Org units, party members, households, enterprises, 1 + X teams, service cards, coverage."
        ),
        registry=full_registry(),
        publishes=members.EVENTS,
        projections=read_models.PROJECTIONS,
        routers=(
            org_units_api.router,
            members_api.router,
            contacts_api.router,
            names_api.router,
            cards_api.router,
            search_api.router,
        ),
        figures=FIGURES,
        erased_household=household_erased,
        warm_up=warm_up,
    )


async def warm_up(conn: AsyncConnection, runtime: ServiceRuntime) -> None:
    """The hot queries, once at start (`fourlinks_runtime.warm`)."""
    await queries.warm_up(conn, today=runtime.today())


def create_app(settings: Settings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_members.bootstrap:create_app`)."""
    return create_service_app(definition(), settings)
