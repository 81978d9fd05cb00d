"""Tokens that end: a `jti`, a longest lifetime, and a revocation list every service follows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from fourlinks_kernel.errors import InvalidCommand
from fourlinks_runtime.auth import (
    CurrentActor,
    RevokedTokens,
    TokenRevoked,
    TokenVerifier,
    issue_token,
    revocation_key,
)
from fourlinks_runtime.settings import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-of-enough-length-000000")


def signed(claims: dict[str, Any], settings: Settings = SETTINGS) -> str:
    """A token as anyone holding the deployment's secret could make it."""
    now = datetime.now(UTC)
    base = {"sub": "s-1", "roles": ["secretary"], "scope": "yuhang", "iss": "fourlinks", "aud": "fourlinks"}
    return jwt.encode(
        {**base, "iat": now, "exp": now + timedelta(hours=1), **claims},
        settings.jwt_secret_value(),
        algorithm="HS256",
    )


def service(settings: Settings = SETTINGS, revoked: RevokedTokens | None = None) -> httpx.AsyncClient:
    """One route behind the services' own bearer check."""
    app = FastAPI()
    app.state.verifier = TokenVerifier(settings)
    if revoked is not None:
        app.state.runtime = SimpleNamespace(revoked=revoked)  # what a started service has

    @app.get("/me")
    async def me(actor: CurrentActor) -> dict[str, str]:
        return {"id": actor.id}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


async def test_a_hundred_year_token_is_refused_with_a_reason() -> None:
    now = datetime.now(UTC)
    century = signed({"iat": now, "exp": now + timedelta(days=36_525)})
    async with service() as client:
        refused = await client.get("/me", headers={"Authorization": f"Bearer {century}"})
        assert refused.status_code == 401
        assert "a token may live at most 12 h (FOURLINKS_JWT_MAX_HOURS)" in refused.json()["detail"]
        fine = signed({})
        assert (await client.get("/me", headers={"Authorization": f"Bearer {fine}"})).status_code == 200


def test_a_token_that_does_not_say_when_it_was_issued_is_refused() -> None:
    undated = jwt.encode(
        {
            "sub": "s-1",
            "roles": ["secretary"],
            "iss": "fourlinks",
            "aud": "fourlinks",
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        SETTINGS.jwt_secret_value(),
        algorithm="HS256",
    )
    with pytest.raises(jwt.MissingRequiredClaimError, match="iat"):
        TokenVerifier(SETTINGS).verify(undated)


def test_a_household_link_may_live_longer_than_a_person_s_session_and_no_longer_than_allowed() -> None:
    now = datetime.now(UTC)
    three_days = {"iat": now, "exp": now + timedelta(hours=72)}
    link = signed({"roles": ["resident"], **three_days})
    assert TokenVerifier(SETTINGS).verify(link).roles == ("resident",)
    with pytest.raises(jwt.InvalidTokenError, match="FOURLINKS_JWT_MAX_HOURS"):
        TokenVerifier(SETTINGS).verify(signed({"roles": ["resident", "member"], **three_days}))
    longer = Settings(jwt_secret="unit-test-secret-of-enough-length-000000", jwt_max_hours=72)
    assert TokenVerifier(longer).verify(signed({"roles": ["secretary"], **three_days}, longer)).id == "s-1"


def test_without_a_jti_a_token_is_refused_where_the_settings_require_one() -> None:
    strict = Settings(jwt_secret="unit-test-secret-of-enough-length-000000", jwt_require_jti=True)
    with pytest.raises(jwt.MissingRequiredClaimError, match="jti"):
        TokenVerifier(strict).verify(signed({}, strict))
    assert TokenVerifier(strict).verify(signed({"jti": "j-1"}, strict)).id == "s-1"
    assert TokenVerifier(SETTINGS).verify(signed({})).id == "s-1"  # not required by default


def test_issued_tokens_carry_a_jti_and_never_outlive_the_limit() -> None:
    one = issue_token(SETTINGS, subject="s", roles=["secretary"], scope="yuhang")
    two = issue_token(SETTINGS, subject="s", roles=["secretary"], scope="yuhang")
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in (one, two)}
    assert len(jtis) == 2
    assert revocation_key(one) != revocation_key(two)
    with pytest.raises(InvalidCommand, match=r"at most 12 h \(FOURLINKS_JWT_MAX_HOURS\); asked for 13 h"):
        issue_token(SETTINGS, subject="s", roles=["secretary"], scope="yuhang", lifetime=timedelta(hours=13))
    link = issue_token(
        SETTINGS, subject="h", roles=["resident"], scope="yuhang", lifetime=timedelta(hours=72)
    )
    assert TokenVerifier(SETTINGS).verify(link).id == "h"


async def test_a_revoked_token_is_refused_though_its_check_was_remembered(nc: Client) -> None:
    bucket = f"T_REVOKED_{uuid.uuid4().hex[:8]}"
    await nc.jetstream().create_key_value(KeyValueConfig(bucket=bucket, history=1))
    following = await RevokedTokens.open(nc, bucket)
    task = asyncio.create_task(following.follow())
    try:
        token = issue_token(SETTINGS, subject="m-1", roles=["member"], scope="yuhang")
        other = issue_token(SETTINGS, subject="m-1", roles=["member"], scope="yuhang")
        async with service(revoked=following) as client:
            assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
            assert await RevokedTokens(nc, bucket).revoke(token)  # the console, at sign-out

            async def refused() -> httpx.Response | None:
                for _ in range(100):
                    reply = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
                    if reply.status_code == 401:
                        return reply
                    await asyncio.sleep(0.05)
                return None

            reply = await refused()
            assert reply is not None, "the revocation did not reach the service"
            assert "revoked" in reply.json()["detail"]
            other_reply = await client.get("/me", headers={"Authorization": f"Bearer {other}"})
            assert other_reply.status_code == 200  # another session of the same person
        late = await RevokedTokens.open(nc, bucket)  # a process started after the sign-out
        with pytest.raises(TokenRevoked):
            TokenVerifier(SETTINGS).verify(token, late)
    finally:
        task.cancel()
        await nc.jetstream().delete_key_value(bucket)


async def test_without_its_bucket_a_service_still_starts_and_revokes_nothing(nc: Client) -> None:
    missing = await RevokedTokens.open(nc, "T_NO_SUCH_BUCKET")
    token = issue_token(SETTINGS, subject="m-1", roles=["member"], scope="yuhang")
    assert TokenVerifier(SETTINGS).verify(token, missing).id == "m-1"
    assert not await missing.revoke(token)
