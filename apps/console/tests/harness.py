"""The console in a test, in front of services faked by one function: built, and signed in as a
local person, the way every page test starts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from fourlinks_console.app import create_app
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.settings import Settings

Answer = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def console_before(tmp_path: Path, answer: Answer, **more: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's client of the console whose services answer with `answer` (no one signed in);
    `more`: settings of its own (a province's console: `province_url`)."""
    runtime = Settings(var_dir=tmp_path, jwt_secret="jwt-secret-for-the-console-tests-000000")
    settings = ConsoleSettings(
        local_signin=True, session_secret="console-test-secret-of-enough-length-0000", **more
    )
    app = create_app(settings, runtime)
    transport = httpx.MockTransport(answer)
    app.state.services = Services(settings, transport=transport, metrics=app.state.metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, form: dict[str, str], path: str = "/signin/local") -> None:
    """Sign in through the page a person uses (its CSRF token first)."""
    page = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    signed = await client.post(path, data={"csrf_token": token[1], **form})
    assert signed.status_code == 303, signed.text


@asynccontextmanager
async def signed_in_console(
    tmp_path: Path, answer: Answer, who: str, **more: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The console with `who` (e.g. "secretary:yuhang", "province:330000") signed in locally."""
    async with console_before(tmp_path, answer, **more) as client:
        await sign_in(client, {"who": who})
        yield client
