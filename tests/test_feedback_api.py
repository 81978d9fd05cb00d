"""The feedback service's rules through HTTP: who sees what, direct answers, ratings, "as of" rates."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from conftest import (
    COMMUNITY,
    District,
    a_photo_with_a_location,
    a_problem_assigned,
    community_with_a_covered_household,
    eventually,
    work_and_close,
)
from PIL import Image

from fourlinks_contracts.feedback import Channel, FeedbackKind
from fourlinks_contracts.members import Urgency
from fourlinks_feedback.application import handlers
from fourlinks_feedback.application.commands import SubmitFeedback
from fourlinks_feedback.application.reactions import scan_callbacks
from fourlinks_feedback.domain.feedback import NewFeedback
from fourlinks_kernel.envelope import Actor, CommandContext


async def test_visibility_answers_and_ratings(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    noise = await d.post(
        d.feedback,
        "/feedback",
        {
            "kind": "opinion",
            "category": "environment",
            "household_id": household,
            "description": "楼下广场舞太吵",
            "anonymous": True,
            "confidential": True,
        },
        resident,
    )
    member_view = await d.feedback.get(f"/feedback/{noise['id']}", headers=d.token("member", member))
    assert member_view.status_code == 404  # anonymous: the member does not see it at all
    others = await d.feedback.get(
        f"/feedback/{noise['id']}", headers=d.token("resident", "another-household")
    )
    assert others.status_code == 404
    seen = await d.get(d.feedback, f"/feedback/{noise['id']}", d.secretary)
    assert (seen["description"], seen["household_id"]) == ("楼下广场舞太吵", household)
    await d.post(
        d.feedback, f"/feedback/{noise['id']}/answer", {"answer": "已与广场舞队协商，晚九点结束"}, d.secretary
    )
    assert (await d.get(d.feedback, f"/feedback/{noise['id']}", resident))["state"] == "closed"

    rated = await d.post(d.feedback, "/ratings", {"household_id": household, "score": 5}, resident)
    assert rated["id"]
    again = await d.feedback.post("/ratings", json={"household_id": household, "score": 1}, headers=resident)
    assert again.status_code == 409
    stranger = await d.feedback.post(
        "/ratings",
        json={"household_id": household, "score": 1},
        headers=d.token("resident", "another-household"),
    )
    assert stranger.status_code == 403
    ratings = await d.get(d.feedback, f"/members/{member}/ratings", d.token("member", member))
    assert ratings["periods"][0]["average"] == 5.0


async def test_an_unanswered_call_back_is_not_reached_and_rates_are_answered_as_of_a_date(
    district: District,
) -> None:
    d = district
    member, resident, leak, task_id = await a_problem_assigned(d)
    assert (
        await d.feedback.post(
            f"/feedback/{leak['id']}/callback",
            json={"resolved": "yes", "satisfaction": "satisfied"},
            headers=resident,
        )
    ).status_code == 409  # no call-back before closure
    await work_and_close(d, task_id, member, accept=True)
    item = await eventually(lambda: _feedback(d, leak["id"], "callback_due"))
    runtime = d.runtime(d.feedback)
    later = runtime.clock() + timedelta(hours=200)
    assert await scan_callbacks(runtime, now=later) == 1
    assert await scan_callbacks(runtime, now=later + timedelta(hours=100)) == 0
    runtime.clock = lambda: later
    await eventually(lambda: _feedback(d, leak["id"], "not_reached"))

    today = await d.get(d.feedback, "/kpis", d.secretary, by="community")
    assert (today[0]["not_reached"], today[0]["callbacks_answered"], today[0]["satisfaction_rate"]) == (
        1,
        0,
        None,
    )
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert await d.get(d.feedback, "/kpis", d.secretary, by="community", as_of=yesterday) == []
    assert item["task_id"] == task_id


async def test_a_secretary_records_a_call_back_nobody_answered(district: District) -> None:
    d = district
    member, resident, leak, task_id = await a_problem_assigned(d)
    path = f"/feedback/{leak['id']}/callback/not-reached"
    assert (await d.feedback.post(path, headers=d.secretary)).status_code == 409  # nothing to call back yet
    await work_and_close(d, task_id, member, accept=True)
    await eventually(lambda: _feedback(d, leak["id"], "callback_due"))
    assert (await d.feedback.post(path, headers=resident)).status_code == 403
    elsewhere = d.token("secretary", "secretary-elsewhere", scope="yuhang/linping")
    assert (await d.feedback.post(path, headers=elsewhere)).status_code in (403, 404)
    await d.post(d.feedback, path, {}, d.secretary)
    await eventually(lambda: _feedback(d, leak["id"], "not_reached"))
    assert (await d.feedback.post(path, headers=d.secretary)).status_code == 409
    figures = await d.get(d.feedback, "/kpis", d.secretary, by="community")
    assert (figures[0]["not_reached"], figures[0]["callbacks_answered"]) == (1, 0)


async def _feedback(d: District, feedback_id: str, state: str) -> dict[str, Any] | None:
    reply = await d.feedback.get(f"/feedback/{feedback_id}", headers=d.secretary)
    return dict(reply.json()) if reply.status_code == 200 and reply.json()["state"] == state else None


async def test_anyone_holding_the_reference_sees_states_and_dates_and_nothing_anyone_wrote(
    district: District,
) -> None:
    d = district
    _, resident, leak, _ = await a_problem_assigned(d)
    reference = (await d.get(d.feedback, f"/feedback/{leak['id']}", resident))["reference"]
    followed = await d.feedback.get(
        f"/public/follow-up/{reference}", headers={"X-Min-Position": str(d.position)}
    )  # no token
    assert followed.status_code == 200, followed.text
    answer = followed.json()
    assert (answer["reference"], answer["category"]) == (reference, "repairs")
    assert answer["history"]
    assert all(set(step) == {"what", "at"} for step in answer["history"])
    assert "厨房漏水" not in followed.text  # the resident's words stay with those who may read them
    unknown = await d.feedback.get("/public/follow-up/FL-20260101-AAAAAAAA")
    assert unknown.status_code == 404
    odd = await d.feedback.get("/public/follow-up/FL-2026%3Cscript%3E")
    assert odd.status_code == 422


async def test_the_public_follow_up_names_an_old_free_text_category_other_never_as_typed(
    district: District,
) -> None:
    """Feedback from before categories were codes holds what the resident typed; whoever holds its
    reference reads "other", never that text (its line break, its link)."""
    d = district
    member, household = await community_with_a_covered_household(d)
    typed = "路灯坏了\n详见 https://evil.example/x"
    resident = Actor(id=household, roles=("resident",), scope=COMMUNITY)
    old = NewFeedback(
        feedback_id=str(uuid.uuid4()),
        channel=Channel.WEB,
        kind=FeedbackKind.PROBLEM,
        category=typed,  # as the handler took it before the edge checked it
        urgency=Urgency.GENERAL,
        org_unit=f"{COMMUNITY}/b1",
        household_id=household,
        enterprise_id=None,
        description="灯坏了",
    )
    command = SubmitFeedback(resident, old, member, datetime.now(UTC))
    outcome = await d.runtime(d.feedback).dispatch(command, handlers.submit, CommandContext.new(resident))
    seen = {"X-Min-Position": str(outcome.position)}
    followed = await d.feedback.get(f"/public/follow-up/{outcome.value}", headers=seen)
    assert followed.status_code == 200, followed.text
    assert followed.json()["category"] == "other"
    assert "evil.example" not in followed.text
    assert "路灯" not in followed.text


async def upload(d: District, headers: dict[str, str], data: bytes, **fields: str) -> httpx.Response:
    files = {"photo": ("leak.jpg", data, "image/jpeg")}
    seen = {**headers, "X-Min-Position": str(d.position)}  # a household registered just now is known
    return await d.feedback.post("/photos", files=files, data=fields, headers=seen)


async def test_photos_sent_with_feedback_are_kept_without_location_and_shown_to_whoever_reads_its_content(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    sent = await upload(d, resident, a_photo_with_a_location())
    assert sent.status_code == 201, sent.text
    photo = sent.json()
    assert photo["media_type"] == "image/jpeg"

    refused = await upload(d, resident, b"not a photo at all")
    assert (refused.status_code, "JPEG, PNG, WebP or HEIC" in refused.text) == (422, True)
    too_big = await upload(d, resident, b"\xff" * (11 * 1024 * 1024))
    assert too_big.status_code == 413
    others = await upload(
        d, resident, a_photo_with_a_location(), household_id="5f0c2a9e-1d3b-4c8e-9a7f-2b6d4e8c1a30"
    )
    assert others.status_code == 403  # a household sends photos of its own feedback only

    body = {
        "category": "repairs",
        "household_id": household,
        "description": "楼道墙皮脱落",
        "photos": [photo],
    }
    item = await d.post(d.feedback, "/feedback", body, resident)
    shown = await d.get(d.feedback, f"/feedback/{item['id']}", resident)
    assert shown["photos"] == [photo]
    path = f"/feedback/{item['id']}/photos/{photo['sha256']}"
    inspector = d.token("inspector", "inspector-1")  # what a spot check compares the work with
    for who in (resident, d.token("member", member), d.secretary, inspector):
        got = await d.feedback.get(path, headers=who)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/jpeg"
        assert not Image.open(io.BytesIO(got.content)).getexif()  # no location left in it
        assert hashlib.sha256(got.content).hexdigest() == photo["sha256"]

    secret = await d.post(d.feedback, "/feedback", {**body, "confidential": True}, resident)
    as_member = await d.get(d.feedback, f"/feedback/{secret['id']}", d.token("member", member))
    assert as_member["photos"] == []  # confidential: the content, photos included, is for secretaries
    hidden = await d.feedback.get(
        f"/feedback/{secret['id']}/photos/{photo['sha256']}", headers=d.token("member", member)
    )
    assert hidden.status_code == 404
    as_inspector = await d.feedback.get(
        f"/feedback/{secret['id']}/photos/{photo['sha256']}", headers=inspector
    )
    assert as_inspector.status_code == 404  # confidential content is the secretaries' alone
    elsewhere_inspector = d.token("inspector", "inspector-2", scope="yuhang/linping")
    assert (await d.feedback.get(path, headers=elsewhere_inspector)).status_code == 404
    assert (
        await d.feedback.get(f"/feedback/{secret['id']}/photos/{photo['sha256']}", headers=d.secretary)
    ).status_code == 200

    elsewhere = (
        await d.post(
            d.members,
            "/households",
            {"org_unit": f"{COMMUNITY}/b1", "room": "102", "residents": [{"name": "李四"}]},
            d.secretary,
        )
    )["id"]
    theirs = await upload(d, d.token("resident", elsewhere), a_photo_with_a_location((10, 200, 30)))
    mixed = await d.feedback.post(
        "/feedback",
        json={**body, "photos": [theirs.json()]},
        headers={**resident, "X-Min-Position": str(d.position)},
    )
    assert (mixed.status_code, "was not uploaded for this household" in mixed.text) == (422, True)


async def test_an_erased_household_s_photos_and_words_can_no_longer_be_read_anywhere(
    district: District,
) -> None:
    """Erasing a household destroys its residents' keys and its own: the photo it sent stays in the
    store but opens for nobody, and what it wrote is gone from every service's read models."""
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    photo = (await upload(d, resident, a_photo_with_a_location())).json()
    body = {"category": "repairs", "household_id": household, "description": "厨房漏水", "photos": [photo]}
    item = await d.post(d.feedback, "/feedback", body, resident)
    task_id = (await d.get(d.feedback, f"/feedback/{item['id']}", resident))["task_id"]
    path = f"/feedback/{item['id']}/photos/{photo['sha256']}"
    assert (await d.feedback.get(path, headers=d.secretary)).status_code == 200
    stored = list((d.settings.var_dir / "photos").rglob("*"))
    assert any(p.is_file() for p in stored)

    await d.post(d.members, f"/households/{household}/erase", {}, d.secretary)
    gone = await d.feedback.get(path, headers={**d.secretary, "X-Min-Position": str(d.position)})
    assert gone.status_code == 404
    assert "erased" in gone.text
    assert any(p.is_file() for p in stored)  # the sealed bytes lie where they were, unreadable
    assert (await d.get(d.feedback, f"/feedback/{item['id']}", d.secretary))["description"] is None
    task = await d.get(d.assignments, f"/tasks/{task_id}", d.secretary)
    assert task["description"] is None
    residents = (await d.get(d.members, f"/households/{household}", d.secretary))["residents"]
    assert all(r["erased"] and r["name"] is None and r["phone"] is None for r in residents)
    again = await d.members.post(f"/households/{household}/erase", headers=d.secretary)
    assert again.status_code == 409
    elsewhere = d.token("secretary", "secretary-2", scope="yuhang/linping")
    assert (await d.members.post(f"/households/{household}/erase", headers=elsewhere)).status_code == 403
    assert member  # the member's card still covers the household: only personal data is gone
