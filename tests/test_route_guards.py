"""Access written once: every route of every service declares its guard (a role type from
`fourlinks_runtime.guards`), every console page needs a signed-in person, and the few routes
anyone may call are named here with the reason. A new route without a guard fails this test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_console.app import create_app as console_app
from fourlinks_console.settings import ConsoleSettings
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_province.bootstrap import create_app as province_app
from fourlinks_runtime.settings import Settings

SERVICES: dict[str, Callable[[Settings], FastAPI]] = {
    "members": members_app,
    "assignments": assignments_app,
    "feedback": feedback_app,
    "notifications": notifications_app,
    "province": province_app,
}
OPEN_ON_EVERY_SERVICE = {
    "/docs": "the API's own documentation (no data)",
    "/health/live": "probes",
    "/health/ready": "probes",
    "/metrics": "Prometheus, on the internal network only (never through the Ingress)",
    "/asyncapi": "the events' documentation (no data)",
    "/asyncapi.json": "the events' documentation (no data)",
}
OPEN_ON_ONE_SERVICE = {
    ("members", "/service-matters"): "the list of service matters printed on every card",
    ("feedback", "/public/follow-up/{reference}"): "a reference's progress, no personal data, rate-limited",
    ("members", "/doorway/{token}"): "a printed card's signed link: its member now, rate-limited per card",
}
OPEN_CONSOLE_PAGES = {
    "/signin": "the sign-in page",
    "/signin/local": "local sign-in (make up on loopback only)",
    "/signin/oidc": "to the identity provider",
    "/signin/oidc/callback": "back from the identity provider",
    "/signout": "ends the session (CSRF-checked)",
    "/follow": "a reference's public progress",
    "/r": "a household's sign-in link: a confirmation page, signed in by POST",
    "/d/{link}": "a printed card's doorway: its member now (the members service checks the link)",
    "/d/{link}/report": "a report from a card's doorway (CSRF-checked, the link checked again)",
    "/d/{link}/code": "a code texted to the reporter's phone at a card's doorway (CSRF-checked)",
    "/health/live": "probes",
    "/health/ready": "probes",
    "/metrics": "Prometheus, on the internal network only (never through the Ingress)",
    "/locale/{locale}": "the language chosen (a cookie)",
}


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route of an app, included routers opened."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def dependencies(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        yield getattr(dependency.call, "__qualname__", repr(dependency.call))
        yield from dependencies(dependency)


def guarded(route: APIRoute) -> bool:
    """Whether a role guard of `fourlinks_runtime.guards` stands in front of the route."""
    return any(name.startswith("require_roles.") for name in dependencies(route.dependant))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path, master_key="dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk=", jwt_secret="x" * 40
    )


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_route_of_a_service_declares_who_may_call_it(service: str, settings: Settings) -> None:
    routes = list(api_routes(SERVICES[service](settings).routes))
    open_here = set(OPEN_ON_EVERY_SERVICE) | {path for (s, path) in OPEN_ON_ONE_SERVICE if s == service}
    unguarded = sorted(r.path for r in routes if not guarded(r) and r.path not in open_here)
    assert unguarded == [], f"{service}: routes without a guard from fourlinks_runtime.guards"
    assert len(routes) > len(open_here)  # the walk found the service's own routes


def test_no_open_route_is_forgotten_in_the_list(settings: Settings) -> None:
    for (service, path), _why in OPEN_ON_ONE_SERVICE.items():
        paths = {r.path for r in api_routes(SERVICES[service](settings).routes)}
        assert path in paths, (service, path)


def test_every_console_page_needs_a_signed_in_person_but_the_way_in(settings: Settings) -> None:
    routes = list(api_routes(console_app(ConsoleSettings(), settings).routes))
    open_pages = sorted(
        r.path for r in routes if not any("current_person" in d for d in dependencies(r.dependant))
    )
    assert set(open_pages) <= set(OPEN_CONSOLE_PAGES), set(open_pages) - set(OPEN_CONSOLE_PAGES)
    assert len(routes) > 30
