"""`fourlinks seed` tells a story: after the district's people and cards, the first community's last
six weeks of work go through the real commands, dated as they happened, while the services run
(as under `make up`) — so the board has a task in every state, call-backs are due, feedback waits
for an answer, and the months before this one have figures. The services' own policies meet the
story's reactions already done and record nothing twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from conftest import District, eventually

from fourlinks_cli import story
from fourlinks_console.figures import BOARD_STATES
from fourlinks_contracts.assignments import TaskState
from fourlinks_members.seed import seed_district

pytestmark = pytest.mark.timeout(600)
COMMUNITY = "yuhang/s01/c001"


async def test_the_seed_leaves_tasks_in_every_state_and_call_backs_due_dated_in_the_past(
    district: District,
) -> None:
    d, now = district, datetime.now(UTC)
    people_made = story.story_started(now) - timedelta(days=1)
    told = partial(story.tell, settings=d.settings, now=now, seed=2021)
    started = time.perf_counter()
    made = await seed_district(d.settings, district="yuhang", scale=0.01, at=lambda: people_made, then=told)
    seconds = time.perf_counter() - started
    assert made is not None
    assert made["story_commands"] > 100, made
    assert seconds < 120, f"seconds, not minutes, on `make up`: {seconds:.1f} s"
    secretary = d.token("secretary", "secretary-yuhang-s01-c001", scope=COMMUNITY)

    async def every_state() -> dict[str, Any] | None:
        reply = await d.assignments.get("/board/columns", params={"unit": COMMUNITY}, headers=secretary)
        columns = reply.json() if reply.status_code == 200 else {}
        totals = {state: columns.get(state, {}).get("total", 0) for state in BOARD_STATES}
        return columns if all(totals.values()) else None

    columns = await eventually(every_state, timeout=60)
    assert set(BOARD_STATES) == set(TaskState) - {TaskState.REJECTED}
    rejected = await d.get(d.assignments, "/tasks", secretary, unit=COMMUNITY, state="rejected")
    assert rejected["total"] == 1
    closed = columns["closed"]["items"]
    weeks_ago = (now - timedelta(days=30)).isoformat()
    assert min(task["raised_at"] for task in closed) < weeks_ago  # dated as it happened

    due = await d.get(d.feedback, "/callbacks/summary", secretary, unit=COMMUNITY)
    assert due["due"] == 2
    inbox = await d.get(d.feedback, "/feedback/summary", secretary, unit=COMMUNITY)
    assert inbox["waiting"] >= 3
    assert inbox["overdue"] >= 1  # an opinion past the response limit
    states = {s["state"] for s in inbox["states"]}
    assert {"submitted", "routed", "callback_due", "closed", "not_reached", "follow_up_due"} <= states
    assert len(await d.get(d.assignments, "/party-days", secretary, unit=COMMUNITY)) == 2
    rates = await d.get(d.feedback, "/kpis", secretary, unit=COMMUNITY, by="unit")
    assert len({row["month"] for row in rates}) >= 2  # six weeks span two months at least
    timelines = [await d.get(d.assignments, f"/tasks/{t['task_id']}/timeline", secretary) for t in closed]
    raised = [line for lines in timelines for line in lines if line["event_type"] == "TaskRaised"]
    assert len(raised) == len(closed)  # each raised once: the policies found the story's reactions done
