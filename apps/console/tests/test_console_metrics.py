"""The console's /metrics: how long its pages take, by route template, and how long its calls to
the services take, by service and route template; never an id in a label, so that no person's
task, household or name reaches the monitoring."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from apps.console.tests.harness import signed_in_console
from prometheus_client.parser import text_string_to_metric_families

from fourlinks_console.metrics import call_route

TASK = "0190bbbb-0000-7000-8000-000000000001"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
MEMBERS_PORT, FEEDBACK_PORT = 8101, 8103


def services_answering(request: httpx.Request) -> httpx.Response:
    """The members service lists the district for the local sign-in; the feedback service does not
    answer at all; every other call is refused (404)."""
    if request.url.port == FEEDBACK_PORT:
        raise httpx.ConnectError("the feedback service is away", request=request)
    if request.url.port == MEMBERS_PORT and request.url.path == "/org-units":
        return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
    if request.url.port == MEMBERS_PORT and request.url.path == "/members":
        return httpx.Response(200, json={"items": [], "total": 0, "limit": 12, "offset": 0})
    return httpx.Response(404, json={"detail": "not here", "code": "not_found"})


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_console(tmp_path, services_answering, "secretary:yuhang") as client:
        yield client


def samples(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of a histogram's `_count` samples."""
    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{name}_count"
    ]


async def test_pages_and_calls_are_timed_by_route_template_never_by_id(console: httpx.AsyncClient) -> None:
    assert (await console.get(f"/tasks/{TASK}")).status_code == 404  # the service refused: still timed
    assert (await console.get("/callbacks")).status_code == 503  # the feedback service is away
    answer = await console.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert not UUID.search(answer.text)
    pages = samples(answer.text, "fourlinks_console_request_duration_seconds")
    assert {"method": "GET", "route": "/tasks/{task_id}", "status": "404"} in pages
    assert {"method": "GET", "route": "/callbacks", "status": "503"} in pages
    calls = samples(answer.text, "fourlinks_console_upstream_duration_seconds")
    assert {"service": "assignments", "method": "GET", "route": "/tasks/{id}", "status": "404"} in calls
    assert {
        "service": "assignments",
        "method": "GET",
        "route": "/tasks/{id}/timeline",
        "status": "404",
    } in calls
    assert {
        "service": "feedback",
        "method": "GET",
        "route": "/callbacks/due",
        "status": "unanswered",
    } in calls
    assert {"service": "members", "method": "GET", "route": "/org-units", "status": "200"} in calls


def test_a_call_s_route_keeps_the_services_words_and_hides_everything_else() -> None:
    assert call_route(f"/members/{TASK}/dashboard") == "/members/{id}/dashboard"
    assert call_route("/members/zhang-san/tasks") == "/members/{id}/tasks"  # a subject is no label
    assert call_route("/follow-up/FL-20261208-ABCDEFGH") == "/follow-up/{id}"
    assert call_route("/kpis/ranking") == "/kpis/ranking"
