"""Sessions that end: the cookie holds a random id, never the token; signing out deletes the
session at once and revokes its token; idle and absolute limits; a resident's link asks first and
signs in by a form, never silently replacing another person's session."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from fourlinks_console.app import SESSION_COOKIE, create_app, knows_nats
from fourlinks_console.services import Services
from fourlinks_console.sessions import SESSION_ID, MemorySessions, NatsSessions, Sessions, SessionStore
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import UpState, write_state

SECRET = "console-test-secret-of-enough-length-0000"
HOUSEHOLD = "h-0001"


@dataclass
class Revocations:
    """What sign-out revoked (the services' list, as the console writes it)."""

    tokens: list[str] = field(default_factory=list)

    async def revoke(self, token: str) -> bool:
        self.tokens.append(token)
        return True


@dataclass
class Console:
    app: FastAPI
    runtime: Settings
    revoked: Revocations
    refused_tokens: set[str] = field(default_factory=set)

    @property
    def sessions(self) -> Sessions:
        sessions: Sessions = self.app.state.sessions
        return sessions

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://console.test")

    def resident_link_token(self, household: str = HOUSEHOLD) -> str:
        return issue_token(self.runtime, subject=household, roles=["resident"], scope="yuhang/a/b")


def services_answering(console: Console) -> httpx.MockTransport:
    """The members and feedback services as far as these pages ask them."""

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in console.refused_tokens:
            return httpx.Response(401, json={"detail": "the bearer token is not valid: revoked"})
        if request.url.path == "/org-units":
            return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
        return httpx.Response(200, json={"items": [], "total": 0})

    return httpx.MockTransport(answer)


@pytest.fixture
def console(tmp_path: Path) -> Console:
    runtime = Settings(var_dir=tmp_path, jwt_secret="jwt-secret-for-the-console-tests-000000")
    settings = ConsoleSettings(local_signin=True, session_secret=SECRET)
    app = create_app(settings, runtime)
    made = Console(app, runtime, Revocations())
    app.state.services = Services(settings, transport=services_answering(made))
    app.state.revocations = made.revoked
    return made


@pytest.fixture
async def browser(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    async with console.client() as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found[1]


async def sign_in_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    signed = await client.post("/signin/local", data={"csrf_token": csrf_of(page), "who": "secretary:yuhang"})
    assert signed.status_code == 303, signed.text


async def signed_in_as(client: httpx.AsyncClient) -> str | None:
    """Who the page header names (a public page: it asks no service)."""
    found = re.search(r'<span class="person">(.*?)</span>\n', (await client.get("/follow")).text)
    return found[1] if found else None


async def is_signed_in(client: httpx.AsyncClient) -> bool:
    return await signed_in_as(client) is not None


async def sign_out(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    assert (await client.post("/signout", data={"csrf_token": csrf_of(page)})).status_code == 303


async def test_the_cookie_holds_a_random_id_and_never_the_token(
    browser: httpx.AsyncClient, console: Console
) -> None:
    await sign_in_locally(browser)
    assert await is_signed_in(browser)
    (cookie,) = [c for c in browser.cookies.jar if c.name == SESSION_COOKIE]
    assert cookie.value is not None
    assert SESSION_ID.fullmatch(cookie.value)
    assert "eyJ" not in cookie.value  # neither a JWT nor base64 JSON
    assert cookie.has_nonstandard_attr("HttpOnly")


async def test_a_copied_cookie_opens_nothing_once_its_person_signs_out(
    browser: httpx.AsyncClient, console: Console
) -> None:
    await sign_in_locally(browser)
    async with console.client() as thief:
        thief.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
        assert await is_signed_in(thief)  # a copy works while the session lives ...
        await sign_out(browser)
        assert not await is_signed_in(thief)  # ... and not a moment after
        assert not await is_signed_in(browser)
    (revoked,) = console.revoked.tokens  # and the session's token is revoked at every service
    assert revoked.count(".") == 2


async def test_a_session_ends_after_its_idle_time_and_after_its_absolute_limit(
    browser: httpx.AsyncClient, console: Console
) -> None:
    now = [1_000_000.0]
    console.sessions.clock = lambda: now[0]
    await sign_in_locally(browser)
    now[0] += 50 * 60
    assert await is_signed_in(browser)
    now[0] += 61 * 60  # an hour without a request
    assert not await is_signed_in(browser)

    await sign_in_locally(browser)
    started = now[0]
    while now[0] - started < 8 * 3600:
        now[0] += 30 * 60
        assert await is_signed_in(browser)  # busy all day: a request every half hour
    now[0] += 30 * 60
    assert not await is_signed_in(browser)  # eight hours after signing in, whatever happens


async def test_a_residents_link_asks_first_and_signs_in_only_by_the_form(
    browser: httpx.AsyncClient, console: Console
) -> None:
    token = console.resident_link_token()
    page = await browser.get("/r", params={"t": token})
    assert page.status_code == 200
    assert "以住户身份登录" in page.text
    assert '<form method="post" action="/r"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert (await browser.get("/r/feedback")).status_code == 401  # opening the link signed nobody in

    refused = await browser.post("/r", data={"t": token, "csrf_token": "forged"})
    assert refused.status_code == 403
    signed = await browser.post("/r", data={"t": token, "csrf_token": csrf_of(page)})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/r/feedback"
    mine = await browser.get("/r/feedback")
    assert mine.status_code == 200
    assert "我的反映" in mine.text or "My feedback" in mine.text

    again = await browser.get("/r", params={"t": console.resident_link_token()})
    assert again.status_code == 303  # the same household, signed in already: nothing to ask


async def test_a_residents_link_names_whoever_is_signed_in_and_replaces_them_only_when_asked(
    browser: httpx.AsyncClient, console: Console
) -> None:
    await sign_in_locally(browser)
    token = console.resident_link_token()
    page = await browser.get("/r", params={"t": token})
    assert page.status_code == 200
    assert "此浏览器上已有其他人登录" in page.text
    assert "余杭区" in page.text  # who: the secretary signed in
    assert 'name="replace" value="yes"' in page.text

    kept = await browser.post("/r", data={"t": token, "csrf_token": csrf_of(page)})  # not asked
    assert kept.status_code == 409
    assert await is_signed_in(browser)
    assert console.revoked.tokens == []

    replaced = await browser.post("/r", data={"t": token, "csrf_token": csrf_of(page), "replace": "yes"})
    assert replaced.status_code == 303
    assert (await browser.get("/r/feedback")).status_code == 200
    assert "居民" in str(await signed_in_as(browser))  # the household (a resident), no longer the secretary
    assert len(console.revoked.tokens) == 1  # the secretary's session ended with its token


async def test_a_link_the_services_refuse_signs_nobody_in(
    browser: httpx.AsyncClient, console: Console
) -> None:
    token = console.resident_link_token()
    console.refused_tokens.add(token)  # revoked at sign-out, or expired
    page = await browser.get("/r", params={"t": token})
    assert page.status_code == 401
    assert "链接已失效" in page.text
    staff = issue_token(console.runtime, subject="s", roles=["secretary"], scope="yuhang")
    assert (await browser.get("/r", params={"t": staff})).status_code == 401  # not a household's link
    assert (await browser.get("/r", params={"t": "x" * 40})).status_code == 401


async def test_sessions_kept_in_nats_are_sealed_and_shared_by_every_replica(
    console: Console, tmp_path: Path, nc: Client
) -> None:
    bucket = f"T_SESSIONS_{uuid.uuid4().hex[:8]}"
    kv = await nc.jetstream().create_key_value(KeyValueConfig(bucket=bucket, history=1))
    other = create_app(ConsoleSettings(local_signin=True, session_secret=SECRET), console.runtime)
    other.state.services = console.app.state.services
    store = await NatsSessions.open(nc, bucket)
    for app in (console.app, other):
        app.state.sessions.store = store
    try:
        async with (
            console.client() as first,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=other), base_url="http://console.test"
            ) as second,
        ):
            await sign_in_locally(first)
            second.cookies.set(SESSION_COOKIE, first.cookies[SESSION_COOKIE])
            assert await is_signed_in(second)  # the other replica knows the session
            stored = [(await kv.get(key)).value or b"" for key in await kv.keys()]
            assert stored
            assert not any(b"eyJ" in value or b"secretary" in value for value in stored)  # sealed
            await sign_out(second)
            assert not await is_signed_in(first)
        await a_request_running_at_sign_out_brings_nothing_back(store)
    finally:
        await nc.jetstream().delete_key_value(bucket)


async def a_request_running_at_sign_out_brings_nothing_back(store: SessionStore) -> None:
    now = [1_000_000.0]
    sessions = Sessions(store, SECRET, 3600, 8 * 3600, SESSION_COOKIE, secure=False, clock=lambda: now[0])
    signing_in = await sessions.begin(None)
    signing_in.renew()
    signing_in.data["person"] = {"id": "s-1"}
    await sessions.finish(signing_in)
    slow = await sessions.begin(signing_in.id)  # a page still loading, or an htmx refresh
    assert slow.data == {"person": {"id": "s-1"}}
    out = await sessions.begin(signing_in.id)
    out.renew()  # sign-out
    await sessions.finish(out)
    now[0] += 5 * 60  # the slow request marks the session seen on its way out
    await sessions.finish(slow)
    assert (await sessions.begin(signing_in.id)).data == {}


async def test_a_request_running_at_sign_out_does_not_bring_the_session_back() -> None:
    await a_request_running_at_sign_out_brings_nothing_back(MemorySessions())


def test_sessions_go_to_nats_where_the_console_knows_one_and_stay_in_memory_elsewhere(tmp_path: Path) -> None:
    auto = ConsoleSettings()
    assert not knows_nats(auto, Settings(var_dir=tmp_path))  # docker compose's console: no NATS named
    assert knows_nats(auto, Settings(var_dir=tmp_path, nats_url="nats://nats-1:4222"))
    assert knows_nats(ConsoleSettings(session_store="nats"), Settings(var_dir=tmp_path))
    write_state(tmp_path, UpState(pid=1, nats_port=4999, monitor_port=8999))
    assert knows_nats(auto, Settings(var_dir=tmp_path))  # the one `fourlinks up` runs on this var dir
