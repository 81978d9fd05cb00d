"""Tokens and scopes."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fourlinks_kernel.access import scope_covers
from fourlinks_runtime.auth import TokenVerifier, issue_token
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


def test_a_verified_token_is_remembered_until_it_expires_and_no_longer() -> None:
    verifier = TokenVerifier(SETTINGS)
    lifetime = timedelta(seconds=1.5)
    token = issue_token(SETTINGS, subject="m-1", roles=["member"], scope="yuhang", lifetime=lifetime)
    assert verifier.verify(token).id == "m-1"
    assert verifier.verify(token).id == "m-1"  # from memory: the same actor
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        verifier.verify(tampered)  # another string: verified in full
    time.sleep(2.0)
    with pytest.raises(jwt.ExpiredSignatureError):
        verifier.verify(token)  # expired while remembered: verified again, and refused


def test_a_scope_covers_its_unit_and_what_lies_under_it_only() -> None:
    assert scope_covers("yuhang", "yuhang")
    assert scope_covers("yuhang", "yuhang/nanyuan/xinghe")
    assert not scope_covers("yuhang/nanyuan", "yuhang")
    assert not scope_covers("yuhang/nan", "yuhang/nanyuan")
    assert not scope_covers("", "yuhang")


def test_rs256_tokens_are_verified_against_the_jwks_endpoint() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *_: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(jwt_algorithm="RS256", jwt_jwks_url=f"http://127.0.0.1:{server.server_port}/jwks")
        now = datetime.now(UTC)
        claims = {
            "sub": "inspector-1",
            "roles": ["inspector"],
            "scope": "yuhang",
            "iss": "fourlinks",
            "aud": "fourlinks",
            "iat": now,
            "exp": now + timedelta(minutes=5),
        }
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        assert TokenVerifier(settings).verify(token).roles == ("inspector",)
        hs_forgery = issue_token(
            Settings(jwt_secret="x" * 40), subject="s", roles=["administrator"], scope="yuhang"
        )
        with pytest.raises(jwt.InvalidTokenError):
            TokenVerifier(settings).verify(hs_forgery)
    finally:
        server.shutdown()
