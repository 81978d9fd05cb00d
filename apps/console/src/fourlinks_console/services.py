"""The three services, called over HTTP with the signed-in person's token.

A refusal (4xx) becomes `ServiceRefused` carrying the service's own message, shown next to the
field or action it concerns; a service that cannot answer becomes `ServiceUnavailable`."""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from urllib.parse import quote

import httpx

from fourlinks_console.settings import ConsoleSettings

Service = Literal["members", "assignments", "feedback", "notifications"]
NEEDED = ("members", "assignments", "feedback")
READ_RETRY_SECONDS = 0.5


class ServiceRefused(Exception):
    """The service said no (4xx): its status and what it said, per field where it named one."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}


class ServiceUnavailable(Exception):
    """The service did not answer, or failed (5xx)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the {service} service is not answering")
        self.service = service


class Services:
    """One connection pool to the four services; every call carries a person's bearer token."""

    def __init__(self, settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls: dict[str, str] = {
            "members": settings.members_url.rstrip("/"),
            "assignments": settings.assignments_url.rstrip("/"),
            "feedback": settings.feedback_url.rstrip("/"),
            "notifications": settings.notifications_url.rstrip("/"),
        }
        self._http = httpx.AsyncClient(timeout=settings.service_timeout_seconds, transport=transport)
        self._audit = settings.audit_url.rstrip("/") if settings.audit_url else None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def unreachable(self) -> list[str]:
        """The services the console cannot work without that do not answer their liveness check now
        (without the notifier only the notices page is unavailable: the console stays ready)."""
        needed = {name: url for name, url in self._urls.items() if name in NEEDED}
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
        reply = await self._reply("GET", f"{self._audit}/integrity")
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
    ) -> dict[str, Any]:
        """A command; answers the service's acknowledgement (with the log `position`)."""
        answer: dict[str, Any] = await self._call(method, token, service, path, json=body or {}, headers={})
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
        address = self._urls[service] + quote(path, safe="/%")
        reply = await self._reply("GET", address, headers={"Authorization": f"Bearer {token}"})
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
        address = self._urls[service] + quote(path, safe="/%")  # a part left unescaped breaks no URL
        reply = await self._reply(method, address, headers=headers, **kwargs)
        if method == "GET" and reply is None:  # a read is safe to ask again once, after a moment
            await asyncio.sleep(READ_RETRY_SECONDS)
            reply = await self._reply(method, address, headers=headers, **kwargs)
        if reply is None:
            raise ServiceUnavailable(service)
        if reply.status_code >= 400:
            raise refusal(reply)
        return reply.json()

    async def _reply(self, method: str, address: str, **kwargs: Any) -> httpx.Response | None:
        """The service's answer, or None when it did not answer or failed (5xx)."""
        try:
            reply = await self._http.request(method, address, **kwargs)
        except httpx.HTTPError:
            return None
        return None if reply.status_code >= 500 else reply


def part(value: object) -> str:
    """One path segment from what a person sent (an id in a form, a page's address): escaped,
    so that no value can change which route of the service is called, or break the address."""
    escaped = quote(str(value), safe="")
    return escaped.replace(".", "%2E") if escaped.strip(".") == "" else escaped


def refusal(reply: httpx.Response) -> ServiceRefused:
    """The service's message, and per field where it was a validation error."""
    try:
        detail = reply.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):
        fields = {
            str(error.get("loc", ["", "?"])[-1]): str(error.get("msg", ""))
            for error in detail
            if isinstance(error, dict)
        }
        message = "; ".join(f"{name}: {text}" for name, text in fields.items())
        return ServiceRefused(reply.status_code, message, fields)
    return ServiceRefused(reply.status_code, str(detail or reply.reason_phrase))
