"""What /metrics tells an operator: request durations by route template and status, each policy's
consumer backlog, and projection lag that turns unknown (NaN) when NATS is away, never stale."""

from __future__ import annotations

import math

import httpx
from conftest import District, community_with_a_covered_household
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
