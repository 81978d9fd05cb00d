"""One rebuild for all: `replay rebuild --all` reads the log once (the server says so, connection by
connection) and gives every service the read models a rebuild of that service alone gives
(SQLite, and PostgreSQL when DATABASE_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import ADMIN, District, a_problem_assigned, decided, renames, work_and_close

from fourlinks_audit import digest, parallel, replay
from fourlinks_audit.services import READ_MODELS, projections_of
from fourlinks_kernel.envelope import CommandContext
from fourlinks_kernel.store import EventStore
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_runtime.embedded import NatsEndpoint
from fourlinks_runtime.engines import create_engine
from fourlinks_runtime.settings import async_database_url

SERVICES = list(READ_MODELS)
RENAMES = 150  # many more events than keys, so a worker that read the log would show it


@pytest.mark.parametrize("workers", [False, True], ids=["one_process", "workers"])
async def test_rebuilding_every_service_at_once_reads_the_log_once_and_equals_each_rebuilt_alone(
    district: District, nats_server: NatsEndpoint, tmp_path: Any, workers: bool
) -> None:
    d = district
    member, _, _, task_id = await a_problem_assigned(d)
    await work_and_close(d, task_id, member, accept=True)
    store = d.runtime(d.members).store
    await many_renames(store)
    events = await store.last_position()
    async with databases(d, tmp_path, "alone") as alone, databases(d, tmp_path, "together") as together:
        for service in SERVICES:
            await replay.rebuild_service(
                d.settings,
                service,
                store=replay.ordered_reads(store),
                database_url=alone.replace("{service}", service),
                progress=False,
            )
        seen = await connection_ids(nats_server)
        code, summary = await parallel.rebuild_all(
            d.settings, SERVICES, database_url=together, resume=False, progress=False, workers=workers
        )
        assert code == 0, summary
        delivered = await messages_delivered(nats_server, after=seen)
        for service in SERVICES:
            assert await tables(together, service) == await tables(alone, service), service
    # The reader got every event once (and a few API answers and keys); each worker only the key
    # table and API answers: far fewer messages than the log holds.
    assert events <= delivered[parallel.READER] < events + 50, delivered
    helpers = {f"{parallel.READER}-{service}" for service in SERVICES} if workers else set()
    assert set(delivered) == {parallel.READER, *helpers}
    for helper in helpers:
        assert delivered[helper] < events / 2, (helper, delivered)
    assert "from one read of the log" in summary


async def many_renames(store: EventStore) -> None:
    street = unit_id_for("yuhang/nanyuan")
    for n in range(RENAMES):
        await decided(store, OrgUnit, street, renames(f"南苑{n}"), CommandContext.new(ADMIN))


@asynccontextmanager
async def databases(d: District, tmp_path: Any, name: str) -> AsyncIterator[str]:
    """A database URL with {service} in it: SQLite files, or PostgreSQL databases when the
    district's read models are on PostgreSQL (dropped afterwards)."""
    if not (d.settings.database_url or "").startswith("postgresql"):
        yield f"sqlite:///{tmp_path}/{name}-{{service}}.db"
        return
    prefix = f"t_{uuid.uuid4().hex[:8]}_{name}"
    admin = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:
        for service in SERVICES:
            await admin.execute(f'CREATE DATABASE "{prefix}_{service}"')
        base = async_database_url(os.environ["DATABASE_URL"]).rpartition("/")[0]
        yield f"{base}/{prefix}_{{service}}"
    finally:
        for service in SERVICES:
            await admin.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
        await admin.close()


async def tables(template: str, service: str) -> dict[str, tuple[int, str]]:
    """Row count and content digest of every table of a service's rebuilt read models."""
    engine = create_engine(async_database_url(template.replace("{service}", service)))
    try:
        found: dict[str, tuple[int, str]] = {}
        for factory in projections_of(service):
            found.update(await digest.table_digests(engine, factory().metadata))
        return found
    finally:
        await engine.dispose()


async def connection_ids(server: NatsEndpoint) -> int:
    """The highest client id the server has handed out so far."""
    return max((c["cid"] for c in await _connections(server)), default=0)


async def messages_delivered(server: NatsEndpoint, *, after: int) -> dict[str, int]:
    """Messages the server sent to each rebuild connection opened after client id `after`."""
    return {
        c["name"]: c["out_msgs"]
        for c in await _connections(server)
        if c["cid"] > after and c.get("name", "").startswith(parallel.READER)
    }


async def _connections(server: NatsEndpoint) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{server.monitor_url}/connz", params={"state": "any", "limit": 100_000})
    connections: list[dict[str, Any]] = reply.json()["connections"]
    return connections
