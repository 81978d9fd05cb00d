"""Fixtures shared by every test: a real nats-server from the pinned wheel, real databases."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import ProvisionOptions, provision
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.service import create_engine
from fourlinks_runtime.settings import Settings, async_database_url

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One pinned nats-server (JetStream, sync_interval: always) for the whole run."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    """A connection to the test server."""
    client = await connect(Settings(nats_url=nats_server.url), name="tests")
    yield client
    await client.close()


@pytest.fixture
async def jetstream_settings(nc: Client, nats_server: EmbeddedNats) -> JetStreamSettings:
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
