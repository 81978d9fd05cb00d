"""Read-your-writes across services while each service reads only the contexts it needs: a
position written by another context is reached at once, without one of that context's events
reaching the service; an API process gets it from its worker's checkpoints."""

from __future__ import annotations

import pytest
from conftest import District, community_with_a_covered_household, eventually, running, service_runtime

from fourlinks_kernel import feed as feed_module
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_runtime.runtime import ServiceRuntime


@pytest.fixture
def probes_only_when_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    """No timed probe: only a waiting reader's wish moves a service past other contexts' events
    (so a read that answers without it would have waited out its timeout, and is caught)."""
    monkeypatch.setattr(feed_module, "PROBE_EVERY", 3600.0)


async def problems_reported(d: District, household: str, count: int) -> int:
    """Residents' problems: feedback items, and the tasks the assignments service raises for
    them; returns the log's last position once the services wrote them."""
    resident = d.token("resident", household)
    for n in range(count):
        body = {"category": "repairs", "household_id": household, "description": f"楼道灯不亮 {n}"}
        await d.post(d.feedback, "/feedback", body, resident)
    return await d.runtime(d.feedback).store.last_position()


async def test_the_members_service_reads_its_writes_after_other_contexts_without_receiving_them(
    probes_only_when_wanted: None, district: District
) -> None:
    d = district
    admin = d.token("administrator", scope="yuhang")
    _, household = await community_with_a_covered_household(d)
    last = await problems_reported(d, household, 12)
    members = d.runtime(d.members)
    assert min(r.status.position for r in members.runners) < last  # nothing it reads came since

    reply = await d.members.get("/org-units", headers={**admin, "X-Min-Position": str(last)})
    assert reply.status_code == 200, reply.text
    assert min(r.status.position for r in members.runners) >= last  # reached, not timed out
    assert set(delivered(members)) == {"members"}  # not one feedback or task event came
    assert {"members", "feedback", "assignments"} <= set(delivered(d.runtime(d.assignments)))


async def test_an_api_process_reads_another_contexts_position_from_its_workers_checkpoints(
    district: District,
) -> None:
    d = district
    admin = d.token("administrator", scope="yuhang")
    _, household = await community_with_a_covered_household(d)
    api_only = d.settings.model_copy(update={"process_role": "api"})
    async with running(members_app(api_only)) as api:
        last = await problems_reported(d, household, 5)
        reply = await api.get("/org-units", headers={**admin, "X-Min-Position": str(last)})
        assert reply.status_code == 200, reply.text
        runtime = service_runtime(api)
        read = {s.name: s.position for s in await runtime.statuses()}["members.org_units"]
        assert read >= last  # the worker wrote it down: the route read after it, not after a timeout
        await eventually(lambda: all_at(runtime, last))  # the others follow within a probe or two
        beyond = await api.get("/org-units", headers={**admin, "X-Min-Position": str(last + 1000)})
        assert beyond.status_code == 422, beyond.text  # a position the log never reached


async def all_at(runtime: ServiceRuntime, position: int) -> bool:
    return all(s.position >= position for s in await runtime.statuses())


def delivered(runtime: ServiceRuntime) -> dict[str, int]:
    assert runtime.feed is not None
    return dict(runtime.feed.delivered)
