"""Bounded work per connection: a client that takes too long to send its request's headers is
cut off, and a process holds a bounded number of connections.

uvicorn waits for a request's headers as long as a client cares to dribble them (150 connections,
a byte every few seconds, stayed open for good: slowloris). Its keep-alive timeout only covers the
idle time between requests. So each connection gets a deadline from its opening, and from the first
byte of each later request, to the end of that request's headers; past it the connection is closed
with 408. Bodies are bounded by size elsewhere (`edge.BodyLimit`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0
"""The longest a client may take from a request's first byte (or its connection) to its last header."""
MAX_CONNECTIONS = 1000
"""Connections and requests in flight per process; beyond it uvicorn answers 503 at once."""
_TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 35\r\n\r\nthe request's headers came too slow"
)


class HeadersInTime(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    header_seconds = HEADER_SECONDS

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._start_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._start_deadline()

    def on_headers_complete(self) -> None:
        self._stop_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_seconds, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TOO_SLOW)
            self.transport.close()


def guarded_server_options(
    max_connections: int, protocol: type[HeadersInTime] = HeadersInTime
) -> dict[str, Any]:
    """uvicorn's options for a service: the deadline on headers, the bound on connections (the
    protocol is a class importable by name: uvicorn's worker processes receive it pickled)."""
    return {"http": protocol, "limit_concurrency": max_connections}
