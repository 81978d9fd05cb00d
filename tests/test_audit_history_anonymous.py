"""The audit history is read by an auditor: an anonymous item's household is shown to no one but
its community's secretaries (`fourlinks_contracts.visibility`), so `fourlinks audit history`,
`touched` and `export` show "anonymous" in its place, in every event of the item and of the task
raised from it, and a search for the household finds none of its anonymous items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import District, community_with_a_covered_household, eventually

from fourlinks_audit.export import export_events
from fourlinks_audit.history import ANONYMOUS, Anonymity, aggregate_history, touching
from fourlinks_kernel.envelope import StreamId


async def test_an_anonymous_item_s_household_is_anonymous_in_the_audit_history(
    district: District, tmp_path: Path
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    secret = {"category": "repairs", "household_id": household, "description": "楼上噪音", "anonymous": True}
    plain = {"category": "repairs", "household_id": household, "description": "楼道灯坏了"}
    anonymous = await d.post(d.feedback, "/feedback", secret, resident)
    named = await d.post(d.feedback, "/feedback", plain, resident)
    task_id = (await eventually(lambda: _task_of(d, anonymous["id"], resident)))["task_id"]
    await eventually(lambda: _raised(d, task_id))
    store = d.runtime(d.assignments).store

    task = await aggregate_history(store, StreamId("assignments", "task", task_id), reveal_personal=True)
    raised = task[0]["data"]
    assert (task[0]["type"], raised["anonymous"]) == ("TaskRaised", True)
    assert (raised["household_id"], raised["data_subject"]) == (ANONYMOUS, ANONYMOUS)
    item = await aggregate_history(
        store, StreamId("feedback", "feedback", anonymous["id"]), reveal_personal=True
    )
    submitted = item[0]["data"]
    assert (submitted["household_id"], submitted["submitted_by"], item[0]["actor"]) == (ANONYMOUS,) * 3
    for entry in [*task, *item]:
        assert household not in json.dumps(entry), entry

    found = [entry async for entry in touching(store, household, reveal_personal=False)]
    assert {entry["aggregate"] for entry in found} >= {f"members.household.{household}"}
    assert f"feedback.feedback.{named['id']}" in {entry["aggregate"] for entry in found}  # not anonymous
    assert not any(anonymous["id"] in entry["aggregate"] or task_id in entry["aggregate"] for entry in found)

    await export_events(store, tmp_path, since=None, until=None, unit=None, include_personal=True)
    exported = [
        json.loads(line) for line in (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    theirs = [e for e in exported if e["aggregate"].endswith((anonymous["id"], task_id))]
    assert theirs
    assert not any(household in json.dumps(entry) for entry in theirs)


def test_a_task_raised_before_tasks_carried_the_wish_is_as_anonymous_as_its_feedback() -> None:
    anonymity = Anonymity()
    item, task = StreamId("feedback", "feedback", "f-1"), StreamId("assignments", "task", "t-1")
    submitted = {"household_id": "h-1", "submitted_by": "h-1", "data_subject": "h-1", "anonymous": True}
    anonymity.learn(item, "FeedbackSubmitted", {"feedback_id": "f-1", **submitted})
    old_raised = {"task_id": "t-1", "source_ref": "f-1", "household_id": "h-1", "data_subject": "h-1"}
    anonymity.learn(task, "TaskRaised", old_raised)  # v1: no wish of its own
    assert anonymity.of(task) == anonymity.of(item) == {"h-1"}
    anonymity.learn(StreamId("assignments", "task", "t-2"), "TaskRaised", {**old_raised, "source_ref": "f-2"})
    assert anonymity.of(StreamId("assignments", "task", "t-2")) == frozenset()


async def _raised(d: District, task_id: str) -> bool:
    return (await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)).status_code == 200


async def _task_of(d: District, feedback_id: str, resident: dict[str, str]) -> dict[str, Any] | None:
    item = dict(await d.get(d.feedback, f"/feedback/{feedback_id}", resident))
    return item if item.get("task_id") else None
