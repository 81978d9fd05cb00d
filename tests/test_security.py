"""Nobody gets in where they don't belong: the findings of the intrusion test, each as the attack
that worked before its fix (the photo and export findings are tested beside their code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from conftest import COMMUNITY, District, community_with_a_covered_household

from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

NEIGHBOURS = "yuhang/nanyuan/other"


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
