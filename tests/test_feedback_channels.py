"""Every feedback records the channel it truly came by, from how its request was authorised: a
household's from its token (the web, its texted sign-in link, a card's QR code), staff's as they
say (a visit, a phone call, a themed party day); nothing is guessed. A report from a card's QR code
is marked unconfirmed, and reaches the member the card names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import COMMUNITY, District, community_with_a_covered_household, eventually

from fourlinks_runtime.auth import issue_token


def _problem(household: str, **more: Any) -> dict[str, Any]:
    return {"category": "repairs", "household_id": household, "description": "楼道灯坏了", **more}


def _resident(d: District, household: str, via: str = "") -> dict[str, str]:
    token = issue_token(
        d.settings,
        subject=household,
        roles=["resident"],
        scope=COMMUNITY,
        lifetime=timedelta(minutes=15),
        via=via,
    )
    return {"Authorization": f"Bearer {token}"}


async def _channel_of(d: District, sent: dict[str, Any]) -> tuple[str, bool]:
    item = await d.get(d.feedback, f"/feedback/{sent['id']}", d.secretary)
    return item["channel"], item["unconfirmed"]


async def test_a_households_feedback_records_how_it_signed_in_and_cannot_say_otherwise(
    district: District,
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    on_the_web = await d.post(d.feedback, "/feedback", _problem(household), _resident(d, household))
    assert await _channel_of(d, on_the_web) == ("web", False)
    by_link = _resident(d, household, "sign_in_link")
    texted = await d.post(d.feedback, "/feedback", _problem(household), by_link)
    assert await _channel_of(d, texted) == ("sign_in_link", False)
    pretending = await d.feedback.post(
        "/feedback", json=_problem(household, channel="card_qr"), headers=by_link
    )
    assert pretending.status_code == 422, pretending.text
    assert "channel" in pretending.text


async def test_staff_say_how_feedback_reached_them_and_never_a_households_channel(district: District) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    unsaid = await d.feedback.post("/feedback", json=_problem(household), headers=d.secretary)
    assert unsaid.status_code == 422, unsaid.text
    assert "channel" in unsaid.text
    as_if_scanned = await d.feedback.post(
        "/feedback", json=_problem(household, channel="card_qr"), headers=d.secretary
    )
    assert as_if_scanned.status_code == 422
    called = await d.post(d.feedback, "/feedback", _problem(household, channel="phone"), d.secretary)
    assert await _channel_of(d, called) == ("phone", False)


async def test_a_report_from_a_cards_qr_code_is_unconfirmed_and_reaches_the_cards_member(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    [card] = await d.get(d.members, "/cards/print", d.secretary)
    [copy] = [c for c in card["contacts"] if c["contact_id"] == household]
    door = await d.get(d.members, f"/doorway/{copy['link']}", {})
    assert (door["member"]["member_id"], door["replaced"]) == (member, False)

    scanned = _resident(d, door["contact_id"], "card_qr")  # what the console's doorway page makes
    sent = await d.post(d.feedback, "/feedback", _problem(household, call_back=True), scanned)
    item = await d.get(d.feedback, f"/feedback/{sent['id']}", d.secretary)
    assert (item["channel"], item["unconfirmed"], item["call_back"]) == ("card_qr", True, True)
    assert item["member_id"] == member

    async def the_members_task() -> Any:
        tasks = await d.assignments.get(f"/members/{member}/tasks", headers=d.token("member", member))
        return tasks.status_code == 200 and tasks.json()["total"] >= 1

    await eventually(the_members_task)
