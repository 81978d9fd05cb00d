"""A task refuses with a stable error code and the parameters a sentence about it needs, so the
console can say it in Chinese; the English message stays for API clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_contracts.assignments import CloseReason, ResolutionResult, TaskSource
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.errors import NotAllowed, StateConflict

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MEMBER, INSPECTOR, SECRETARY = "member-1", "inspector-1", "secretary-1"


def assigned() -> Task:
    task = Task("task-1")
    task.raise_(
        NewTask(
            task_id="task-1",
            source=TaskSource.ADMINISTRATOR,
            source_ref=None,
            category="repairs",
            urgency=Urgency.GENERAL,
            org_unit="yuhang/nanyuan/xinghe/b1",
        )
    )
    task.triage(now=T0, policy=DeadlinePolicy())
    task.assign(member_id=MEMBER, helpers=[], party_day_id=None, by_default=False)
    return task


def test_a_task_in_the_wrong_state_names_its_state_and_the_states_needed() -> None:
    with pytest.raises(StateConflict) as refused:
        assigned().close(by=SECRETARY, reason=CloseReason.RESOLVED, note="", now=T0)
    assert refused.value.code.name == "task_not_in_state"
    assert refused.value.params == {"state": "assigned", "needed": ["ready_to_close"]}
    assert str(refused.value) == "task task-1 is assigned; this needs it ready_to_close"


def test_the_states_needed_come_in_the_order_of_the_lifecycle() -> None:
    task = assigned()
    task.accept(member_id=MEMBER)
    task.report_resolution(
        member_id=MEMBER, summary="换了灯泡", result=ResolutionResult.RESOLVED, evidence=[]
    )
    with pytest.raises(StateConflict) as refused:
        task.hand_back(member_id=MEMBER, reason="x")
    assert refused.value.params == {"state": "awaiting_check", "needed": ["assigned", "in_progress"]}


def test_separation_of_duties_names_the_duty_refused() -> None:
    task = assigned()
    task.accept(member_id=MEMBER)
    task.report_resolution(member_id=MEMBER, summary="done", result=ResolutionResult.RESOLVED, evidence=[])
    with pytest.raises(NotAllowed) as checked:
        task.spot_check(inspector_id=MEMBER, passed=True, note="")
    assert (checked.value.code.name, checked.value.params) == ("separation_of_duties", {"duty": "spot_check"})
    task.spot_check(inspector_id=INSPECTOR, passed=True, note="")
    with pytest.raises(NotAllowed) as closed:
        task.close(by=MEMBER, reason=CloseReason.RESOLVED, note="", now=T0)
    assert closed.value.params == {"duty": "close"}


def test_a_refusal_without_a_finer_code_carries_its_kinds() -> None:
    task = assigned()
    task.request_extension(by=MEMBER, new_due_at=T0 + timedelta(days=30), reason="x", now=T0)
    with pytest.raises(StateConflict) as twice:
        task.request_extension(by=MEMBER, new_due_at=T0 + timedelta(days=31), reason="x", now=T0)
    assert twice.value.code.name == "extension_pending"
    assert StateConflict("anything").code.name == "state_conflict"
    assert StateConflict("anything").params == {}
