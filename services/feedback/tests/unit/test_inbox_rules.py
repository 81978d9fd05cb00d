"""The inbox's rules in memory: an opinion, praise or question said again is closed as a duplicate
of an item of its community (never of itself, never a problem, which is worked as a task), and
an item waits for a response — with the moment the response limit runs out — until it is
answered or, worked as a task, until its task is assigned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fourlinks_contracts.feedback import Channel, FeedbackKind, FeedbackMarkedDuplicate
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.domain.feedback import Feedback, FeedbackState, NewFeedback
from fourlinks_feedback.projections.rate_counters import responded, response_due_at
from fourlinks_kernel.errors import InvalidCommand, StateConflict

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LIMIT = timedelta(hours=24)
XINGHE, LINPING = "yuhang/nanyuan/xinghe", "yuhang/linping/shiji"


def said(
    feedback_id: str, kind: FeedbackKind = FeedbackKind.QUESTION, unit: str = f"{XINGHE}/b1"
) -> Feedback:
    feedback = Feedback(feedback_id)
    new = NewFeedback(
        feedback_id=feedback_id,
        channel=Channel.WEB,
        kind=kind,
        category="policy_explanation",
        urgency=Urgency.GENERAL,
        org_unit=unit,
        household_id="h-1",
        enterprise_id=None,
        description="老年卡在哪里办？",
    )
    feedback.submit(
        new,
        reference=f"FL-20260601-{feedback_id.upper():A<8}",
        by="h-1",
        on_behalf_of_member=None,
        member_id="m-1",
    )
    return feedback


def settled(feedback: Feedback) -> Feedback:
    """The item as its history makes it, nothing pending."""
    return Feedback.replay(feedback.id, feedback.pending)


def test_a_question_asked_again_is_closed_as_a_duplicate_of_the_first() -> None:
    first, again = settled(said("first")), settled(said("again"))
    again.mark_duplicate(original=first, by="secretary-1")
    marked, closed = again.pending
    assert isinstance(marked, FeedbackMarkedDuplicate)
    assert (marked.duplicate_of, marked.original_reference) == ("first", first.reference)
    assert (closed.event_type, getattr(closed, "outcome", None)) == ("FeedbackClosed", "duplicate")
    assert again.state == FeedbackState.CLOSED
    with pytest.raises(StateConflict):  # closed: not marked twice
        again.mark_duplicate(original=first, by="secretary-1")


def test_an_item_duplicates_neither_itself_nor_another_community_s_nor_an_item_that_does_not_exist() -> None:
    question = settled(said("question"))
    with pytest.raises(InvalidCommand, match="itself"):
        question.mark_duplicate(original=question, by="secretary-1")
    elsewhere = settled(said("elsewhere", unit=f"{LINPING}/b2"))
    with pytest.raises(InvalidCommand, match="not an item of this community"):
        question.mark_duplicate(original=elsewhere, by="secretary-1")
    with pytest.raises(InvalidCommand, match="not an item of this community"):
        question.mark_duplicate(original=Feedback("nothing"), by="secretary-1")
    assert question.pending == []


def test_a_problem_is_worked_as_a_task_never_closed_as_a_duplicate_here() -> None:
    problem = settled(said("problem", FeedbackKind.PROBLEM))
    with pytest.raises(StateConflict, match="routed"):
        problem.mark_duplicate(original=settled(said("first")), by="secretary-1")


def row(kind: str = "question", **more: Any) -> dict[str, Any]:
    base = {
        "kind": kind,
        "task_id": None,
        "state": "submitted",
        "task_state": None,
        "submitted_at": T0,
        "assigned_at": None,
        "answered_at": None,
    }
    return {**base, **more}


def test_an_item_waits_for_a_response_until_answered_the_limit_after_it_was_submitted() -> None:
    assert response_due_at(row(), LIMIT) == T0 + LIMIT
    answered = row(answered_at=T0 + timedelta(hours=2), state="closed")
    assert response_due_at(answered, LIMIT) is None
    assert responded(answered, LIMIT)


def test_worked_as_a_task_an_item_is_responded_to_when_its_task_is_assigned() -> None:
    routed = row("opinion", task_id="t-1", state="routed", task_state="accepted")
    assert response_due_at(routed, LIMIT) == T0 + LIMIT
    assert not responded(routed, LIMIT)
    assigned = {**routed, "task_state": "assigned", "assigned_at": T0 + timedelta(hours=1)}
    assert response_due_at(assigned, LIMIT) is None
    assert responded(assigned, LIMIT)
    late = {**assigned, "assigned_at": T0 + timedelta(hours=30)}
    assert not responded(late, LIMIT)  # after the limit: a response, but not in time
    rejected = row("problem", task_id="t-2", state="routed", task_state="rejected")
    assert response_due_at(rejected, LIMIT) is None  # nothing left to respond to
