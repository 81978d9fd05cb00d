"""The console's /metrics, Prometheus text as the services' (`fourlinks_runtime.metrics`): how long
each page took to answer, by its route template, and how long each call to a service took, by
service and the route template of the call. No label holds an id, a reference or a name: a
page's template is its route's (`/tasks/{task_id}`), a call's keeps the services' route words
and says `{id}` for every other segment of its path."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import Scope

from fourlinks_runtime.app import Observe, route_template
from fourlinks_runtime.metrics import HTTP_BUCKETS

ROUTE_WORDS = frozenset(
    {
        *("accept", "actions", "answer", "assign", "below", "board", "callback", "callbacks", "card"),
        *("cards", "close", "columns", "contact", "coverage", "dashboard", "deactivate", "decision"),
        *("detach", "doorway", "due", "enterprises", "erase", "escalate", "extension", "feedback"),
        *("follow-up", "health", "helpers", "history", "households", "kpis", "live", "lookup"),
        *("member-on", "members", "names", "not-reached", "notices", "org-units", "park", "party-days"),
        *("photos", "print", "progress", "public", "push-down", "ranking", "ratings", "reach", "ready"),
        *("reassign", "recurring", "reject", "reopen", "residents", "resolution", "retry", "return"),
        *("revoke", "route", "service-matters", "sign-in-link", "spot-check", "suggested-members"),
        *("summary", "tasks", "timeline", "transfer", "triage", "uncovered", "units", "unpark", "visits"),
        *("categories", "duplicate"),  # the feedback inbox's and the categories' page
        "search",  # each service's search, the console's search page asks all three
        *("phone-codes", "offered", "confirmation"),  # a reporter's phone confirmed at a card's doorway
        "integrity",  # the checkpointer's
        *("districts", "trend"),  # the province service's
    }
)
"""The words of the services' routes (tests/test_console_figures.py keeps this list whole)."""
UNANSWERED = "unanswered"
"""A call's status when the service did not answer (or failed: 5xx)."""


def call_route(path: str) -> str:
    """The route template of a call to a service: its words kept, any other segment `{id}`."""
    segments = [part if part in ROUTE_WORDS else "{id}" for part in path.strip("/").split("/") if part]
    return "/" + "/".join(segments)


@dataclass
class ConsoleMetrics:
    """What the console shows on /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.pages = Histogram(
            "fourlinks_console_request_duration_seconds",
            "The console's answers by method, route template and status, and how long they took",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.calls = Histogram(
            "fourlinks_console_upstream_duration_seconds",
            "The console's calls to the services by service, method, route template and status "
            "(`unanswered`: no answer, or a failure), and how long they took",
            ["service", "method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )

    def called(self, *, service: str, method: str, path: str, status: int | None, seconds: float) -> None:
        """One call to a service, timed."""
        shown = str(status) if status is not None else UNANSWERED
        self.calls.labels(service, method, call_route(path), shown).observe(seconds)


def page_timer(owner: FastAPI) -> Observe:
    """What the runtime's request timer hands each answer of the console to:
    `fourlinks_console_request_duration_seconds`, by route template and status sent."""

    def observe(scope: Scope, status: int, seconds: float) -> None:
        metrics: ConsoleMetrics = owner.state.metrics
        metrics.pages.labels(scope["method"], _template(scope), str(status)).observe(seconds)

    return observe


def _template(scope: Scope) -> str:
    """The route the request matched, as its template; the console's own files as one route."""
    route = route_template(scope)
    if route != "unmatched":
        return route
    return "/static/{path}" if str(scope.get("path", "")).startswith("/static/") else route
