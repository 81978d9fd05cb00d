"""Every transition of a task, and every forbidden one, decided on explicit time (in memory)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_contracts.assignments import (
    CloseReason,
    RejectionReason,
    ResolutionResult,
    TaskClosed,
    TaskSource,
    TaskState,
)
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, StateConflict

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
POLICY = DeadlinePolicy()
MEMBER, OTHER, INSPECTOR, SECRETARY = "member-1", "member-2", "inspector-1", "secretary-1"


def raised(urgency: Urgency = Urgency.GENERAL, unit: str = "yuhang/nanyuan/xinghe/b1") -> Task:
    task = Task("task-1")
    task.raise_(
        NewTask(
            task_id="task-1",
            source=TaskSource.ADMINISTRATOR,
            source_ref=None,
            category="repairs",
            urgency=urgency,
            org_unit=unit,
            household_id="h-1",
            description="楼道灯坏了",
        )
    )
    return task


def in_progress() -> Task:
    task = raised()
    task.triage(now=T0, policy=POLICY)
    task.assign(member_id=MEMBER, helpers=["helper-1"], party_day_id=None, by_default=True)
    task.accept(member_id=MEMBER)
    return task


def ready_to_close() -> Task:
    task = in_progress()
    task.report_resolution(
        member_id=MEMBER, summary="换了灯泡", result=ResolutionResult.RESOLVED, evidence=["photo-1"]
    )
    task.spot_check(inspector_id=INSPECTOR, passed=True, note="亮了")
    return task


def recorded(task: Task) -> list[str]:
    return [e.event_type for e in task.pending]


def test_triage_starts_the_deadline_by_urgency() -> None:
    task = raised(Urgency.URGENT)
    task.triage(now=T0, policy=POLICY)
    assert task.due_at == T0 + timedelta(days=1)
    complex_task = raised(Urgency.COMPLEX)
    complex_task.triage(now=T0, policy=DeadlinePolicy(days={"complex": 15, "repairs/complex": 20}))
    assert complex_task.due_at == T0 + timedelta(days=20)


def test_a_rejection_needs_its_reason_details() -> None:
    with pytest.raises(InvalidCommand, match="duplicate_of"):
        raised().reject(reason=RejectionReason.DUPLICATE, duplicate_of=None, responsible_party=None, note="")
    with pytest.raises(InvalidCommand, match="whose"):
        raised().reject(
            reason=RejectionReason.NOT_OUR_RESPONSIBILITY, duplicate_of=None, responsible_party=None, note=""
        )
    task = raised()
    task.reject(
        reason=RejectionReason.NOT_OUR_RESPONSIBILITY, duplicate_of=None, responsible_party="供电局", note=""
    )
    assert task.state == TaskState.REJECTED
    with pytest.raises(StateConflict):
        task.triage(now=T0, policy=POLICY)


def test_the_whole_loop_from_assignment_to_closure() -> None:
    task = ready_to_close()
    task.close(by=SECRETARY, reason=CloseReason.RESOLVED, note="", now=T0 + timedelta(days=2))
    assert recorded(task)[-6:] == [
        "TaskTriaged",
        "TaskAssigned",
        "TaskAccepted",
        "ResolutionReported",
        "SpotCheckPassed",
        "TaskClosed",
    ]
    closed = task.pending[-1]
    assert isinstance(closed, TaskClosed)
    assert closed.on_time


def test_only_the_assignee_works_the_task() -> None:
    task = raised()
    task.triage(now=T0, policy=POLICY)
    task.assign(member_id=MEMBER, helpers=[], party_day_id=None, by_default=False)
    with pytest.raises(NotAllowed, match="assignee"):
        task.accept(member_id=OTHER)
    task.accept(member_id=MEMBER)
    with pytest.raises(NotAllowed):
        task.report_progress(member_id=OTHER, note="x")


def test_no_one_closes_a_task_they_worked_on_neither_the_assignee_nor_a_helper() -> None:
    task = ready_to_close()
    for worker in (MEMBER, "helper-1"):
        with pytest.raises(NotAllowed, match="worked on"):
            task.close(by=worker, reason=CloseReason.RESOLVED, note="", now=T0)
    task.close(by=SECRETARY, reason=CloseReason.RESOLVED, note="", now=T0)


def test_no_one_spot_checks_their_own_work_and_a_failed_check_counts_rework() -> None:
    task = in_progress()
    task.report_resolution(member_id=MEMBER, summary="done", result=ResolutionResult.RESOLVED, evidence=[])
    with pytest.raises(NotAllowed, match="own work"):
        task.spot_check(inspector_id=MEMBER, passed=True, note="")
    with pytest.raises(NotAllowed, match="own work"):
        task.spot_check(inspector_id="helper-1", passed=True, note="")
    task.spot_check(inspector_id=INSPECTOR, passed=False, note="灯还是不亮")
    assert (task.state, task.rework_count) == (TaskState.IN_PROGRESS, 1)


def test_work_closures_need_a_passed_spot_check_but_duplicates_close_anytime() -> None:
    task = in_progress()
    with pytest.raises(StateConflict, match="ready_to_close"):
        task.close(by=SECRETARY, reason=CloseReason.RESOLVED, note="", now=T0)
    with pytest.raises(InvalidCommand, match="duplicates"):
        task.close(by=SECRETARY, reason=CloseReason.DUPLICATE, note="", now=T0)
    task.close(by=SECRETARY, reason=CloseReason.DUPLICATE, note="", now=T0, duplicate_of="task-0")
    assert task.state == TaskState.CLOSED


def test_closing_unresolved_needs_a_why_and_nothing_acts_on_a_closed_task() -> None:
    task = ready_to_close()
    with pytest.raises(InvalidCommand, match="why"):
        task.close(by=SECRETARY, reason=CloseReason.CLOSED_UNRESOLVED, note=" ", now=T0)
    task.close(by=SECRETARY, reason=CloseReason.CLOSED_UNRESOLVED, note="需区里协调", now=T0)
    acts: list[Callable[[], None]] = [
        lambda: task.report_progress(member_id=MEMBER, note="x"),
        lambda: task.escalate(reason="x"),
        lambda: task.park(reason="x"),
        lambda: task.close(by=SECRETARY, reason=CloseReason.DUPLICATE, note="", now=T0, duplicate_of="t"),
    ]
    for act in acts:
        with pytest.raises(StateConflict):
            act()


def test_a_reopened_task_goes_back_to_its_assignee_and_counts_as_rework() -> None:
    task = ready_to_close()
    task.close(by=SECRETARY, reason=CloseReason.RESOLVED, note="", now=T0)
    task.reopen(reason="居民不满意", correction_ref="f-1:1")
    assert (task.state, task.assignee, task.rework_count) == (TaskState.IN_PROGRESS, MEMBER, 1)


def test_a_returned_task_waits_for_a_new_assignee() -> None:
    task = in_progress()
    task.hand_back(member_id=MEMBER, reason="不在我的网格")
    assert (task.state, task.assignee) == (TaskState.ACCEPTED, None)
    task.reassign(to_member=OTHER, helpers=[], reason="网格调整")
    assert (task.state, task.assignee) == (TaskState.ASSIGNED, OTHER)


def test_extensions_are_requested_before_the_deadline_and_approved_by_someone_else() -> None:
    task = in_progress()
    due = task.due_at
    assert due is not None
    with pytest.raises(StateConflict, match="passed"):
        task.request_extension(by=MEMBER, new_due_at=due + timedelta(days=3), reason="等配件", now=due)
    task.request_extension(by=MEMBER, new_due_at=due + timedelta(days=3), reason="等配件", now=T0)
    with pytest.raises(NotAllowed):
        task.decide_extension(by=MEMBER, approve=True, reason="ok")
    task.decide_extension(by=SECRETARY, approve=True, reason="配件缺货")
    assert task.due_at == due + timedelta(days=3)


def test_escalation_goes_one_level_up_and_push_down_only_below() -> None:
    task = in_progress()
    task.escalate(reason="楼栋解决不了")
    assert (task.org_unit, task.escalated) == ("yuhang/nanyuan/xinghe", True)
    with pytest.raises(InvalidCommand, match="not below"):
        task.push_down(to_unit="yuhang/other", guidance="x")
    task.push_down(to_unit="yuhang/nanyuan/xinghe/b2", guidance="请2幢楼长协助")
    assert task.org_unit == "yuhang/nanyuan/xinghe/b2"
    district = raised(unit="yuhang")
    district.triage(now=T0, policy=POLICY)
    with pytest.raises(StateConflict, match="district"):
        district.escalate(reason="x")


def test_a_parked_task_comes_back_where_it_was() -> None:
    task = in_progress()
    task.park(reason="等待维修基金审批")
    with pytest.raises(StateConflict):
        task.report_progress(member_id=MEMBER, note="x")
    task.unpark(note="审批通过")
    assert task.state == TaskState.IN_PROGRESS


def test_the_scheduler_writes_one_reminder_and_one_miss_per_deadline() -> None:
    task = in_progress()  # general: 7 days, reminder at 80 % of the window
    task.pending = []
    task.note_time(now=T0 + timedelta(days=5), policy=POLICY)
    assert recorded(task) == []
    task.note_time(now=T0 + timedelta(days=6), policy=POLICY)
    task.note_time(now=T0 + timedelta(days=6, hours=1), policy=POLICY)
    assert recorded(task) == ["DeadlineApproaching"]
    task.note_time(now=T0 + timedelta(days=7), policy=POLICY)
    task.note_time(now=T0 + timedelta(days=9), policy=POLICY)
    assert recorded(task) == ["DeadlineApproaching", "DeadlineMissed"]


def test_a_deactivated_assignee_flags_only_their_open_tasks() -> None:
    task = in_progress()
    task.flag_for_reassignment(member_id=OTHER, suggested=None)
    assert "TaskFlaggedForReassignment" not in recorded(task)
    task.flag_for_reassignment(member_id=MEMBER, suggested=OTHER)
    assert recorded(task)[-1] == "TaskFlaggedForReassignment"
