"""What a page may offer on a task: by role, state, scope and who did the work."""

from __future__ import annotations

from typing import Any

from fourlinks_assignments.domain.actions import available_actions
from fourlinks_kernel.envelope import Actor

SECRETARY = Actor(id="sec-1", roles=("secretary",), scope="yuhang/s01")
OTHER_STREET = Actor(id="sec-2", roles=("secretary",), scope="yuhang/s02")
ASSIGNEE = Actor(id="m-1", roles=("member",), scope="yuhang/s01/c001")
STRANGER = Actor(id="m-2", roles=("member",), scope="yuhang/s01/c001")
INSPECTOR = Actor(id="i-1", roles=("inspector",), scope="yuhang/s01")


def task(state: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "state": state,
        "assignee": "m-1",
        "helpers": ["m-3"],
        "org_unit": "yuhang/s01/c001",
        "due_at": "2026-12-01T00:00:00Z",
        "extension_requested": False,
    }
    return {**row, **fields}


def test_a_raised_task_offers_its_secretary_triage_and_reject_only() -> None:
    assert available_actions(SECRETARY, task("raised", assignee=None, helpers=[])) == ["triage", "reject"]


def test_nothing_is_offered_outside_the_scope_or_to_a_member_who_is_not_the_assignee() -> None:
    assert available_actions(OTHER_STREET, task("raised")) == []
    assert available_actions(STRANGER, task("assigned")) == []


def test_the_assignee_accepts_then_works_and_never_closes() -> None:
    assert available_actions(ASSIGNEE, task("assigned")) == ["accept", "return", "extension"]
    working = available_actions(ASSIGNEE, task("in_progress"))
    assert working == ["return", "progress", "resolution", "extension"]
    assert "close" not in available_actions(ASSIGNEE, task("ready_to_close"))


def test_no_one_checks_or_closes_work_they_did() -> None:
    assert available_actions(INSPECTOR, task("awaiting_check")) == ["spot-check"]
    helper_inspector = Actor(id="m-3", roles=("inspector",), scope="yuhang")
    assert available_actions(helper_inspector, task("awaiting_check")) == []
    secretary_who_worked = Actor(id="m-1", roles=("secretary",), scope="yuhang")
    assert "close" not in available_actions(secretary_who_worked, task("ready_to_close"))


def test_adjustments_follow_the_state() -> None:
    assert "unpark" in available_actions(SECRETARY, task("parked"))
    assert "park" not in available_actions(SECRETARY, task("parked"))
    assert available_actions(SECRETARY, task("closed")) == ["reopen"]
    waiting = available_actions(SECRETARY, task("in_progress", extension_requested=True))
    assert "extension-decision" in waiting
    assert "extension" not in waiting
    at_district = available_actions(
        Actor(id="a", roles=("administrator",), scope="yuhang"), task("accepted", org_unit="yuhang")
    )
    assert "escalate" not in at_district
