"""Signing out ends the session everywhere (issue 32, finding 6): the console and three services on
one NATS. A resident's link asks before it signs in; once the resident signs out, a copy of their
cookie opens nothing, and their token (the link's) is refused by the services; tokens that would
live for a century are refused, and `fourlinks token` will not issue one longer than allowed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from conftest import COMMUNITY, District, community_with_a_covered_household, eventually
from nats.js.kv import KeyValue

from fourlinks_cli.cli import main as fourlinks
from fourlinks_console.app import SESSION_COOKIE
from fourlinks_console.app import create_app as console_app
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.natsconn import connect

SECRET = "console-test-secret-of-enough-length-0000"


class Route(httpx.AsyncBaseTransport):
    """The console's calls to each service, to that service's app in this process."""

    def __init__(self, district: District) -> None:
        self._to: dict[str, httpx.AsyncBaseTransport] = {
            name: getattr(district, name)._transport for name in ("members", "assignments", "feedback")
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._to[request.url.host].handle_async_request(request)


@dataclass
class Console:
    browser: httpx.AsyncClient
    district: District
    sessions: KeyValue

    def copy(self) -> httpx.AsyncClient:
        copied = httpx.AsyncClient(transport=self.browser._transport, base_url="http://console.test")
        copied.cookies.set(SESSION_COOKIE, self.browser.cookies[SESSION_COOKIE])
        return copied


@pytest.fixture
async def console(district: District) -> AsyncIterator[Console]:
    settings = ConsoleSettings(
        session_store="nats",
        session_secret=SECRET,
        members_url="http://members",
        assignments_url="http://assignments",
        feedback_url="http://feedback",
    )
    app = console_app(settings, district.settings)
    app.state.services = Services(settings, transport=Route(district))
    nc = await connect(district.settings, name="tests-console-sessions")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as browser,
    ):
        sessions = await nc.jetstream().key_value(district.settings.console_sessions_bucket)
        yield Console(browser, district, sessions)
    await app.state.services.aclose()
    await nc.close()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found[1]


async def test_a_signed_out_residents_copied_cookie_and_token_open_nothing(console: Console) -> None:
    d = console.district
    _, household = await community_with_a_covered_household(d)
    token = issue_token(
        d.settings, subject=household, roles=["resident"], scope=COMMUNITY, lifetime=timedelta(hours=72)
    )
    browser = console.browser

    asked = await browser.get("/r", params={"t": token})
    assert asked.status_code == 200
    assert "以住户身份登录" in asked.text
    assert (await browser.get("/r/feedback")).status_code == 401  # the link alone signed nobody in
    signed = await browser.post("/r", data={"t": token, "csrf_token": csrf_of(asked)})
    assert signed.status_code == 303
    mine = await browser.get("/r/feedback")
    assert mine.status_code == 200

    cookie = browser.cookies[SESSION_COOKIE]
    assert token not in cookie
    assert "eyJ" not in cookie
    kept = [(await console.sessions.get(key)).value or b"" for key in await console.sessions.keys()]
    assert not any(token.encode() in value or household.encode() in value for value in kept)

    async with console.copy() as thief:
        assert (await thief.get("/r/feedback")).status_code == 200  # a copy works while it lives
        out = await browser.post("/signout", data={"csrf_token": csrf_of(mine)})
        assert out.status_code == 303
        assert (await thief.get("/r/feedback")).status_code == 401  # and not a moment after
    assert (await browser.get("/r/feedback")).status_code == 401

    async def refused_by_the_service() -> bool:
        reply = await d.feedback.get("/feedback", headers={"Authorization": f"Bearer {token}"})
        return reply.status_code == 401 and "revoked" in reply.json()["detail"]

    assert await eventually(refused_by_the_service, timeout=10)
    for client, path in ((d.members, "/org-units"), (d.assignments, "/tasks")):  # every service
        reply = await client.get(
            path, params={"unit": COMMUNITY}, headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code == 401, reply.text
    again = await browser.get("/r", params={"t": token})  # the text's link no longer works either
    assert again.status_code == 401
    assert "链接已失效" in again.text
    other_household = d.token("resident", household)  # a new link for the same household does
    assert (await d.feedback.get("/feedback", headers=other_household)).status_code == 200


async def test_a_token_for_a_hundred_years_is_refused_by_every_service(district: District) -> None:
    d = district
    now = datetime.now(UTC)
    claims = {
        "sub": "administrator-forever",
        "roles": ["administrator"],
        "scope": "yuhang",
        "iss": d.settings.jwt_issuer,
        "aud": d.settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(days=36_525),
        "jti": "forever",
    }
    century = {
        "Authorization": f"Bearer {jwt.encode(claims, d.settings.jwt_secret_value(), algorithm='HS256')}"
    }
    for client, path in ((d.members, "/org-units"), (d.assignments, "/tasks"), (d.feedback, "/feedback")):
        reply = await client.get(path, params={"unit": "yuhang"}, headers=century)
        assert reply.status_code == 401, (path, reply.text)
        assert "a token may live at most 12 h (FOURLINKS_JWT_MAX_HOURS)" in reply.json()["detail"]


def test_fourlinks_token_refuses_hours_beyond_the_limit_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("FOURLINKS_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FOURLINKS_JWT_SECRET", "cli-test-secret-of-enough-length-000000")
    asked = ["token", "--role", "secretary", "--scope", "yuhang", "--hours"]
    assert fourlinks([*asked, "100"]) == 1
    said = capsys.readouterr()
    assert said.out == ""
    assert (
        said.err
        == "fourlinks token: a token may live at most 12 h (FOURLINKS_JWT_MAX_HOURS); asked for 100 h\n"
    )
    assert fourlinks([*asked, "12"]) == 0
    assert fourlinks(["token", "--role", "resident", "--scope", "yuhang", "--hours", "72"]) == 0  # a link
