"""Every endpoint of every service refuses a request without a valid token: none, forged, expired."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import COMMUNITY, District, bearer, community_with_a_covered_household, eventually

from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

PUBLIC = {
    "/health/live",
    "/health/ready",
    "/metrics",
    "/asyncapi.json",
    "/asyncapi",
    "/service-matters",
    "/public/follow-up/{reference}",  # states and dates only (a resident's receipt)
    "/doorway/{token}",  # a printed card's signed link: the household's member now
}


def operations(client: httpx.AsyncClient, schema: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, methods in schema["paths"].items():
        if path in PUBLIC:
            continue
        for method in methods:
            found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


@pytest.fixture
async def everything(district: District) -> list[tuple[httpx.AsyncClient, str, str]]:
    calls = []
    for client in (district.members, district.assignments, district.feedback):
        schema = (await client.get("/openapi.json")).json()
        calls += [(client, method, path) for method, path in operations(client, schema)]
    return calls


async def test_no_endpoint_answers_without_a_valid_token(
    everything: list[tuple[httpx.AsyncClient, str, str]], district: District
) -> None:
    expired = issue_token(
        district.settings,
        subject="s",
        roles=["administrator"],
        scope="yuhang",
        lifetime=timedelta(seconds=-1),
    )
    forged = issue_token(
        Settings(jwt_secret="someone-else-entirely-000000000000000"),
        subject="s",
        roles=["administrator"],
        scope="yuhang",
    )
    assert len(everything) > 60
    for client, method, path in everything:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": f"Bearer {expired}"}):
            reply = await client.request(method, path, json={}, headers=headers)
            assert reply.status_code == 401, (
                f"{method} {path} with {headers or 'no token'}: {reply.status_code}"
            )


async def test_no_command_accepts_a_read_only_role(
    everything: list[tuple[httpx.AsyncClient, str, str]], district: District
) -> None:
    auditor = bearer(district.settings, "auditor", scope="yuhang")
    commands = [
        (client, method, path) for client, method, path in everything if method in ("POST", "PUT", "PATCH")
    ]
    assert len(commands) > 30
    for client, method, path in commands:
        reply = await client.request(method, path, json={}, headers=auditor)
        assert reply.status_code == 403, f"{method} {path} as an auditor: {reply.status_code}"


async def test_lists_outside_the_scope_are_refused(
    everything: list[tuple[httpx.AsyncClient, str, str]], district: District
) -> None:
    elsewhere = bearer(district.settings, "secretary", scope="linping")
    lists = [(client, path) for client, method, path in everything if method == "GET" and "/x" not in path]
    refused = 0
    for client, path in lists:
        reply = await client.get(path, params={"unit": "yuhang"}, headers=elsewhere)
        if path in (
            "/kpis/ranking",
            "/kpis",
            "/board",
            "/board/columns",
            "/coverage",
            "/coverage/uncovered",
            "/members",
            "/households",
            "/enterprises",
            "/tasks",
            "/party-days",
            "/callbacks/due",
            "/feedback",
            "/org-units",
        ):
            assert reply.status_code == 403, f"GET {path}?unit=yuhang from another scope: {reply.status_code}"
            refused += 1
    assert refused >= 13


async def test_no_one_spot_checks_or_closes_their_own_task_through_the_api(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    raised = await d.post(
        d.assignments,
        "/tasks",
        {
            "category": "repairs",
            "org_unit": f"{COMMUNITY}/b1",
            "household_id": household,
            "description": "门禁坏了",
        },
        d.secretary,
    )
    await d.post(d.assignments, f"/tasks/{raised['id']}/triage", {}, d.secretary)
    await d.post(d.assignments, f"/tasks/{raised['id']}/assign", {}, d.secretary)
    me = d.token("member", member)
    await d.post(d.assignments, f"/tasks/{raised['id']}/accept", {}, me)
    await d.post(
        d.assignments, f"/tasks/{raised['id']}/resolution", {"summary": "修好了", "result": "resolved"}, me
    )
    own_check = await d.assignments.post(
        f"/tasks/{raised['id']}/spot-check",
        json={"passed": True},
        headers=bearer(d.settings, "inspector", scope=COMMUNITY, subject=member),
    )
    assert own_check.status_code == 403
    await d.post(
        d.assignments,
        f"/tasks/{raised['id']}/spot-check",
        {"passed": True},
        d.token("inspector", "inspector-9"),
    )
    own_close = await d.assignments.post(
        f"/tasks/{raised['id']}/close",
        json={"reason": "resolved"},
        headers=bearer(d.settings, "secretary", scope=COMMUNITY, subject=member),
    )
    assert own_close.status_code == 403
    assert "worked on" in own_close.json()["detail"]


async def test_single_things_outside_the_scope_are_refused(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    submitted = await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "楼道灯坏了"},
        d.token("resident", household),
    )
    item = await d.get(d.feedback, f"/feedback/{submitted['id']}", d.secretary)
    session = await d.post(
        d.assignments,
        "/party-days",
        {"community": COMMUNITY, "held_on": "2026-11-20", "agenda": ["议题"]},
        d.secretary,
    )
    card = (await d.get(d.members, f"/members/{member}/dashboard", d.secretary))["card"]["card_id"]
    units = await d.get(d.members, "/org-units", d.secretary)
    await eventually(lambda: _task_known(d, item["task_id"]))
    elsewhere = bearer(d.settings, "secretary", scope="yuhang/nanyuan/linping")
    things = [
        (d.members, f"/org-units/{units[0]['unit_id']}"),
        (d.members, f"/members/{member}"),
        (d.members, f"/members/{member}/dashboard"),
        (d.members, f"/households/{household}"),
        (d.members, f"/households/{household}/card"),
        (d.members, f"/households/{household}/member-on?on=2026-11-27"),
        (d.members, f"/households/{household}/suggested-members"),
        (d.members, f"/cards/{card}/history"),
        (d.assignments, f"/tasks/{item['task_id']}"),
        (d.assignments, f"/tasks/{item['task_id']}/timeline"),
        (d.assignments, f"/party-days/{session['id']}/summary"),
        (d.feedback, f"/feedback/{submitted['id']}"),
        (d.feedback, f"/follow-up/{submitted['reference']}"),
    ]
    for client, path in things:
        assert (await client.get(path, headers=d.secretary)).status_code == 200, path
        refused = await client.get(path, headers=elsewhere)
        assert refused.status_code in (403, 404), f"GET {path} from another community: {refused.status_code}"


async def _task_known(d: District, task_id: str) -> bool:
    return (await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)).status_code == 200
