"""Every endpoint of every service refuses a request without a valid token: none, forged, expired."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from conftest import District

from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

PUBLIC = {"/health/live", "/health/ready", "/metrics", "/asyncapi.json", "/asyncapi", "/service-matters"}


def operations(client: httpx.AsyncClient, schema: dict[str, object]) -> list[tuple[str, str]]:
    found = []
    for path, methods in schema["paths"].items():  # type: ignore[attr-defined]
        if path in PUBLIC:
            continue
        for method in methods:
            found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


@pytest.fixture
async def everything(district: District) -> list[tuple[httpx.AsyncClient, str, str]]:
    calls = []
    for client in (district.members, district.assignments, district.feedback):
        schema = (await client.get("/openapi.json")).json()
        calls += [(client, method, path) for method, path in operations(client, schema)]
    return calls


async def test_no_endpoint_answers_without_a_valid_token(
    everything: list[tuple[httpx.AsyncClient, str, str]], district: District
) -> None:
    expired = issue_token(
        district.settings,
        subject="s",
        roles=["administrator"],
        scope="yuhang",
        lifetime=timedelta(seconds=-1),
    )
    forged = issue_token(
        Settings(jwt_secret="someone-else-entirely-000000000000000"),
        subject="s",
        roles=["administrator"],
        scope="yuhang",
    )
    assert len(everything) > 60
    for client, method, path in everything:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": f"Bearer {expired}"}):
            reply = await client.request(method, path, json={}, headers=headers)
            assert reply.status_code == 401, (
                f"{method} {path} with {headers or 'no token'}: {reply.status_code}"
            )
