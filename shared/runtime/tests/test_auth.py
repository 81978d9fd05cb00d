"""Tokens and scopes."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from fourlinks_runtime.auth import TokenVerifier, issue_token, scope_covers
from fourlinks_runtime.settings import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-of-enough-length-000000")


def test_a_valid_token_names_the_actor_with_roles_and_scope() -> None:
    token = issue_token(SETTINGS, subject="sec-1", roles=["secretary"], scope="yuhang/nanyuan")
    actor = TokenVerifier(SETTINGS).verify(token)
    assert (actor.id, actor.roles, actor.scope) == ("sec-1", ("secretary",), "yuhang/nanyuan")


def test_expired_and_forged_tokens_are_refused() -> None:
    expired = issue_token(
        SETTINGS, subject="s", roles=["member"], scope="yuhang", lifetime=timedelta(seconds=-5)
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        TokenVerifier(SETTINGS).verify(expired)
    other = Settings(jwt_secret="another-secret-of-enough-length-1111111")
    forged = issue_token(other, subject="s", roles=["administrator"], scope="yuhang")
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(SETTINGS).verify(forged)


def test_a_scope_covers_its_unit_and_what_lies_under_it_only() -> None:
    assert scope_covers("yuhang", "yuhang")
    assert scope_covers("yuhang", "yuhang/nanyuan/xinghe")
    assert not scope_covers("yuhang/nanyuan", "yuhang")
    assert not scope_covers("yuhang/nan", "yuhang/nanyuan")
    assert not scope_covers("", "yuhang")
