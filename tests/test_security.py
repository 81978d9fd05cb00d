"""Nobody gets in where they don't belong: the findings of the intrusion test, each as the attack
that worked before its fix (the photo and export findings are tested beside their code)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from conftest import COMMUNITY, District, a_problem_assigned, community_with_a_covered_household, eventually
from PIL import Image

from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

NEIGHBOURS = "yuhang/nanyuan/other"


def a_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 60, 40)).save(out, format="PNG")
    return out.getvalue()


def forged_service_token(settings: Settings, *roles: str, scope: str) -> dict[str, str]:
    """A token signed with the deployment's own secret (as a stolen or self-issued one would be)
    that claims the service role beside a person's."""
    now = datetime.now(UTC)
    claims = {
        "sub": "secretary-of-the-neighbours",
        "roles": list(roles),
        "scope": scope,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, settings.jwt_secret_value(), algorithm='HS256')}"}


async def test_a_token_claiming_the_service_role_reads_nothing_of_another_community(
    district: District,
) -> None:
    d = district
    await community_with_a_covered_household(d)
    forged = forged_service_token(d.settings, "secretary", "service", scope=NEIGHBOURS)
    for client, path in (
        (d.assignments, f"/tasks?unit={COMMUNITY}"),
        (d.feedback, f"/feedback?unit={COMMUNITY}"),
        (d.members, f"/coverage?unit={COMMUNITY}"),
    ):
        reply = await client.get(path, headers=forged)
        assert reply.status_code == 401, (path, reply.text)
        assert "service role" in reply.json()["detail"]
    plain = forged_service_token(d.settings, "secretary", scope=NEIGHBOURS)
    assert (await d.assignments.get(f"/tasks?unit={COMMUNITY}", headers=plain)).status_code == 403


def test_no_token_is_issued_with_the_service_role(district: District) -> None:
    with pytest.raises(ValueError, match="service role"):
        issue_token(district.settings, subject="x", roles=["secretary", "service"], scope="yuhang")


async def test_a_refused_request_spends_no_idempotency_key(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    key = {"Idempotency-Key": "raise-refused-0001"}
    wrong = {"category": "repairs", "org_unit": "yuhang/nowhere", "description": "楼道灯不亮"}
    refused = await d.assignments.post("/tasks", json=wrong, headers={**d.secretary, **key})
    assert 400 <= refused.status_code < 500, refused.text
    corrected = {**wrong, "org_unit": COMMUNITY}
    accepted = await d.assignments.post("/tasks", json=corrected, headers={**d.secretary, **key})
    assert accepted.status_code == 201, accepted.text
    retried = await d.assignments.post("/tasks", json=corrected, headers={**d.secretary, **key})
    assert retried.json() == {**accepted.json(), "duplicate": True}


@pytest.mark.parametrize(
    "query",
    ["as_of=9999-12-31", "as_of=0001-01-01", "month=2026-13", "month=9999-00", "month=0000-01"],
)
async def test_figures_are_asked_only_for_days_and_months_in_range(district: District, query: str) -> None:
    d = district
    for client in (d.assignments, d.feedback):
        reply = await client.get(f"/kpis?{query}", headers=d.secretary)
        assert reply.status_code == 422, (query, reply.text)


async def test_guessing_references_from_one_address_is_slowed_down_with_429(district: District) -> None:
    d = district
    answers = [
        (
            await d.feedback.get(
                f"/public/follow-up/FL-20261207-AAAAAA{'ABCDEFGH'[n // 8]}{'ABCDEFGH'[n % 8]}"
            )
        ).status_code
        for n in range(40)
    ]
    assert answers[:30] == [404] * 30  # a minute's worth of looking up receipts passes
    assert set(answers[30:]) == {429}
    refused = await d.feedback.get("/public/follow-up/FL-20261207-AAAAAAAA")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "try again in" in refused.json()["detail"]


async def a_member_of_the_neighbours(d: District) -> str:
    """A community beside ours, with a member of its own."""
    admin = d.token("administrator", scope="yuhang")
    await d.post(
        d.members,
        "/org-units",
        {"code": "other", "name": "邻近社区", "level": "community", "parent_path": "yuhang/nanyuan"},
        admin,
    )
    neighbours = d.token("secretary", "secretary-of-the-neighbours", scope=NEIGHBOURS)
    body = {
        "name": "李四",
        "public_phone": "0571-88880002",
        "party_branch": "邻近支部",
        "org_unit": NEIGHBOURS,
    }
    return str((await d.post(d.members, "/members", body, neighbours))["id"])


async def test_no_photo_is_kept_for_a_household_never_registered_or_out_of_scope(district: District) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    files = {"photo": ("leak.png", a_png(), "image/png")}
    nobody = "0190aaaa-0000-7000-8000-000000000001"

    async def upload(about: str, headers: dict[str, str]) -> httpx.Response:
        return await d.feedback.post("/photos", files=files, data={"household_id": about}, headers=headers)

    unknown = await upload(nobody, d.secretary)
    assert unknown.status_code == 404, unknown.text
    assert await d.runtime(d.feedback).cipher._keys.get(nobody) is None  # no key made for nobody
    neighbours = d.token("secretary", "secretary-of-the-neighbours", scope=NEIGHBOURS)
    assert (await upload(household, neighbours)).status_code == 403
    assert (await upload(household, d.secretary)).status_code == 201
    keys = d.runtime(d.feedback).cipher._keys
    await d.post(d.members, f"/households/{household}/erase", {}, d.secretary)

    async def forgotten() -> bool:  # the feedback service has applied the erasure
        return (await upload(household, d.secretary)).status_code == 404

    assert await eventually(forgotten)
    assert await keys.get(household) is None  # the erased household's key is not made again
    resident = d.token("resident", household)
    body = {"category": "repairs", "household_id": household, "description": "又漏水了"}
    again = await d.feedback.post("/feedback", json=body, headers=resident)
    assert again.status_code in (404, 410, 422), again.text  # no feedback for an erased household
    assert await keys.get(household) is None


async def test_a_task_goes_to_no_member_of_a_neighbouring_community(district: District) -> None:
    d = district
    _, _, _, task_id = await a_problem_assigned(d)
    stranger = await a_member_of_the_neighbours(d)
    body = {"member_id": stranger, "reason": "换人"}
    answers: list[httpx.Response] = []

    async def answered_once_known() -> bool:  # until the assignments service has seen the member
        answers.append(await d.assignments.post(f"/tasks/{task_id}/reassign", json=body, headers=d.secretary))
        return answers[-1].status_code != 404

    assert await eventually(answered_once_known)
    assert answers[-1].status_code == 403, answers[-1].text
    assert "outside this task's unit" in answers[-1].json()["detail"]


async def test_a_members_ratings_are_read_only_in_scope(district: District) -> None:
    d = district
    member, _ = await community_with_a_covered_household(d)
    neighbours = d.token("secretary", "secretary-of-the-neighbours", scope=NEIGHBOURS)
    headers = {"X-Min-Position": str(d.position)}
    outside = await d.feedback.get(f"/members/{member}/ratings", headers={**neighbours, **headers})
    assert outside.status_code == 403, outside.text
    inside = await d.feedback.get(f"/members/{member}/ratings", headers={**d.secretary, **headers})
    assert inside.status_code == 200, inside.text
