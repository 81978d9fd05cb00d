"""Sign-in through an identity provider: the authorization code flow with PKCE against a small
OpenID Connect provider run on loopback for the test (signed ID tokens, a JWKS, a code that
works once and only with the verifier of its challenge)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from fourlinks_console.app import create_app
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.settings import Settings

CLIENT_ID = "fourlinks-console"
CLIENT_SECRET = "console-secret-for-the-test"


@dataclass
class Provider:
    """An OpenID Connect provider that signs in one person without asking (the test's user)."""

    issuer: str
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    pkce_checked: list[bool] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        app.get("/.well-known/openid-configuration")(self.metadata)
        app.get("/authorize")(self.authorize)
        app.post("/token")(self.token)
        app.get("/jwks")(self.jwks)
        return app

    async def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    async def authorize(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
        code_challenge_method: str,
    ) -> RedirectResponse:
        if client_id != CLIENT_ID or code_challenge_method != "S256":
            raise HTTPException(400, "unknown client or no PKCE")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": code_challenge, "nonce": nonce, "redirect_uri": redirect_uri}
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    async def token(
        self,
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(),
    ) -> dict[str, Any]:
        client_id, _, client_secret = _basic_credentials(request.headers.get("authorization", ""))
        issued = self.codes.pop(code, None)  # a code works once
        if grant_type != "authorization_code" or issued is None or redirect_uri != issued["redirect_uri"]:
            raise HTTPException(400, "invalid_grant")
        verified = (
            base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        )
        self.pkce_checked.append(verified == issued["challenge"])
        if verified != issued["challenge"] or client_secret != CLIENT_SECRET:
            raise HTTPException(400, "invalid_grant")
        now = int(time.time())
        id_claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": issued["nonce"],
        }
        signed = jwt.encode({**id_claims, **self.claims}, self.key, algorithm="RS256", headers={"kid": "k1"})
        access = jwt.encode({"sub": self.claims["sub"], "exp": now + 300}, self.key, algorithm="RS256")
        return {"access_token": access, "id_token": signed, "token_type": "Bearer", "expires_in": 300}

    async def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}


def _basic_credentials(header: str) -> tuple[str, str, str]:
    """client_secret_basic: the client's id and secret in the Authorization header."""
    if not header.startswith("Basic "):
        return "", ":", ""
    return base64.b64decode(header[6:]).decode().partition(":")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    port = free_port()
    running = Provider(issuer=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(running.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test's identity provider did not start"
        time.sleep(0.05)
    yield running
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def console(provider: Provider, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsoleSettings(
        oidc_discovery_url=f"{provider.issuer}/.well-known/openid-configuration",
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )
    app = create_app(settings, Settings(var_dir=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        yield client


async def sign_in_through(console: httpx.AsyncClient, next_page: str = "/coverage") -> httpx.Response:
    """What a browser does: to the provider and back with the code."""
    to_provider = await console.get("/signin/oidc", params={"next": next_page})
    assert to_provider.status_code == 302, to_provider.text
    asked = parse_qs(urlsplit(to_provider.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["client_id"] == [CLIENT_ID]
    async with httpx.AsyncClient() as browser:
        back = await browser.get(to_provider.headers["location"])
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["location"])
    assert callback.path == "/signin/oidc/callback"
    return await console.get(f"{callback.path}?{callback.query}")


async def test_a_person_signs_in_with_pkce_and_their_roles_and_scope_come_from_the_claims(
    console: httpx.AsyncClient, provider: Provider
) -> None:
    provider.claims = {
        "sub": "idp-user-7",
        "name": "社区书记",
        "fourlinks_roles": ["secretary"],
        "fourlinks_scope": "yuhang/s01/c001",
    }
    signed = await sign_in_through(console)
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/coverage"
    assert provider.pkce_checked[-1] is True
    page = await console.get("/signin")
    assert '<span class="pd">社区书记</span> · 书记' in page.text  # the header names the person and role
    assert "yuhang/s01/c001" not in page.text  # never their scope's path


async def test_an_account_without_roles_is_refused_with_a_reason_and_stays_signed_out(
    console: httpx.AsyncClient, provider: Provider
) -> None:
    provider.claims = {"sub": "idp-user-8", "name": "访客"}
    refused = await sign_in_through(console)
    assert refused.status_code == 403
    assert "no Four Links roles or scope" in refused.text
    assert (await console.get("/coverage")).status_code == 303


async def test_a_forged_callback_is_refused(console: httpx.AsyncClient) -> None:
    await console.get("/signin/oidc")
    forged = await console.get("/signin/oidc/callback", params={"code": "made-up", "state": "made-up"})
    assert forged.status_code == 401
    assert (await console.get("/coverage")).status_code == 303
