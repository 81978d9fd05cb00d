"""The console's edges without the services: sign-in first, CSRF on every form, security headers,
its own assets, the locale cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fourlinks_console.app import create_app
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.settings import Settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleSettings(), Settings(var_dir=tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        yield client


async def test_pages_send_a_stranger_to_sign_in_and_keep_where_they_were_going(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/tasks?unit=yuhang")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Ftasks%3Funit%3Dyuhang"
    page = await client.get("/signin")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "尚未配置登录方式" in page.text  # neither the identity provider nor local sign-in is on


async def test_every_form_needs_the_sessions_csrf_token(client: httpx.AsyncClient) -> None:
    for path in ("/signout", "/signin/local", "/tasks/new", "/coverage/cards"):
        refused = await client.post(path, data={"csrf_token": "forged"})
        assert refused.status_code in (403, 303), (path, refused.status_code)
    refused = await client.post("/signout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert "表单已过期" in refused.text


async def test_answers_carry_security_headers_and_assets_come_from_the_console(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/signin")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/console.css", "/static/console.js", "/static/vendor/htmx-2.0.11.min.js"):
        assert (await client.get(asset)).status_code == 200, asset
    assert "http://" not in page.text.replace("http://console.test", "")
    assert "https://" not in page.text


async def test_the_locale_switch_sets_a_cookie_and_returns_to_the_page(client: httpx.AsyncClient) -> None:
    switched = await client.get("/locale/en", params={"next": "/signin"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/signin"
    page = await client.get("/signin")
    assert '<html lang="en">' in page.text
    assert ">Sign in<" in page.text
    elsewhere = await client.get("/locale/en", params={"next": "https://example.org"})
    assert elsewhere.headers["location"] == "/"


async def test_a_form_larger_than_the_limit_is_refused_unread(client: httpx.AsyncClient) -> None:
    refused = await client.post("/signout", data={"csrf_token": "x", "note": "x" * 300_000})
    assert refused.status_code == 413
    assert "提交的内容超过了 262144 字节的上限" in refused.text  # the limit, in Chinese only
    assert "larger than" not in refused.text
