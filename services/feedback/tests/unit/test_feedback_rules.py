"""Rules of the feedback loop, decided on explicit time (pure, in memory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fourlinks_contracts.feedback import (
    CallbackScheduled,
    Channel,
    FeedbackKind,
    Resolved,
    Satisfaction,
)
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application.access import view, visible_to
from fourlinks_feedback.domain.feedback import (
    CallbackTimes,
    Feedback,
    FeedbackState,
    NewFeedback,
    task_id_for,
)
from fourlinks_feedback.domain.ratings import MemberRating
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, StateConflict

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TIMES = CallbackTimes()


def submitted(kind: FeedbackKind = FeedbackKind.PROBLEM, *, anonymous: bool = False) -> Feedback:
    feedback = Feedback("f-1")
    feedback.submit(
        NewFeedback(
            feedback_id="f-1",
            channel=Channel.CARD_QR,
            kind=kind,
            category="repairs",
            urgency=Urgency.GENERAL,
            org_unit="yuhang/nanyuan/xinghe/b1",
            household_id="h-1",
            enterprise_id=None,
            description="楼道灯坏了",
            anonymous=anonymous,
        ),
        reference="FL-20260601-ABCDEFGH",
        by="h-1",
        on_behalf_of_member=None,
        member_id="m-1",
    )
    return feedback


def types(feedback: Feedback) -> list[str]:
    return [e.event_type for e in feedback.pending]


def test_a_problem_is_acknowledged_and_routed_to_a_task_at_once() -> None:
    feedback = submitted()
    assert types(feedback) == ["FeedbackSubmitted", "FeedbackAcknowledged", "FeedbackRouted"]
    assert feedback.task_id == task_id_for("f-1")


def test_an_opinion_is_answered_and_closed_directly_but_a_problem_is_not() -> None:
    opinion = submitted(FeedbackKind.OPINION)
    opinion.answer(by="secretary-1", answer="谢谢，已转告物业")
    assert types(opinion)[-2:] == ["FeedbackAnswered", "FeedbackClosed"]
    with pytest.raises(StateConflict):
        submitted().answer(by="secretary-1", answer="x")


def test_there_is_no_call_back_before_the_task_closes() -> None:
    feedback = submitted()
    with pytest.raises(StateConflict, match="follow the task's closure"):
        feedback.record_answer(
            resolved=Resolved.YES, satisfaction=Satisfaction.SATISFIED, comment="", now=T0, times=TIMES
        )


def test_a_call_back_is_due_the_day_after_closure() -> None:
    feedback = submitted()
    feedback.task_closed(closed_at=T0, times=TIMES)
    scheduled = feedback.pending[-1]
    assert isinstance(scheduled, CallbackScheduled)
    assert scheduled.due_at == T0 + timedelta(hours=24)


def test_not_resolved_or_dissatisfied_requests_a_correction_every_round() -> None:
    feedback = submitted()
    feedback.task_closed(closed_at=T0, times=TIMES)
    feedback.record_answer(
        resolved=Resolved.PARTLY,
        satisfaction=Satisfaction.DISSATISFIED,
        comment="还漏水",
        now=T0,
        times=TIMES,
    )
    assert types(feedback)[-2:] == ["SatisfactionRecorded", "CorrectionRequested"]
    assert (feedback.state, feedback.round) == (FeedbackState.CORRECTION, 2)
    feedback.task_closed(closed_at=T0 + timedelta(days=3), times=TIMES)
    feedback.record_answer(
        resolved=Resolved.NO, satisfaction=Satisfaction.BASICALLY_SATISFIED, comment="", now=T0, times=TIMES
    )
    assert (types(feedback)[-1], feedback.round) == ("CorrectionRequested", 3)


def test_satisfied_schedules_the_follow_up_which_closes_the_loop_when_it_stayed_fixed() -> None:
    feedback = submitted()
    feedback.task_closed(closed_at=T0, times=TIMES)
    feedback.record_answer(
        resolved=Resolved.YES, satisfaction=Satisfaction.SATISFIED, comment="", now=T0, times=TIMES
    )
    follow_up = feedback.pending[-1]
    assert isinstance(follow_up, CallbackScheduled)
    assert follow_up.kind.value == "follow_up"
    assert follow_up.due_at == T0 + timedelta(days=28)
    feedback.record_answer(
        resolved=Resolved.YES, satisfaction=Satisfaction.SATISFIED, comment="", now=T0, times=TIMES
    )
    assert feedback.state == FeedbackState.CLOSED


def test_a_resident_not_reached_is_recorded_as_not_reached_never_as_satisfied() -> None:
    feedback = submitted()
    feedback.task_closed(closed_at=T0, times=TIMES)
    feedback.note_time(now=T0 + timedelta(hours=50))
    assert types(feedback)[-1] == "CallbackScheduled"
    feedback.note_time(now=T0 + timedelta(hours=96))
    assert types(feedback)[-1] == "CallbackNotReached"
    assert "SatisfactionRecorded" not in types(feedback)
    assert feedback.state == FeedbackState.NOT_REACHED


def test_staff_record_a_call_back_nobody_answered_as_not_reached_once() -> None:
    feedback = submitted()
    with pytest.raises(StateConflict, match="no call-back is due"):
        feedback.not_reached()
    feedback.task_closed(closed_at=T0, times=TIMES)
    feedback.not_reached()
    assert types(feedback)[-1] == "CallbackNotReached"
    assert feedback.state == FeedbackState.NOT_REACHED
    with pytest.raises(StateConflict):
        feedback.not_reached()


def test_anonymity_hides_the_resident_from_the_member_and_confidentiality_the_content() -> None:
    row = {
        "feedback_id": "f-1",
        "household_id": "h-1",
        "enterprise_id": None,
        "member_id": "m-1",
        "org_unit": "yuhang/nanyuan/xinghe/b1",
        "anonymous": True,
        "confidential": False,
        "description": "邻居噪音",
        "answer": None,
        "submitted_by": "h-1",
    }
    member = Actor(id="m-1", roles=("member",), scope="yuhang/nanyuan/xinghe")
    secretary = Actor(id="s-1", roles=("secretary",), scope="yuhang/nanyuan/xinghe")
    household = Actor(id="h-1", roles=("resident",), scope="yuhang/nanyuan/xinghe")
    assert not visible_to(member, row)
    assert visible_to(member, {**row, "anonymous": False})
    assert view(secretary, row)["household_id"] == "h-1"
    assert view(household, row)["description"] == "邻居噪音"
    confidential = {**row, "anonymous": False, "confidential": True}
    assert view(member, confidential)["description"] is None
    assert view(secretary, confidential)["description"] == "邻居噪音"


def test_a_household_rates_its_member_once_per_period() -> None:
    rating = MemberRating("r-1")
    rating.rate(household_id="h-1", member_id="m-1", card_id="c-1", period="2026-06", score=5, comment="")
    with pytest.raises(StateConflict, match="already rated"):
        rating.rate(household_id="h-1", member_id="m-1", card_id="c-1", period="2026-06", score=4, comment="")
    with pytest.raises(InvalidCommand, match="1 to 5"):
        MemberRating("r-2").rate(
            household_id="h-1", member_id="m-1", card_id=None, period="2026-07", score=9, comment=""
        )
