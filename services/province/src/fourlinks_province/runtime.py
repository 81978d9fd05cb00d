"""The running province service: its NATS connection, read-model engine and follower, started
and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_province.adapters.follower import Follower
from fourlinks_province.settings import Districts, ProvinceSettings
from fourlinks_runtime.auth import RevokedTokens
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.metrics import ServiceMetrics
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
SERVICE = "province"
SHUTDOWN_SECONDS = 5.0
INFO_TIMEOUT_SECONDS = 2.0


@dataclass
class ProvinceRuntime:
    """The live parts of the province service (`request.app.state.runtime`)."""

    settings: Settings
    province: ProvinceSettings
    districts: Districts
    nc: Client
    engine: AsyncEngine
    follower: Follower
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    revoked: RevokedTokens = field(default_factory=RevokedTokens)  # tokens signed out: refused
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def names(self) -> dict[str, str]:
        """The districts' names by code, as the province's districts file gives them."""
        return {d.code: d.name for d in self.districts.districts}

    async def stream_info(self) -> dict[str, Any]:
        """The province stream's raw info (its sources, with their external API and lag); empty
        when NATS cannot say now."""
        subject = f"$JS.API.STREAM.INFO.{self.province.stream}"
        try:
            reply = await self.nc.request(subject, b"", timeout=INFO_TIMEOUT_SECONDS)
            info: dict[str, Any] = json.loads(reply.data)
        except Exception as exc:
            log.warning("province_stream_info_unavailable", error=type(exc).__name__)
            return {}
        return info


async def start(settings: Settings, province: ProvinceSettings, districts: Districts) -> ProvinceRuntime:
    """Connect, open the read model, start following the districts' figures."""
    nc = await connect(settings, name=f"fourlinks-{SERVICE}")
    url, schema = settings.read_model_database(SERVICE)
    engine = await create_engine_with_schema(url, schema)
    follower = Follower(nc, engine, stream=province.stream)
    await follower.prepare()  # tables exist before the first query
    runtime = ProvinceRuntime(settings, province, districts, nc, engine, follower)
    runtime.revoked = await RevokedTokens.open(nc, settings.revoked_bucket)
    runtime.tasks.append(asyncio.create_task(runtime.revoked.follow(), name="revocations"))
    runtime.tasks.append(asyncio.create_task(follower.run(), name="province-follower"))
    return runtime


async def stop(runtime: ProvinceRuntime) -> None:
    """Stop following, then close connections; bounded so shutdown never hangs."""
    for task in runtime.tasks:
        task.cancel()
    if runtime.tasks:
        await asyncio.wait(runtime.tasks, timeout=SHUTDOWN_SECONDS)
    runtime.follower.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.nc.close(), SHUTDOWN_SECONDS)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.engine.dispose(), SHUTDOWN_SECONDS)
