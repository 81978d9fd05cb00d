"""What /metrics tells an operator: request durations by route template and status, each policy's
consumer backlog, and projection lag that turns unknown (NaN) when NATS is away, never stale."""

from __future__ import annotations

import math

import httpx
from conftest import (
    District,
    a_problem_assigned,
    community_with_a_covered_household,
    eventually,
    work_and_close,
)
from prometheus_client.parser import text_string_to_metric_families


async def samples(client: httpx.AsyncClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric, by their sorted labels."""
    text = (await client.get("/metrics")).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_requests_are_timed_by_route_template_never_by_id(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    await d.get(d.members, f"/households/{household}/card", d.secretary)
    await d.members.get("/no/such/page")
    counts = await samples(d.members, "fourlinks_http_request_duration_seconds_count")
    routes = {dict(labels)["route"] for labels in counts}
    assert "/households/{household_id}/card" in routes
    assert "unmatched" in routes
    assert not any(household in route or member in route for route in routes)
    assert counts[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1


async def test_policy_backlogs_are_figures_and_lag_turns_unknown_without_nats(district: District) -> None:
    d = district
    pending = await samples(d.assignments, "fourlinks_policy_pending")
    assert pending, "every policy of the assignments service has a backlog figure"
    assert all(not math.isnan(value) for value in pending.values())
    assert await samples(d.assignments, "fourlinks_policy_ack_pending")
    lag = await samples(d.assignments, "fourlinks_projection_lag")
    assert lag
    assert all(not math.isnan(value) for value in lag.values())

    assert await samples(d.assignments, "fourlinks_ready") == {(): 1.0}
    await d.runtime(d.assignments).nc.close()  # NATS away for this process
    lag = await samples(d.assignments, "fourlinks_projection_lag")
    assert all(math.isnan(value) for value in lag.values()), lag
    pending = await samples(d.assignments, "fourlinks_policy_pending")
    assert all(math.isnan(value) for value in pending.values()), pending
    assert await samples(d.assignments, "fourlinks_ready") == {(): 0.0}


async def test_business_figures_by_unit_follow_the_read_models(district: District) -> None:
    """Coverage, open and overdue tasks and this month's satisfaction, for the district and each
    street: what the dashboard and the "overdue rising" alert read."""
    d = district
    member, resident, leak, task_id = await a_problem_assigned(d)
    await eventually(lambda: _covered_somewhat(d.members))  # the card's projection catches up
    coverage = await samples(d.members, "fourlinks_coverage_ratio")
    assert 0 < coverage[(("unit", "yuhang"),)] <= 1
    assert (("unit", "yuhang/nanyuan"),) in coverage
    assert (await samples(d.assignments, "fourlinks_tasks_open"))[(("unit", "yuhang/nanyuan"),)] == 1
    assert (await samples(d.assignments, "fourlinks_tasks_overdue")) == {}
    await work_and_close(d, task_id, member, accept=True)
    await eventually(lambda: _callback_due(d, leak["id"]))
    await d.post(
        d.feedback,
        f"/feedback/{leak['id']}/callback",
        {"resolved": "yes", "satisfaction": "satisfied"},
        resident,
    )
    await eventually(lambda: _figure_is(d.feedback, "fourlinks_satisfaction_ratio", "yuhang/nanyuan", 1.0))
    assert (await samples(d.assignments, "fourlinks_tasks_open")).get((("unit", "yuhang/nanyuan"),), 0) == 0


async def _covered_somewhat(client: httpx.AsyncClient) -> bool:
    return (await samples(client, "fourlinks_coverage_ratio")).get((("unit", "yuhang"),), 0) > 0


async def _callback_due(d: District, feedback_id: str) -> bool:
    reply = await d.feedback.get(f"/feedback/{feedback_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["state"] == "callback_due"


async def _figure_is(client: httpx.AsyncClient, name: str, unit: str, value: float) -> bool:
    return (await samples(client, name)).get((("unit", unit),)) == value
