"""The whole loop across the three services, through their HTTP APIs and the event log only:
feedback → task assigned to the household's member → resolution → spot check → closed →
call-back dissatisfied → task reopened → reworked → closed → call-back satisfied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import (
    District,
    community_with_a_covered_household,
    eventually,
    running,
    task_of,
    wait_ready,
    work_and_close,
)

from fourlinks_assignments.application.reactions import scan_deadlines
from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_runtime.settings import Settings

COMMUNITY = "yuhang/nanyuan/xinghe"


async def test_the_whole_loop_counts_one_rework_and_one_satisfied_outcome_and_replays_the_same(
    district: District, service_settings: Settings, tmp_path: Path
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    submitted = await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "楼道灯坏了一周了"},
        resident,
    )
    assert submitted["reference"].startswith("FL-")
    item = await d.get(d.feedback, f"/feedback/{submitted['id']}", resident)
    task_id = item["task_id"]

    task = await eventually(lambda: _assigned(d, task_id))
    assert (task["assignee"], task["source"], task["source_ref"]) == (member, "feedback", submitted["id"])

    await work_and_close(d, task_id, member, accept=True)
    await eventually(lambda: _feedback_state(d, submitted["id"], resident, "callback_due"))
    await d.post(
        d.feedback,
        f"/feedback/{submitted['id']}/callback",
        {"resolved": "no", "satisfaction": "dissatisfied", "comment": "晚上还是不亮"},
        resident,
    )

    reopened = await eventually(lambda: _state(d, task_id, "in_progress"))
    assert (reopened["assignee"], reopened["rework_count"]) == (member, 1)
    await work_and_close(d, task_id, member, accept=False)
    await eventually(lambda: _feedback_state(d, submitted["id"], resident, "callback_due"))
    await d.post(
        d.feedback,
        f"/feedback/{submitted['id']}/callback",
        {"resolved": "yes", "satisfaction": "satisfied"},
        resident,
    )
    followed = await eventually(lambda: _feedback_state(d, submitted["id"], resident, "follow_up_due"))
    assert followed["rounds"] == 2

    timeline = await d.get(d.assignments, f"/tasks/{task_id}/timeline", d.secretary)
    assert [t["event_type"] for t in timeline].count("TaskClosed") == 2
    assert "TaskReopened" in [t["event_type"] for t in timeline]
    history = await d.get(d.feedback, f"/follow-up/{submitted['reference']}", resident)
    assert [h["what"] for h in history["history"]][:3] == ["submitted", "acknowledged", "handed to a task"]
    assert "王小明" not in str(history)
    assert "13912345678" not in str(history)

    task_kpis = await d.get(d.assignments, "/kpis", d.secretary, by="community")
    assert (task_kpis[0]["rework_count"], task_kpis[0]["closed"], task_kpis[0]["closure_rate"]) == (1, 1, 1.0)
    rates = await d.get(d.feedback, "/kpis", d.secretary, by="community")
    assert (rates[0]["feedback"], rates[0]["satisfied"], rates[0]["satisfaction_rate"]) == (1, 1, 1.0)
    assert rates[0]["response_rate"] == 1.0

    replay = service_settings.model_copy(
        update={
            "assignments_database_url": f"sqlite:///{tmp_path / 'replay-assignments.db'}",
            "feedback_database_url": f"sqlite:///{tmp_path / 'replay-feedback.db'}",
        }
    )
    async with running(assignments_app(replay)) as assignments, running(feedback_app(replay)) as feedback:
        assert (await wait_ready(assignments)).status_code == 200
        assert (await wait_ready(feedback)).status_code == 200
        assert await d.get(assignments, "/kpis", d.secretary, by="community") == task_kpis
        assert await d.get(feedback, "/kpis", d.secretary, by="community") == rates


async def test_a_members_deactivation_flags_their_open_tasks_with_a_suggested_replacement(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    spare = (
        await d.post(
            d.members,
            "/members",
            {
                "name": "李红梅",
                "public_phone": "0571-88880002",
                "party_branch": "星河第二支部",
                "org_unit": f"{COMMUNITY}/b1",
            },
            d.secretary,
        )
    )["id"]
    raised = await d.post(
        d.assignments,
        "/tasks",
        {
            "category": "elderly_care",
            "org_unit": f"{COMMUNITY}/b1",
            "household_id": household,
            "description": "独居老人需要助餐",
        },
        d.secretary,
    )
    await d.post(d.assignments, f"/tasks/{raised['id']}/triage", {}, d.secretary)
    assigned = await d.post(d.assignments, f"/tasks/{raised['id']}/assign", {}, d.secretary)
    assert (await task_of(d, assigned["id"]))["assignee"] == member  # the card's member by default
    await d.post(d.members, f"/members/{member}/deactivate", {"reason": "moved_away"}, d.secretary)

    async def flagged() -> Any:
        page = await d.get(d.assignments, "/tasks", d.secretary, needs_reassignment="true")
        return page["items"]

    (task,) = await eventually(flagged)
    assert task["suggested_member"] == spare
    await d.post(
        d.assignments,
        f"/tasks/{task['task_id']}/reassign",
        {"member_id": spare, "reason": "原党员搬迁"},
        d.secretary,
    )
    assert (await task_of(d, task["task_id"]))["needs_reassignment"] is False


async def test_deadlines_are_driven_by_explicit_time_and_never_doubled(district: District) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    runtime = d.runtime(d.assignments)
    start = runtime.clock()
    runtime.clock = lambda: start  # triage happens at a known moment
    raised = await d.post(
        d.assignments,
        "/tasks",
        {
            "category": "repairs",
            "urgency": "urgent",
            "org_unit": f"{COMMUNITY}/b1",
            "household_id": household,
            "description": "水管爆了",
        },
        d.secretary,
    )
    await d.post(d.assignments, f"/tasks/{raised['id']}/triage", {}, d.secretary)
    await eventually(lambda: _state(d, raised["id"], "accepted"))
    due = start + timedelta(days=1)

    assert await scan_deadlines(runtime, now=start + timedelta(hours=1)) == 0
    assert await scan_deadlines(runtime, now=due - timedelta(hours=2)) == 1  # reminder (last 20 % of the day)
    assert await scan_deadlines(runtime, now=due - timedelta(hours=1)) == 0
    assert await scan_deadlines(runtime, now=due + timedelta(minutes=1)) == 1  # missed
    await eventually(lambda: _missed(d, raised["id"]))
    assert (
        await scan_deadlines(runtime, now=due + timedelta(days=3)) == 0
    )  # a restart or a rescan never doubles
    kinds = [
        t["event_type"] for t in await d.get(d.assignments, f"/tasks/{raised['id']}/timeline", d.secretary)
    ]
    assert (kinds.count("DeadlineApproaching"), kinds.count("DeadlineMissed")) == (1, 1)
    overdue = await d.get(d.assignments, "/tasks", d.secretary, overdue="true")
    assert overdue["total"] == 0  # the service's clock still says "start": nothing is overdue yet
    runtime.clock = lambda: due + timedelta(hours=1)
    assert (await d.get(d.assignments, "/tasks", d.secretary, overdue="true"))["total"] == 1


async def _assigned(d: District, task_id: str) -> dict[str, Any] | None:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    if reply.status_code != 200 or reply.json()["state"] != "assigned":
        return None
    return dict(reply.json())


async def _state(d: District, task_id: str, state: str) -> dict[str, Any] | None:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return dict(reply.json()) if reply.status_code == 200 and reply.json()["state"] == state else None


async def _missed(d: District, task_id: str) -> bool:
    return bool((await task_of(d, task_id))["missed"])


async def _feedback_state(
    d: District, feedback_id: str, who: dict[str, str], state: str
) -> dict[str, Any] | None:
    reply = await d.feedback.get(f"/feedback/{feedback_id}", headers=who)
    return dict(reply.json()) if reply.status_code == 200 and reply.json()["state"] == state else None


async def test_a_themed_party_day_hands_out_tasks_and_summarises_them(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    session = await d.post(
        d.assignments,
        "/party-days",
        {"community": COMMUNITY, "held_on": "2026-11-20", "agenda": ["楼道照明", "独居老人探访"]},
        d.secretary,
    )
    again = await d.assignments.post(
        "/party-days",
        json={"community": COMMUNITY, "held_on": "2026-11-20", "agenda": ["x"]},
        headers=d.secretary,
    )
    assert again.status_code == 409
    raised = await d.post(
        d.assignments,
        "/tasks",
        {
            "source": "party_day",
            "category": "repairs",
            "org_unit": f"{COMMUNITY}/b1",
            "household_id": household,
            "description": "楼道灯",
            "party_day_id": session["id"],
        },
        d.secretary,
    )
    await d.post(d.assignments, f"/tasks/{raised['id']}/triage", {}, d.secretary)
    await d.post(d.assignments, f"/tasks/{raised['id']}/assign", {"party_day_id": session["id"]}, d.secretary)
    summary = await d.get(d.assignments, f"/party-days/{session['id']}/summary", d.secretary)
    assert (summary["handed_out"], summary["agenda"]) == ([raised["id"]], ["楼道照明", "独居老人探访"])
    ranking = await d.get(d.assignments, "/kpis/ranking", d.secretary, by="member")
    assert (ranking["minimum_sample"], ranking["ranking"]) == (10, [])  # one task is no basis for a ranking
    board = await d.get(d.assignments, "/board", d.secretary)
    assert board == {"assigned": 1}
    columns = await d.get(d.assignments, "/board/columns", d.secretary, limit=5)
    assert [t["task_id"] for t in columns["assigned"]["items"]] == [raised["id"]]
    assert (columns["assigned"]["total"], columns["raised"]) == (
        1,
        {"items": [], "total": 0, "limit": 5, "offset": 0},
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await d.get(d.assignments, "/tasks", d.secretary, raised_since=tomorrow))["total"] == 0
    later = await d.get(d.assignments, "/board/columns", d.secretary, raised_since=tomorrow)
    assert later["assigned"]["total"] == 0
    assert member
