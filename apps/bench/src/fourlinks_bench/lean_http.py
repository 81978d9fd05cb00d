"""A lean HTTP/1.1 keep-alive client for the load generator.

httpx spent 2.4–7 ms of CPU per request on the machine it measured (a third of two cores at
concurrency 32), so the generator competed with what it timed. This one writes the request line
and headers itself and reads a Content-Length body: about a tenth of a millisecond a request. It
speaks only what the services answer (no chunked bodies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LeanHttpError(Exception):
    """The server answered something this client does not read."""


@dataclass
class LeanClient:
    """Keep-alive connections per server, reused by whichever request comes next."""

    timeout: float = 60.0
    _idle: dict[tuple[str, int], list[Connection]] = field(default_factory=dict)

    async def post(self, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        """POST a JSON body; the status and the decoded JSON answer (None when empty)."""
        return await self.request("POST", url, orjson.dumps(body), headers)

    async def get(self, url: str, headers: dict[str, str]) -> tuple[int, Any]:
        """GET; the status and the decoded JSON answer (None when empty)."""
        return await self.request("GET", url, None, headers)

    async def request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any]:
        parts = urlsplit(url)
        server = (parts.hostname or "127.0.0.1", parts.port or 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        message = _message(method, path, server, body, headers)
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            reader, writer = await self._connection(server, fresh=attempt == 2)
            try:
                writer.write(message)
                status, answer, keep = await asyncio.wait_for(_response(reader), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                if attempt == 2:
                    raise
                continue
            if keep:
                self._idle.setdefault(server, []).append((reader, writer))
            else:
                writer.close()
            return status, orjson.loads(answer) if answer else None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self, server: tuple[str, int], *, fresh: bool) -> Connection:
        idle = self._idle.get(server)
        if idle and not fresh:
            return idle.pop()
        return await asyncio.open_connection(*server)

    async def close(self) -> None:
        """Close every idle connection."""
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


def _message(
    method: str, path: str, server: tuple[str, int], body: bytes | None, headers: dict[str, str]
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server[0]}:{server[1]}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise LeanHttpError("a chunked answer: this client reads Content-Length bodies only")
    length = int(headers.get("content-length", "0"))
    answer = await reader.readexactly(length) if length else b""
    return status, answer, headers.get("connection", "").lower() != "close"
