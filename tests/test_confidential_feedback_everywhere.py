"""Confidential stays confidential and anonymous stays anonymous across services
(`fourlinks_contracts.visibility`): a confidential item and an anonymous one go through the loop
(submitted, raised as tasks, assigned to the households' member, worked, corrected, called back),
and every GET of the assignments and feedback services that answers JSON is asked as every role,
in and out of scope. The confidential item's words (and the resident's correction of it) and the
anonymous item's household appear, byte for byte, in no answer but the community's secretaries'
(and the household's own); the assignee still learns what to fix and where, as far as the
resident allowed."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from conftest import (
    COMMUNITY,
    District,
    community_with_a_covered_household,
    eventually,
    work_and_close,
)
from fastapi import FastAPI
from fastapi.routing import APIRoute

WORDS = "隔壁夜里常有争吵和孩子哭喊，请替我保密"
"""The confidential item's words: its community's secretaries' and its household's alone."""
CORRECTION = "回访：还是常听到争吵，没有解决"
"""What the confidential item's household says at its call-back: the same."""
PLAIN = "三单元楼道灯坏了两周"
"""The anonymous item's words: not confidential, so its member reads them."""
NO_DATA = {"/docs", "/health/live", "/health/ready", "/metrics", "/asyncapi", "/asyncapi.json"}
ALLOWED = ("community secretary", "district administrator")


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route of an app, included routers opened."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def json_reads(client: httpx.AsyncClient) -> list[str]:
    """Every GET route of the service behind the client that answers JSON with data."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return sorted(
        route.path
        for route in api_routes(app.routes)
        if "GET" in (route.methods or set()) and route.path not in NO_DATA and "{sha256}" not in route.path
    )


def filled(path: str, ids: dict[str, list[str]]) -> list[str]:
    """The path with its placeholders filled with every combination of the ids held."""
    names = re.findall(r"{(\w+)}", path)
    assert all(name in ids for name in names), f"no ids to ask {path} with"
    combos = itertools.product(*(ids[name] for name in names))
    return [path.format(**dict(zip(names, combo, strict=True))) for combo in combos]


def forms(secret: str) -> tuple[bytes, ...]:
    """A string as an answer may carry it: UTF-8, or JSON-escaped."""
    return secret.encode(), json.dumps(secret)[1:-1].encode()


Answers = dict[str, bytes]  # "service GET path" → the body, whatever its status


async def every_answer(
    d: District, people: dict[str, dict[str, str]], ids: dict[str, list[str]]
) -> dict[str, Answers]:
    """Every JSON GET of the assignments and feedback services, as each person."""
    asked = {
        name: (client, [url for path in json_reads(client) for url in filled(path, ids)])
        for name, client in (("assignments", d.assignments), ("feedback", d.feedback))
    }
    seen: dict[str, Answers] = {}
    for person, token in people.items():
        answers: Answers = {}
        for name, (client, urls) in asked.items():
            for url in urls:
                reply = await client.get(url, headers={**token, "X-Min-Position": str(d.position)})
                assert reply.status_code < 500, f"{person}: {name} {url}: {reply.text}"
                answers[f"{name} {url}"] = reply.content
        seen[person] = answers
    return seen


def where(answers: Answers, secret: str) -> list[str]:
    """The answers that carry the secret."""
    return sorted(url for url, body in answers.items() if any(form in body for form in forms(secret)))


async def test_confidential_words_and_anonymous_households_reach_only_the_community_s_secretaries(
    district: District,
) -> None:
    d = district
    member, household_a = await community_with_a_covered_household(d)
    household_b = await _a_second_household_on_the_card(d, member, household_a)
    resident_a, resident_b = d.token("resident", household_a), d.token("resident", household_b)
    secret = await _submitted(d, resident_a, household_a, WORDS, confidential=True)
    anonymous = await _submitted(d, resident_b, household_b, PLAIN, anonymous=True)
    task_a, task_b = secret["task_id"], anonymous["task_id"]
    held_on = datetime.now(ZoneInfo(d.settings.timezone)).date().isoformat()
    party_day = {"community": COMMUNITY, "held_on": held_on, "agenda": ["楼道安全"]}
    session = (await d.post(d.assignments, "/party-days", party_day, d.secretary))["id"]
    for task_id in (task_a, task_b):
        await eventually(lambda task_id=task_id: _state(d, task_id, "assigned", member))

    people = {
        "community secretary": d.secretary,
        "district administrator": d.token("administrator", "admin-1", scope="yuhang"),
        "secretary of another community": d.token("secretary", "secretary-9", scope="yuhang/nanyuan/other"),
        "inspector": d.token("inspector", "inspector-1"),
        "auditor": d.token("auditor", "auditor-1"),
        "assigned member": d.token("member", member),
        "another member": d.token("member", "member-other"),
        "resident of the confidential item": resident_a,
        "resident of the anonymous item": resident_b,
    }
    forbidden = {person: {WORDS, CORRECTION, household_b} for person in people if person not in ALLOWED}
    forbidden["resident of the confidential item"] = {household_b}  # its own words are its own
    forbidden["resident of the anonymous item"] = {WORDS, CORRECTION}  # its own household is its own
    ids = {
        "task_id": [task_a, task_b],
        "feedback_id": [secret["feedback_id"], anonymous["feedback_id"]],
        "reference": [secret["reference"], anonymous["reference"]],
        "member_id": [member],
        "session_id": [session],
    }

    # -- the assignee learns what to fix and where, as far as each resident allowed ------------------
    me = people["assigned member"]
    mine_a = await d.get(d.assignments, f"/tasks/{task_a}", me)
    assert (mine_a["description"], mine_a["household_id"], mine_a["withheld"]) == (
        None,
        household_a,
        ["description"],
    )
    mine_b = await d.get(d.assignments, f"/tasks/{task_b}", me)
    assert (mine_b["description"], mine_b["household_id"]) == (PLAIN, None)
    assert (mine_b["org_unit"], mine_b["withheld"]) == (f"{COMMUNITY}/b1", ["enterprise_id", "household_id"])
    theirs_b = await d.get(d.assignments, f"/tasks/{task_b}", d.secretary)
    assert (theirs_b["household_id"], theirs_b["withheld"]) == (household_b, [])
    for person in ("inspector", "auditor"):  # they read the tasks, not what the residents withheld
        task = await d.get(d.assignments, f"/tasks/{task_a}", people[person])
        assert (task["description"], task["household_id"]) == (None, household_a)
        task = await d.get(d.assignments, f"/tasks/{task_b}", people[person])
        assert (task["description"], task["household_id"]) == (PLAIN, None)

    # -- while both tasks are open -------------------------------------------------------------------
    seen = await every_answer(d, people, ids)
    _nothing_forbidden(seen, forbidden)
    assert len(seen["inspector"]) >= 25  # every read route was asked
    for person in ("inspector", "auditor", "assigned member"):  # and answered them, withholding
        raised = json.loads(seen[person][f"assignments /tasks/{task_b}/timeline"])[0]
        assert (raised["event_type"], raised["withheld"]) == ("TaskRaised", ["enterprise_id", "household_id"])
    for person in ALLOWED:
        assert set(where(seen[person], WORDS)) >= {
            f"assignments /tasks/{task_a}",
            "assignments /tasks",
            "assignments /board/columns",
            f"assignments /members/{member}/tasks",
            f"feedback /feedback/{secret['feedback_id']}",
            "feedback /feedback",
        }, person
        assert set(where(seen[person], household_b)) >= {
            f"assignments /tasks/{task_b}",
            f"assignments /tasks/{task_b}/timeline",
            "assignments /tasks",
            "assignments /board/columns",
            f"assignments /members/{member}/tasks",
            f"feedback /feedback/{anonymous['feedback_id']}",
            "feedback /feedback",
        }, person

    # -- the loop goes on: the confidential task closes and the resident corrects it; the anonymous
    # -- one closes and its call-back falls due -------------------------------------------------------
    await work_and_close(d, task_a, member, accept=True)
    await eventually(lambda: _callback_due(d, secret["feedback_id"]))
    await d.post(
        d.feedback,
        f"/feedback/{secret['feedback_id']}/callback",
        {"resolved": "no", "satisfaction": "dissatisfied", "comment": CORRECTION},
        resident_a,
    )
    await eventually(lambda: _state(d, task_a, "in_progress", member))
    await work_and_close(d, task_b, member, accept=True)
    await eventually(lambda: _callback_due(d, anonymous["feedback_id"]))
    feedback = d.runtime(d.feedback)
    later = feedback.clock() + timedelta(hours=30)
    feedback.clock = lambda: later

    seen = await every_answer(d, people, ids)
    _nothing_forbidden(seen, forbidden)
    for person in ALLOWED:
        assert f"assignments /tasks/{task_a}/timeline" in where(seen[person], CORRECTION), person
        assert "feedback /callbacks/due" in where(seen[person], household_b), person
    due = await d.get(d.feedback, "/callbacks/due", people["auditor"])
    assert [(line["household_id"], line["withheld"]) for line in due] == [
        (None, ["enterprise_id", "household_id"])
    ]


def _nothing_forbidden(seen: dict[str, Answers], forbidden: dict[str, set[str]]) -> None:
    for person, secrets in forbidden.items():
        for text in secrets:
            leaks = where(seen[person], text)
            assert not leaks, f"the {person} reads {text[:12]!r} through {leaks}"


async def _a_second_household_on_the_card(d: District, member: str, first: str) -> str:
    """Another household of the same building, added to the member's card."""
    second = (
        await d.post(
            d.members,
            "/households",
            {"org_unit": f"{COMMUNITY}/b1", "room": "202", "residents": [{"name": "李秀英"}]},
            d.secretary,
        )
    )["id"]
    revised = await d.members.put(
        f"/members/{member}/card",
        json={"households": [first, second], "service_matters": ["repairs"], "reason": "新住户入住"},
        headers={**d.secretary, "X-Min-Position": str(d.position)},
    )
    assert revised.status_code == 200, revised.text
    d.position = max(d.position, revised.json()["position"])
    return str(second)


async def _submitted(
    d: District, resident: dict[str, str], household: str, words: str, **wishes: bool
) -> dict[str, Any]:
    """A household's problem, as its household reads it once its task is known."""
    body = {"category": "repairs", "household_id": household, "description": words, **wishes}
    sent = await d.post(d.feedback, "/feedback", body, resident)
    item = await eventually(lambda: _with_task(d, sent["id"], resident))
    return {**item, "feedback_id": sent["id"]}


async def _with_task(d: District, feedback_id: str, resident: dict[str, str]) -> dict[str, Any] | None:
    item = dict(await d.get(d.feedback, f"/feedback/{feedback_id}", resident))
    return item if item.get("task_id") else None


async def _state(d: District, task_id: str, state: str, member: str) -> bool:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return reply.status_code == 200 and (reply.json()["state"], reply.json()["assignee"]) == (state, member)


async def _callback_due(d: District, feedback_id: str) -> bool:
    reply = await d.feedback.get(f"/feedback/{feedback_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["state"] == "callback_due"
