"""A service is ready only once its hot queries ran: the first card, dashboard and coverage a
secretary opens compile no SQL (every statement they run is found in SQLAlchemy's cache)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import bearer, running, wait_ready
from sqlalchemy import event, select
from sqlalchemy.engine.interfaces import CacheStats

from fourlinks_members.bootstrap import create_app
from fourlinks_members.projections.directory import households
from fourlinks_members.seed import seed_district
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.warm import UNROUTED, WARMING, warming


async def test_the_first_requests_after_start_compile_no_sql(service_settings: Settings) -> None:
    await seed_district(service_settings, district="yuhang", scale=0.004, seed=3)
    async with running(create_app(service_settings)) as client:
        assert (await wait_ready(client, timeout=60)).status_code == 200
        runtime: ServiceRuntime = client._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.engine.connect() as conn:
            household, member = (
                await conn.execute(
                    select(households.c.household_id, households.c.member_id)
                    .where(households.c.card_id.is_not(None))
                    .limit(1)
                )
            ).one()
        caching: list[CacheStats] = []

        def seen(_: Any, __: Any, statement: str, ___: Any, context: Any, ____: bool) -> None:
            if "projection_checkpoints" not in statement:  # readiness reads checkpoints, not queries
                caching.append(context.cache_hit)

        event.listen(runtime.engine.sync_engine, "after_cursor_execute", seen)
        headers = bearer(service_settings, "secretary", scope="yuhang")
        for path in (
            f"/households/{household}/card",
            f"/members/{member}/dashboard",
            "/coverage",
            "/coverage/below",
        ):
            reply = await client.get(path, headers=headers)
            assert reply.status_code == 200, reply.text
        event.remove(runtime.engine.sync_engine, "after_cursor_execute", seen)
    assert len(caching) >= 8  # the pages ran their queries...
    assert set(caching) == {CacheStats.CACHE_HIT}  # ...each compiled at start


async def test_the_path_the_warm_up_asks_is_routed_nowhere(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        reply = await client.get(UNROUTED)
    assert reply.status_code == 404  # matched against every router, taken by none
    assert json.loads(reply.text)  # answered as any unknown path is, in JSON


async def test_readiness_waits_for_the_warm_up_and_only_while_it_runs() -> None:
    assert warming(None) == []
    running_task = asyncio.create_task(asyncio.Event().wait())
    assert warming(running_task) == [WARMING]
    running_task.cancel()
    await asyncio.gather(running_task, return_exceptions=True)
    assert warming(running_task) == []
