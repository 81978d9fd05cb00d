"""Bounded work per connection, on a real uvicorn server: a client that dribbles its headers is cut
off with 408 (it was held open for good), a process holds a bounded number of connections, and a
client that sends its request at once is served as before."""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from fourlinks_runtime import serve
from fourlinks_runtime.slow_clients import HeadersInTime, guarded_server_options
from fourlinks_runtime.upstate import free_port


class QuickHeaders(HeadersInTime):
    header_seconds = 0.5


def hello() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def root() -> dict[str, str]:
        return {"hello": "你好"}

    return app


@pytest.fixture
async def server() -> AsyncIterator[int]:
    port = free_port()
    options = guarded_server_options(max_connections=3, protocol=QuickHeaders)
    config = uvicorn.Config(hello(), host="127.0.0.1", port=port, log_config=None, lifespan="off", **options)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    yield port
    running.should_exit = True
    await task


async def answer_of(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout=10)


async def test_a_client_dribbling_its_headers_is_cut_off_with_408(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    closed = asyncio.create_task(answer_of(reader))
    for n in range(100):  # a header every tenth of a second: never the end of the headers
        if closed.done():
            break
        writer.write(f"X-Slow-{n}: 1\r\n".encode())
        await asyncio.sleep(0.1)
    answer = await closed
    assert answer.startswith(b"HTTP/1.1 408"), answer
    writer.close()


async def test_a_connection_that_says_nothing_is_closed_too(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    assert (await answer_of(reader)).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_a_request_sent_at_once_is_served_and_its_connection_kept(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), timeout=10)
        assert status.startswith(b"HTTP/1.1 200"), status
        await asyncio.sleep(0.7)  # longer than the header deadline: it runs only while headers come
        while (await reader.readline()) != b"\r\n":
            pass
        await reader.readexactly(len('{"hello":"你好"}'.encode()))
    writer.close()


async def test_a_process_holds_a_bounded_number_of_connections(server: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", server)) for _ in range(3)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), timeout=10)
        assert status.startswith(b"HTTP/1.1 503"), status
        writer.close()
    finally:
        for connection in idle:
            connection.close()


def test_every_service_is_served_with_the_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    serve.serve("members", host="127.0.0.1", port=free_port())
    assert seen["limit_concurrency"] > 0
    assert seen["http"] is HeadersInTime  # importable by name: worker processes get it pickled
    pickle.dumps(seen["http"])
