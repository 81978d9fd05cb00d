"""The three services, called over HTTP with the signed-in person's token.

A refusal (4xx) becomes `ServiceRefused` carrying the service's error code and its parameters,
shown next to the field or action it concerns as the code's sentence in the reader's language
(`refusals.py`); a service that cannot answer becomes `ServiceUnavailable`."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal
from urllib.parse import quote

import httpx

from fourlinks_console.i18n import Language
from fourlinks_console.metrics import ConsoleMetrics
from fourlinks_console.refusals import sentence
from fourlinks_console.settings import ConsoleSettings

Service = Literal["members", "assignments", "feedback", "notifications", "province"]
NEEDED: tuple[Service, ...] = ("members", "assignments", "feedback")
"""The services a district's console cannot work without (a province's: the province service)."""
READ_RETRY_SECONDS = 0.5


class ServiceRefused(Exception):
    """The service said no (4xx): its status, its error code and the code's parameters, and what
    it said (English), per field where it named one. Without a code the message is the console's
    own words, meant for people as they are."""

    def __init__(
        self,
        status: int,
        message: str,
        fields: dict[str, str] | None = None,
        *,
        code: str = "",
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.code = code
        self.params = params or {}

    def sentence(self, language: Language) -> str:
        """What a page shows: the code's sentence in the reader's language."""
        return sentence(self, language)


class ServiceUnavailable(Exception):
    """The service did not answer, or failed (5xx)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is not answering")
        self.service = service


class Services:
    """One connection pool to the four services; every call carries a person's bearer token, and
    is timed on the console's /metrics."""

    def __init__(
        self,
        settings: ConsoleSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ConsoleMetrics | None = None,
    ) -> None:
        self._urls: dict[str, str] = {
            "members": settings.members_url.rstrip("/"),
            "assignments": settings.assignments_url.rstrip("/"),
            "feedback": settings.feedback_url.rstrip("/"),
            "notifications": settings.notifications_url.rstrip("/"),
        }
        if settings.province_url:
            self._urls["province"] = settings.province_url.rstrip("/")
        self._needed: tuple[Service, ...] = ("province",) if settings.serves_province else NEEDED
        self._http = httpx.AsyncClient(timeout=settings.service_timeout_seconds, transport=transport)
        self._audit = settings.audit_url.rstrip("/") if settings.audit_url else None
        self.metrics = metrics or ConsoleMetrics()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def unreachable(self) -> list[str]:
        """The services the console cannot work without that do not answer their liveness check now
        (without the notifier only the notices page is unavailable: the console stays ready)."""
        needed = {name: url for name, url in self._urls.items() if name in self._needed}
        replies = await asyncio.gather(
            *(self._http.get(f"{url}/health/live", timeout=2) for url in needed.values()),
            return_exceptions=True,
        )
        return [
            name
            for name, reply in zip(needed, replies, strict=True)
            if isinstance(reply, BaseException) or reply.status_code != 200
        ]

    async def integrity(self) -> dict[str, Any] | None:
        """The latest integrity check the checkpointer published, if it runs and has checked."""
        if self._audit is None:
            return None
        reply = await self._reply("GET", f"{self._audit}/integrity", timed=("audit", "/integrity"))
        if reply is None or reply.status_code != 200:
            return None
        found: dict[str, Any] = reply.json()
        return found

    async def get(
        self,
        token: str | None,
        service: Service,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        min_position: int | None = None,
    ) -> Any:
        """A read (after the log position `min_position`, to read one's own write); params that are
        not set are left out. No token: a route the service answers without signing in."""
        wanted = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        headers = {"X-Min-Position": str(min_position)} if min_position else {}
        return await self._call("GET", token, service, path, params=wanted, headers=headers)

    async def send(
        self,
        token: str,
        service: Service,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: Literal["POST", "PUT"] = "POST",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A command; answers the service's acknowledgement (with the log `position`). With an
        `idempotency_key` the same command sent again is answered, not done again."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        answer: dict[str, Any] = await self._call(
            method, token, service, path, json=body or {}, headers=headers
        )
        return answer

    async def upload(
        self,
        token: str,
        service: Service,
        path: str,
        files: dict[str, tuple[str, bytes, str]],
        data: dict[str, str],
    ) -> dict[str, Any]:
        """A multipart upload (a photo); answers the service's JSON."""
        answer: dict[str, Any] = await self._call(
            "POST", token, service, path, headers={}, files=files, data=data
        )
        return answer

    async def get_bytes(self, token: str, service: Service, path: str) -> tuple[bytes, str]:
        """A read that answers bytes (a photo): the bytes and their media type."""
        address = self._address(service, path)
        headers = {"Authorization": f"Bearer {token}"}
        reply = await self._reply("GET", address, timed=(service, path), headers=headers)
        if reply is None:
            raise ServiceUnavailable(service)
        if reply.status_code >= 400:
            raise refusal(reply)
        return reply.content, reply.headers.get("content-type", "application/octet-stream")

    async def _call(
        self,
        method: str,
        token: str | None,
        service: Service,
        path: str,
        *,
        headers: dict[str, str],
        **kwargs: Any,
    ) -> Any:
        if token:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        address = self._address(service, path)
        reply = await self._reply(method, address, timed=(service, path), headers=headers, **kwargs)
        if method == "GET" and reply is None:  # a read is safe to ask again once, after a moment
            await asyncio.sleep(READ_RETRY_SECONDS)
            reply = await self._reply(method, address, timed=(service, path), headers=headers, **kwargs)
        if reply is None:
            raise ServiceUnavailable(service)
        if reply.status_code >= 400:
            raise refusal(reply)
        return reply.json()

    def _address(self, service: Service, path: str) -> str:
        """Where the service answers the path (a part left unescaped breaks no URL); a service this
        console is not given (the province's, in a district) does not answer."""
        base = self._urls.get(service)
        if base is None:
            raise ServiceUnavailable(service)
        return base + quote(path, safe="/%")

    async def _reply(
        self, method: str, address: str, *, timed: tuple[str, str], **kwargs: Any
    ) -> httpx.Response | None:
        """The service's answer, or None when it did not answer or failed (5xx); timed as a call
        to `timed` (the service and the path asked)."""
        started, status = time.perf_counter(), None
        try:
            reply = await self._http.request(method, address, **kwargs)
            status = reply.status_code if reply.status_code < 500 else None
        except httpx.HTTPError:
            return None
        finally:
            service, path = timed
            seconds = time.perf_counter() - started
            self.metrics.called(service=service, method=method, path=path, status=status, seconds=seconds)
        return None if status is None else reply


def part(value: object) -> str:
    """One path segment from what a person sent (an id in a form, a page's address): escaped,
    so that no value can change which route of the service is called, or break the address."""
    escaped = quote(str(value), safe="")
    return escaped.replace(".", "%2E") if escaped.strip(".") == "" else escaped


def refusal(reply: httpx.Response) -> ServiceRefused:
    """The service's code and its parameters, its message, and per field where it was a
    validation error. An answer without a code (not from a service: a proxy's) is "refused"."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    detail = body.get("detail")
    code = str(body.get("code") or "refused")
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    if isinstance(detail, list):
        fields = {
            str(error.get("loc", ["", "?"])[-1]): str(error.get("msg", ""))
            for error in detail
            if isinstance(error, dict)
        }
        message = "; ".join(f"{name}: {text}" for name, text in fields.items())
        return ServiceRefused(reply.status_code, message, fields, code=code, params=params)
    return ServiceRefused(reply.status_code, str(detail or reply.reason_phrase), code=code, params=params)
