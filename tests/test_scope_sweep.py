"""Every read of every service, as every role of a neighbouring community, with the ids and the
unit of ours: no answer that succeeds carries any of our data (ids, words, names, references)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from conftest import COMMUNITY, District, a_problem_assigned, bearer

ROLES = (
    "secretary",
    "administrator",
    "auditor",
    "inspector",
    "member",
    "resident",
    "helper",
    "city",
    "province",
)
NEIGHBOURS = "yuhang/nanyuan/linping"
OPEN = {"/health/live", "/health/ready", "/metrics", "/asyncapi.json", "/asyncapi", "/service-matters"}
OPEN.add("/public/follow-up/{reference}")  # whoever holds a receipt follows it: states and dates only


def filled(path: str, ids: dict[str, str]) -> str:
    """The path with each parameter our thing of that name (a made-up one where we have none)."""
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "0190aaaa-0000-7000-8000-000000000009"), path)


async def our_things(d: District) -> tuple[dict[str, str], list[str]]:
    """The ids that name our community's records, and every string that would betray them."""
    member, _, leak, task_id = await a_problem_assigned(d)
    item = await d.get(d.feedback, f"/feedback/{leak['id']}", d.secretary)
    household = str(item["household_id"])
    ids = {
        "member_id": member,
        "household_id": household,
        "task_id": task_id,
        "feedback_id": str(leak["id"]),
        "reference": str(leak["reference"]),
    }
    canaries = [*ids.values(), "厨房漏水", "王小明", "13912345678", "张建国"]
    return ids, canaries


async def test_no_read_of_any_service_gives_a_neighbouring_community_our_data(district: District) -> None:
    d = district
    ids, canaries = await our_things(d)
    leaks: list[str] = []
    calls = 0
    for client in (d.members, d.assignments, d.feedback):
        schema: dict[str, Any] = (await client.get("/openapi.json")).json()
        reads = [path for path, methods in schema["paths"].items() if "get" in methods and path not in OPEN]
        for role in ROLES:
            headers = {
                **bearer(d.settings, role, scope=NEIGHBOURS, subject=f"{role}-of-the-neighbours"),
                "X-Min-Position": str(d.position),
            }
            for path in reads:
                reply = await client.get(filled(path, ids), params={"unit": COMMUNITY}, headers=headers)
                calls += 1
                if reply.status_code < 300:
                    leaks += [f"{role} GET {path}: {c}" for c in canaries if c in reply.text]
    assert calls > 100  # the sweep reached the services' reads
    assert leaks == []


async def test_the_sweep_sees_our_data_where_it_may(district: District) -> None:
    """The same reads as our own secretary do carry our data: the sweep above can find a leak."""
    d = district
    ids, _ = await our_things(d)
    headers = {**d.secretary, "X-Min-Position": str(d.position)}
    reply = await d.assignments.get(filled("/tasks/{task_id}", ids), headers=headers)
    assert reply.status_code == 200
    assert ids["task_id"] in reply.text
    answer = await d.feedback.get(filled("/feedback/{feedback_id}", ids), headers=headers)
    assert "厨房漏水" in answer.text
    assert isinstance(answer, httpx.Response)
