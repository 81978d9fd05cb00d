"""Start-up work that makes a service's first requests no slower than the next ones.

Measured on the benchmark's data set, the first request to a fresh process took 0.2-0.7 s where
the next took milliseconds: FastAPI builds a router's routes (their dependencies, validators and
response serializers) the first time a request is matched against that router, and SQLAlchemy
compiles each statement, and the pool opens its connections, on first use. Both happen here,
before the process takes traffic: one request routed nowhere at start (so it is matched against
every router), then, once the read models have caught up (a sample of them is needed), the
service's own hot queries once; readiness says "warming up" until they are done.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Message, Scope

from fourlinks_kernel.errors import NotFound

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

UNROUTED = "/health/warm-up/unrouted"
"""A path no route takes: matching it walks (and so builds) every router."""
WITHIN_SECONDS = 10.0
"""The hot queries' warm-up gives up after this long (a slow database is reported, not fatal)."""
WARMING = "warming up: the hot queries run once before the first request"
"""What readiness says while the queries warm up (the read models have caught up)."""


async def warm_up(app: FastAPI, runtime: ServiceRuntime) -> asyncio.Task[None]:
    """Build every route now (start-up waits for it), and run the service's hot queries once the
    read models have caught up (a sample of them is needed): readiness waits for the returned task."""
    await build_routes(app)
    return asyncio.create_task(warm_queries(runtime), name="warm-up")


async def warm_queries(runtime: ServiceRuntime) -> None:
    """Once caught up, the service's hot queries on its read models; never fails the service."""
    queries = runtime.definition.warm_up
    if queries is None:
        return
    await runtime.wait_until_caught_up()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(WITHIN_SECONDS), runtime.engine.connect() as conn:
            await queries(conn, runtime)
    except (TimeoutError, SQLAlchemyError, NotFound) as exc:
        # The first requests then compile what they need, as they would have without it.
        log.warning("warm_up_incomplete", error=type(exc).__name__)
        return
    log.info("warmed_up", milliseconds=round((time.perf_counter() - started) * 1000, 1))


def warming(task: asyncio.Task[Any] | None) -> list[str]:
    """What readiness still misses while the warm-up runs."""
    return [WARMING] if task is not None and not task.done() else []


async def build_routes(app: FastAPI) -> None:
    """One request, in process, to a path no route takes, handed to the router itself (no
    middleware: it is neither timed nor logged as a request): FastAPI builds every router's routes
    as it matches the request against them, and answers 404."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": UNROUTED,
        "raw_path": UNROUTED.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"warm-up")],
        "client": ("127.0.0.1", 0),
        "server": ("warm-up", 80),
        "state": {},
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:  # the request had its (empty) body: then the client is gone
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Message) -> None:
        return None

    await app.router(scope, receive, send)
