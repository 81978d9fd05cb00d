"""A task's page (and its history) shows what the assignments service answers: the resident's words
and household where it gives them (the household by its address), and where it withholds them
(`withheld`) says why — confidential (保密) or anonymous (匿名) — instead of a blank."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.console.tests.harness import signed_in_console

UNIT = "yuhang/nanyuan/xinghe/b1"
HOUSEHOLD = "0190aaaa-0000-7000-8000-00000000beef"


def _task(task_id: str, **shown: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "state": "in_progress",
        "source": "feedback",
        "source_ref": None,
        "category": "repairs",
        "urgency": "general",
        "org_unit": UNIT,
        "origin_unit": UNIT,
        "assignee": "m-1",
        "raised_at": "2026-11-30T02:00:00Z",
        "due_at": None,
        "rework_count": 0,
        "needs_reassignment": False,
        "description": None,
        "household_id": None,
        "enterprise_id": None,
        "withheld": [],
        **shown,
    }


TASKS = {
    "t-secret": _task("t-secret", household_id=HOUSEHOLD, withheld=["description"]),
    "t-anonymous": _task("t-anonymous", description="楼道灯坏了", withheld=["enterprise_id", "household_id"]),
    "t-plain": _task("t-plain", description="厨房漏水", household_id=HOUSEHOLD),
}
TIMELINES = {
    "t-anonymous": [
        {
            "position": 1,
            "task_id": "t-anonymous",
            "event_type": "TaskRaised",
            "actor_id": "policy:raise-from-feedback",
            "at": "2026-11-30T02:00:00Z",
            "details": {
                "category": "repairs",
                "source": "feedback",
                "org_unit": UNIT,
                "household_id": None,
                "enterprise_id": None,
                "duplicate_of": None,
            },
            "withheld": ["enterprise_id", "household_id"],
        }
    ]
}


def services_answering(request: httpx.Request) -> httpx.Response:
    """The assignments service as a task's page asks it (and the members service as sign-in does)."""
    if request.url.path == "/org-units":
        return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
    if request.url.path == "/names/units":
        names = {"yuhang": "余杭区", UNIT: "1幢"}
        asked = request.url.params.get_list("paths")
        return httpx.Response(
            200, json=[{"path": p, "name": names[p], "level": "x"} for p in asked if p in names]
        )
    if request.url.path == "/names/households":
        place = {
            "household_id": HOUSEHOLD,
            "org_unit": UNIT,
            "unit_name": "1幢",
            "unit_no": "2",
            "room": "301",
        }
        return httpx.Response(200, json=[place] if HOUSEHOLD in request.url.params.get_list("ids") else [])
    if request.url.path.startswith("/names/"):
        return httpx.Response(200, json=[])
    found = re.fullmatch(r"/tasks/([^/]+)(/timeline|/actions)?", request.url.path)
    if found is None or found[1] not in TASKS:
        return httpx.Response(200, json={"items": [], "total": 0})
    task_id, part = found[1], found[2]
    if part == "/timeline":
        return httpx.Response(200, json=TIMELINES.get(task_id, []))
    if part == "/actions":
        return httpx.Response(200, json={"task_id": task_id, "state": "in_progress", "actions": []})
    return httpx.Response(200, json=TASKS[task_id])


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_console(tmp_path, services_answering, "secretary:yuhang") as client:
        yield client


def _fact(page: str, field: str) -> str:
    found = re.search(rf'<dd data-field="{field}">(.*?)</dd>', page)
    assert found, page
    return found[1]


async def test_a_withheld_description_reads_confidential_and_a_withheld_household_anonymous(
    browser: httpx.AsyncClient,
) -> None:
    secret = (await browser.get("/tasks/t-secret")).text
    assert _fact(secret, "description") == "内容保密，仅社区书记可见"
    assert _fact(secret, "place") == "1幢 2单元 301室"

    anonymous = (await browser.get("/tasks/t-anonymous")).text
    assert _fact(anonymous, "description") == "楼道灯坏了"  # what to fix: the resident allowed it
    assert _fact(anonymous, "place") == "1幢 （匿名）"  # where, never who
    raised = "系统 提出任务（群众反馈）：维修协调，1幢 （匿名）"
    assert raised in anonymous  # the timeline says so too

    history = (await browser.get("/history", params={"kind": "task", "id": "t-anonymous"})).text
    assert raised in history  # an auditor's history says why, not "erased"
    assert "已删除" not in history

    plain = (await browser.get("/tasks/t-plain")).text
    assert (_fact(plain, "description"), _fact(plain, "place")) == ("厨房漏水", "1幢 2单元 301室")
