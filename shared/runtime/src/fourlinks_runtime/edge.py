"""What the HTTP edge accepts: one format per identifier, bounded text, strict types, sane dates.

Every request body is a `Body` (unknown fields refused, `"yes"` is not a boolean, `true` is not a
number, a number is not text) built from the types below, so nothing a client typed reaches a NATS
subject, a key-bucket key, a header or a log line unchecked. Path and query identifiers use
`IdInPath` / `IdInQuery`. The rules are written once here and shown in every OpenAPI document.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fourlinks_kernel.errors import error_code

T = TypeVar("T")

ENTITY_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ENTITY_ID_RULE = "an id the system issued: a lowercase UUID such as 0192f7c4-8a1e-7c3b-9d2e-4f5a6b7c8d9e"
UNIT_CODE = r"[a-z0-9][a-z0-9_-]{0,62}"
UNIT_PATH_PATTERN = rf"^/?{UNIT_CODE}(/{UNIT_CODE}){{0,7}}/?$"
UNIT_PATH_RULE = "an org-unit path: lowercase codes joined by '/', such as yuhang/nanyuan/xinghe"
# A name is shown in lists and on service cards: it starts and ends with a visible character and
# holds no control characters, so what is stored is exactly what was sent (nothing is trimmed).
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
NAME_RULE = "starts and ends with a visible character, no control characters"
TOO_LARGE = error_code("too_large", "the request body is larger than the limit (bytes)", "limit")
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


class Body(BaseModel):
    """Base of every request body: unknown fields and loosely typed values are refused (422)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _storable(value: str) -> str:
    """Text every read-model database keeps byte for byte: no NUL, no lone surrogates."""
    if "\x00" in value:
        raise ValueError("text may not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (a lone surrogate was sent)") from None
    return value


def _text_only(value: object) -> object:
    """Dates and times come as ISO 8601 text, never as numbers (a number would be read as epoch)."""
    if not isinstance(value, str):
        raise ValueError("must be ISO 8601 text")
    return value


def _within_window(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _instant_within_window(value: datetime) -> datetime:
    _within_window(value.date())
    return value.astimezone(UTC)


Storable = AfterValidator(_storable)
EntityId = Annotated[
    str, Field(pattern=ENTITY_ID_PATTERN, min_length=36, max_length=36, description=ENTITY_ID_RULE)
]
UnitPath = Annotated[str, Field(pattern=UNIT_PATH_PATTERN, max_length=512, description=UNIT_PATH_RULE)]
Name = Annotated[
    str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN, description=NAME_RULE), Storable
]
"""The name of an org unit, an enterprise, a party branch."""
PersonName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN, description=NAME_RULE), Storable
]
Label = Annotated[str, Field(min_length=1, max_length=60), Storable]
"""A short label such as a category."""
Line = Annotated[str, Field(min_length=1, max_length=300), Storable]
"""One line: an address, a party branch, an agenda item, an evidence reference."""
Text = Annotated[str, Field(min_length=2, max_length=2000), Storable]
"""Free text (a description, a reason), kept byte for byte."""
LongText = Annotated[str, Field(min_length=1, max_length=4000), Storable]
Note = Annotated[str, Field(max_length=2000), Storable]
"""Optional free text: may be empty."""
Choice = Annotated[T, Field(strict=False)]
"""An enumeration: its value as text (strict mode would want the Python object)."""
Day = Annotated[
    date,
    BeforeValidator(_text_only),
    Field(strict=False, description=f"YYYY-MM-DD, {EARLIEST.year}-{LATEST.year}"),
    AfterValidator(_within_window),
]
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_text_only),
    Field(
        strict=False,
        description="ISO 8601 with an offset (2026-12-20T10:00:00+08:00); stored in UTC",
    ),
    AfterValidator(_instant_within_window),
]


IdInPath = Annotated[
    str, Path(pattern=ENTITY_ID_PATTERN, min_length=36, max_length=36, description=ENTITY_ID_RULE)
]
IdInQuery = Annotated[
    str | None, Query(pattern=ENTITY_ID_PATTERN, min_length=36, max_length=36, description=ENTITY_ID_RULE)
]


class BodyLimit:
    """Refuses a request body larger than `limit` bytes with 413 before anything parses it.

    The body is read here (bounded) and handed on whole, so a declared Content-Length and a
    chunked body without one are held to the same limit."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        # Paths allowed more (an upload of a photo), as route templates: /tasks/{task_id}/photos.
        self.larger = [(_template(path), allowed) for path, allowed in (larger or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((allowed for pattern, allowed in self.larger if pattern.fullmatch(path)), self.limit)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            await self._refuse(send, limit)
            return
        body = await self._read(receive, limit)
        if body is None:
            await self._refuse(send, limit)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "detail": f"请求体过大 / the request body is larger than {limit} bytes",
                "error": "RequestTooLarge",
                "code": TOO_LARGE.name,
                "params": {"limit": limit},
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _template(route: str) -> re.Pattern[str]:
    """A route template as a pattern: each {parameter} one path segment."""
    return re.compile(
        "".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", route)
        )
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


RULE_OF_PATTERN = {
    ENTITY_ID_PATTERN: ENTITY_ID_RULE,
    UNIT_PATH_PATTERN: UNIT_PATH_RULE,
    NAME_PATTERN: NAME_RULE,
}
"""What a pattern means, in words, for validation errors a person reads."""


def echo(value: object, *, limit: int = 40) -> str:
    """A short prefix of something a client sent, safe to put in an error message."""
    shown = repr(value) if not isinstance(value, str) else value
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(shown)} characters)"
