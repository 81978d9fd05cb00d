"""The notifier's pure parts: a notice's attempts, the retry policy, quiet hours, who each event
tells, the texts, the robots' routing and the channels' signatures (no NATS, no database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import unquote_plus

import pytest

from fourlinks_contracts import assignments as task_events
from fourlinks_contracts import feedback as feedback_events
from fourlinks_contracts.members import Urgency
from fourlinks_contracts.notifications import NoticeFailed
from fourlinks_kernel.errors import StateConflict
from fourlinks_notifications.adapters.robots import dingtalk_signature
from fourlinks_notifications.adapters.sms import aliyun_signature
from fourlinks_notifications.application.outgoing import Undelivered
from fourlinks_notifications.application.routing import nearest
from fourlinks_notifications.application.sender import wording
from fourlinks_notifications.domain.messages import TEXTS, Message, render
from fourlinks_notifications.domain.notice import Notice, RetryPolicy, notice_id_for
from fourlinks_notifications.domain.quiet import QuietHours
from fourlinks_notifications.domain.rules import (
    FeedbackFacts,
    Recipient,
    RecipientKind,
    TaskFacts,
    feedback_drafts,
    task_drafts,
)
from fourlinks_notifications.settings import NotifySettings
from fourlinks_runtime.settings import Settings

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Hangzhou
LEASE = timedelta(minutes=1)
POLICY = RetryPolicy(attempts=3, first_delay=timedelta(seconds=30), longest_delay=timedelta(minutes=1))
UNIT = "yuhang/nanyuan/xinghe"


def test_a_notice_is_sent_once_and_a_second_sender_is_refused_while_the_first_holds_it() -> None:
    notice = Notice(notice_id_for("event-1", "member:m1"))
    assert notice_id_for("event-1", "member:m1") == notice.id != notice_id_for("event-1", "member:m2")
    first = notice.take(channel="dingtalk", now=NOW, lease=LEASE)
    with pytest.raises(StateConflict, match="another sender"):
        notice.take(channel="dingtalk", now=NOW + timedelta(seconds=30), lease=LEASE)
    notice.delivered(attempt=first, channel="dingtalk")
    with pytest.raises(StateConflict, match="has been sent"):
        notice.take(channel="dingtalk", now=NOW + timedelta(hours=1), lease=LEASE)


def test_a_sender_that_died_holding_a_notice_lets_another_take_it_after_the_lease() -> None:
    notice = Notice("n")
    first = notice.take(channel="sms", now=NOW, lease=LEASE)
    second = notice.take(channel="sms", now=NOW + LEASE, lease=LEASE)
    assert (first, second) == (1, 2)
    with pytest.raises(StateConflict, match="no longer current"):
        notice.delivered(attempt=first, channel="sms")  # the first sender woke up late


def test_failures_back_off_doubling_then_the_notice_is_a_dead_letter_until_sent_again() -> None:
    notice = Notice("n")
    retries = []
    for step in range(3):
        now = NOW + timedelta(minutes=step * 5)
        number = notice.take(channel="email", now=now, lease=LEASE)
        retry_at = notice.undelivered(
            attempt=number, channel="email", error="SMTP 451", now=now, policy=POLICY
        )
        retries.append(retry_at)
    assert retries[0] == NOW + timedelta(seconds=30)
    assert retries[1] == NOW + timedelta(minutes=5, seconds=60)  # doubled, and capped at a minute
    assert retries[2] is None
    assert notice.given_up
    with pytest.raises(StateConflict, match="given up"):
        notice.take(channel="email", now=NOW + timedelta(hours=1), lease=LEASE)
    notice.send_again()
    assert notice.take(channel="email", now=NOW + timedelta(hours=1), lease=LEASE) == 4
    with pytest.raises(StateConflict, match="not a dead letter"):
        notice.send_again()


def test_a_recipient_no_channel_reaches_is_a_dead_letter_at_once_with_the_reason() -> None:
    notice = Notice("n")
    notice.give_up(channel="", error="no group robot is configured for yuhang/x")
    failed = notice.pending[-1]
    assert isinstance(failed, NoticeFailed)
    assert failed.retry_at is None
    assert notice.given_up


def test_quiet_hours_across_midnight_end_the_next_morning_in_local_time() -> None:
    quiet = QuietHours.parse("22:00-07:00", "Asia/Shanghai")
    assert quiet is not None
    evening = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)  # 22:30 in Hangzhou
    assert quiet.end_of(evening) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 07:00 next day
    early = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # 05:00 local
    assert quiet.end_of(early) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert quiet.end_of(NOW) is None
    lunch = QuietHours.parse("12:00-13:30", "Asia/Shanghai")
    assert lunch is not None
    assert lunch.end_of(datetime(2026, 11, 30, 4, 15, tzinfo=UTC)) is not None
    assert QuietHours.parse("", "Asia/Shanghai") is None
    for wrong in ("22-7", "25:00-07:00", "22:00-07:61"):
        with pytest.raises(ValueError, match="quiet hours"):
            QuietHours.parse(wrong, "Asia/Shanghai")


def _task(assignee: str | None = "m1") -> TaskFacts:
    return TaskFacts("0b6c3a2e-aaaa-bbbb-cccc-000000000001", UNIT, "environment", assignee)


def test_a_task_assigned_or_handed_back_tells_its_member_and_a_deadline_the_secretaries_too() -> None:
    assigned = task_events.TaskAssigned(
        task_id="t", member_id="m1", helpers=[], party_day_id=None, by_default=False
    )
    [draft] = task_drafts(assigned, _task())
    assert draft.recipient == Recipient(RecipientKind.MEMBER, "m1")
    assert draft.message is Message.TASK_ASSIGNED
    assert draft.params["path"].startswith("/tasks/")
    assert draft.params["category"] == "environment"
    missed = task_events.DeadlineMissed(task_id="t", due_at=NOW, assignee="m1")
    kinds = {d.recipient.kind for d in task_drafts(missed, _task())}
    assert kinds == {RecipientKind.MEMBER, RecipientKind.SECRETARIES}
    assert {d.recipient.kind for d in task_drafts(missed, _task(None))} == {RecipientKind.SECRETARIES}
    failed = task_events.SpotCheckFailed(task_id="t", inspector_id="i", reason="still dirty", rework_count=1)
    [handed_back] = task_drafts(failed, _task())
    assert "still dirty" not in str(handed_back.params)  # a group reads it: the reason stays on the page
    accepted = task_events.TaskAccepted(task_id="t", member_id="m1")
    assert task_drafts(accepted, _task()) == []


def _item(notify: bool) -> FeedbackFacts:
    return FeedbackFacts("f", "FL-20261130-ABCDEFGH", UNIT, Recipient(RecipientKind.HOUSEHOLD, "h1"), notify)


def test_a_resident_who_asked_is_told_each_step_and_the_secretaries_of_a_call_back_due() -> None:
    routed = feedback_events.FeedbackRouted(
        feedback_id="f",
        task_id="t",
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=UNIT,
        household_id="h1",
        enterprise_id=None,
        description=None,
        data_subject="h1",
    )
    assert [d.message for d in feedback_drafts(routed, _item(notify=True))] == [Message.FEEDBACK_ROUTED]
    assert feedback_drafts(routed, _item(notify=False)) == []
    due = NOW + timedelta(days=1)
    scheduled = feedback_events.CallbackScheduled(
        feedback_id="f",
        task_id="t",
        round=1,
        kind=feedback_events.CallbackKind.FIRST,
        due_at=due,
        answer_by=due,
    )
    drafts = feedback_drafts(scheduled, _item(notify=False))
    assert [(d.recipient.kind, d.message, d.not_before) for d in drafts] == [
        (RecipientKind.SECRETARIES, Message.CALLBACK_DUE, due)
    ]


def test_no_notice_carries_a_confidential_item_s_words_or_an_anonymous_item_s_household() -> None:
    """`fourlinks_contracts.visibility`: the words and the household are its unit's secretaries'
    alone; a notice goes to a member's phone or a group, so it names neither (the household is
    told of its own item by its reference only)."""
    words, household = "隔壁夜里吵闹，请替我保密", "h-anonymous"
    item = FeedbackFacts(
        "f", "FL-20261130-ABCDEFGH", UNIT, Recipient(RecipientKind.HOUSEHOLD, household), True
    )
    task = TaskFacts("t-1234567890", f"{UNIT}/b1", "repairs", "m1")
    wishes: dict[str, Any] = {"confidential": True, "anonymous": True}
    contact: dict[str, Any] = {"org_unit": f"{UNIT}/b1", "household_id": household, "enterprise_id": None}
    feedback_steps = [
        feedback_events.FeedbackSubmitted(
            feedback_id="f",
            reference=item.reference,
            channel=feedback_events.Channel.WEB,
            kind=feedback_events.FeedbackKind.PROBLEM,
            category="repairs",
            urgency=Urgency.GENERAL,
            submitted_by=household,
            on_behalf_by_member=None,
            member_id="m1",
            description=words,
            data_subject=household,
            notify=True,
            **contact,
            **wishes,
        ),
        feedback_events.FeedbackRouted(
            feedback_id="f",
            task_id=task.task_id,
            category="repairs",
            urgency=Urgency.GENERAL,
            description=words,
            data_subject=household,
            **contact,
            **wishes,
        ),
        feedback_events.CallbackScheduled(
            feedback_id="f",
            task_id=task.task_id,
            round=1,
            kind=feedback_events.CallbackKind.FIRST,
            due_at=NOW,
            answer_by=NOW,
        ),
        feedback_events.CorrectionRequested(
            feedback_id="f", task_id=task.task_id, round=2, reason=words, data_subject=household
        ),
    ]
    task_steps = [
        task_events.TaskRaised(
            task_id=task.task_id,
            source=task_events.TaskSource.FEEDBACK,
            source_ref="f",
            category="repairs",
            urgency=Urgency.GENERAL,
            description=words,
            party_day_id=None,
            data_subject=household,
            **contact,
            **wishes,
        ),
        task_events.TaskAssigned(
            task_id=task.task_id, member_id="m1", helpers=[], party_day_id=None, by_default=True
        ),
        task_events.TaskReopened(
            task_id=task.task_id, reason=words, correction_ref="f:2", assignee="m1", data_subject=household
        ),
        task_events.DeadlineMissed(task_id=task.task_id, due_at=NOW, assignee="m1"),
    ]
    drafts = [
        *(d for event in feedback_steps for d in feedback_drafts(event, item)),
        *(d for event in task_steps for d in task_drafts(event, task)),
    ]
    assert {d.recipient.kind for d in drafts} == {
        RecipientKind.HOUSEHOLD,
        RecipientKind.MEMBER,
        RecipientKind.SECRETARIES,
    }
    for draft in drafts:
        said = [
            str(draft.params),
            *(render(draft.message, draft.params, locale) for locale in ("zh_CN", "en")),
        ]
        assert not any(words in text or household in text for text in said), draft
        assert draft.recipient.id != household or draft.recipient.kind is RecipientKind.HOUSEHOLD


def test_a_notice_names_a_category_by_its_label_and_old_free_text_as_other() -> None:
    """Old tasks hold whatever was typed as their category, line breaks and links included; a
    group robot's message shows the service matter's label, never what was typed."""
    typed = "路灯坏了\n详情 https://evil.example/x"
    assigned = task_events.TaskAssigned(
        task_id="t", member_id="m1", helpers=[], party_day_id=None, by_default=False
    )
    missed = task_events.DeadlineMissed(task_id="t", due_at=NOW, assignee="m1")
    old = TaskFacts("0b6c3a2e-aaaa-bbbb-cccc-000000000002", UNIT, typed, "m1")
    drafts = [*task_drafts(assigned, old), *task_drafts(missed, old)]
    assert len(drafts) == 3
    for draft in drafts:
        assert typed not in str(draft.params)
        for locale in ("zh_CN", "en"):
            text = render(draft.message, draft.params, locale)
            assert "\n" not in text, text
            assert "https://" not in text, text
            assert "路灯" not in text, text
    [told] = task_drafts(assigned, old)
    assert "（其他）" in render(told.message, told.params, "zh_CN")
    assert "(other)" in render(told.message, told.params, "en")
    stored_before = {**told.params, "category": typed}  # a notice made before categories were codes
    assert "（其他）" in render(told.message, stored_before, "zh_CN")
    [repairs] = task_drafts(assigned, TaskFacts("t-2", UNIT, "repairs", "m1"))
    assert "（维修协调）" in render(repairs.message, repairs.params, "zh_CN")
    assert "(repairs)" in render(repairs.message, repairs.params, "en")


def test_every_text_exists_in_chinese_and_english_and_a_missing_parameter_reads_empty() -> None:
    assert all(set(texts) == {"zh_CN", "en"} for texts in TEXTS.values())
    assert set(TEXTS) == set(Message)
    text = render(Message.FEEDBACK_RECEIVED, {"reference": "FL-1", "link": "http://x/follow"}, "zh_CN")
    assert text.startswith("【四联】")
    assert "FL-1" in text
    assert "http://x/follow" in text
    assert "{" not in render(Message.TASK_ASSIGNED, {}, "en")


def test_the_most_specific_configured_unit_wins_and_an_empty_key_covers_all() -> None:
    configured = {"": "district", "yuhang/nanyuan": "street", "yuhang/nanyuan/xinghe": "community"}
    assert nearest(configured, UNIT) == "community"
    assert nearest(configured, "yuhang/nanyuan/other") == "street"
    assert nearest(configured, "yuhang/linping/x") == "district"
    assert nearest({"yuhang/nanyuan": "street"}, "yuhang/nanyuanbei/x") is None


def test_dingtalk_signs_timestamp_and_secret_as_its_robot_expects() -> None:
    secret, timestamp = "SEC0123456789", 1764468000000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert unquote_plus(dingtalk_signature(secret, timestamp)) == expected


def test_alibaba_cloud_sms_signature_matches_the_providers_documented_example() -> None:
    # The worked example of Alibaba Cloud's SMS API signature documentation (GET, testId/testSecret).
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signature(params, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_a_sign_in_link_without_the_token_secret_fails_saying_what_to_set(tmp_path: Path) -> None:
    runtime = SimpleNamespace(settings=Settings(var_dir=tmp_path, jwt_secret=None, jwt_secret_file=None))
    notifier = cast(Any, SimpleNamespace(runtime=runtime, settings=NotifySettings()))
    notice = SimpleNamespace(params="{}", message="sign_in_link", recipient_id="h-1", org_unit=UNIT)
    with pytest.raises(Undelivered, match="FOURLINKS_JWT_SECRET"):
        wording(notifier, notice)
    notice.message = "feedback_routed"
    notice.params = '{"reference": "FL-1", "path": "/follow?reference=FL-1"}'
    assert wording(notifier, notice).endswith("已交给联系党员办理。")
