"""Sessions kept on the server: the cookie holds a random id and nothing else.

What a session holds (the person, the token the services accept, an identity provider's state
during sign-in) lives in a store: this process's memory (one console process; a restart signs
everyone out), or a NATS key-value bucket that every console replica shares and that outlives a
restart. There each session is filed under a digest of its id and sealed (AES-GCM) with a key
derived from the id, which only the person's cookie carries: the bucket alone opens nothing.

A session ends at sign-out (its record is deleted at once: a copied cookie then opens nothing),
after FOURLINKS_CONSOLE_SESSION_IDLE_MINUTES without a request, and FOURLINKS_CONSOLE_SESSION_HOURS
after it began, whatever happens. A record is written only over the revision its request read, so
a request still running when its session is signed out cannot write the session back. A form's
CSRF token is derived from the session id, so a visitor who has not signed in costs the store
nothing."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import nats.errors
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)
SESSION_STATE = "fourlinks.session"
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
TOUCH_SECONDS = 60.0  # a session in use is marked seen at most this often (one write a minute)
MEMORY_SESSIONS = 100_000
STORE_TIMEOUT_SECONDS = 2.0


class SessionStoreUnavailable(Exception):
    """The store of sessions did not answer (NATS away): nobody is signed in for that request."""


@dataclass(frozen=True)
class Kept:
    """A session's record as the store keeps it, and its revision there."""

    record: dict[str, Any]
    revision: int


class SessionStore(Protocol):
    """Where sessions' records are kept, under their ids."""

    async def load(self, session_id: str) -> Kept | None:
        """The record kept for this id, if any."""
        ...

    async def save(self, session_id: str, record: dict[str, Any], *, revision: int | None) -> bool:
        """Keep this record over the revision read (None: where nothing is kept); False when
        the id's record changed or went meanwhile (nothing is written then)."""
        ...

    async def delete(self, session_id: str) -> None:
        """Forget the id's record."""
        ...


class MemorySessions:
    """This process's sessions: right for one console process; all lost when it restarts."""

    def __init__(self, limit: int = MEMORY_SESSIONS) -> None:
        self._records: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._limit = limit
        self._revisions = itertools.count(1)

    async def load(self, session_id: str) -> Kept | None:
        """The record kept for this id, if any."""
        kept = self._records.get(session_id)
        return None if kept is None else Kept(dict(json.loads(kept[1])), kept[0])

    async def save(self, session_id: str, record: dict[str, Any], *, revision: int | None) -> bool:
        """Keep this record over the revision read (the least recently saved go first beyond the
        limit)."""
        kept = self._records.get(session_id)
        if (kept[0] if kept else None) != revision:
            return False
        self._records[session_id] = (next(self._revisions), json.dumps(record).encode())
        self._records.move_to_end(session_id)
        while len(self._records) > self._limit:
            self._records.popitem(last=False)
        return True

    async def delete(self, session_id: str) -> None:
        """Forget the id's record."""
        self._records.pop(session_id, None)


class NatsSessions:
    """Sessions in a NATS key-value bucket (`fourlinks nats init` creates it), shared by every
    console replica: each filed under a digest of its id and sealed with a key derived from it."""

    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    @classmethod
    async def open(cls, nc: Client, bucket: str) -> NatsSessions:
        """Bind to the bucket; raises SessionStoreUnavailable when it cannot be used."""
        try:
            return cls(await nc.jetstream(timeout=STORE_TIMEOUT_SECONDS).key_value(bucket))
        except BucketNotFoundError:
            raise SessionStoreUnavailable(
                f"the console's session bucket {bucket} does not exist: run `fourlinks nats init`"
            ) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise SessionStoreUnavailable(
                f"the console's session bucket {bucket} cannot be read ({type(exc).__name__})"
            ) from exc

    async def load(self, session_id: str) -> Kept | None:
        """The record kept for this id, if any (one that does not open is none)."""
        try:
            entry = await self._bucket.get(_filed_under(session_id))
        except KeyNotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise SessionStoreUnavailable(type(exc).__name__) from exc
        if not entry.value or entry.revision is None:
            return None
        try:
            return Kept(dict(json.loads(_opened(session_id, entry.value))), entry.revision)
        except (InvalidTag, ValueError):
            return None

    async def save(self, session_id: str, record: dict[str, Any], *, revision: int | None) -> bool:
        """Keep this record, sealed, over the revision read."""
        key, sealed = _filed_under(session_id), _sealed(session_id, json.dumps(record).encode())
        try:
            if revision is None:
                await self._bucket.create(key, sealed)
            else:
                await self._bucket.update(key, sealed, last=revision)
        except KeyWrongLastSequenceError:
            return False
        except (nats.errors.Error, TimeoutError) as exc:
            raise SessionStoreUnavailable(type(exc).__name__) from exc
        return True

    async def delete(self, session_id: str) -> None:
        """Forget the id's record."""
        try:
            await self._bucket.delete(_filed_under(session_id))
        except (nats.errors.Error, TimeoutError) as exc:
            raise SessionStoreUnavailable(type(exc).__name__) from exc


def _derived(session_id: str, purpose: bytes) -> bytes:
    return hashlib.sha256(purpose + b"\x00" + session_id.encode()).digest()


def _filed_under(session_id: str) -> str:
    return _derived(session_id, b"fourlinks-console-session-name").hex()[:48]


def _sealed(session_id: str, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    key = _derived(session_id, b"fourlinks-console-session-key")
    return nonce + AESGCM(key).encrypt(nonce, plain, _filed_under(session_id).encode())


def _opened(session_id: str, sealed: bytes) -> bytes:
    key = _derived(session_id, b"fourlinks-console-session-key")
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], _filed_under(session_id).encode())


def new_session_id() -> str:
    """A random session id (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """One request's session: its id (None until one is needed) and what it holds."""

    id: str | None
    data: dict[str, Any]
    created: float
    seen: float
    csrf_key: bytes = field(repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    stored: bool = False  # a record is kept under `id`
    revision: int | None = None  # ... at this revision of the store
    sent_id: str | None = None  # the id the request's cookie carried
    held: str = "{}"  # what the record held when the request began
    dropped: list[str] = field(default_factory=list)  # ids whose records go when the answer starts

    def renew(self) -> None:
        """A fresh id holding nothing, the old record deleted: at sign-in (no session fixation)
        and sign-out (a copied cookie opens nothing)."""
        if self.id is not None and self.stored:
            self.dropped.append(self.id)
        self.id = new_session_id()
        self.data.clear()
        self.stored = False
        self.revision = None
        self.created = self.seen = self.clock()

    def csrf(self) -> str:
        """This session's CSRF token, derived from its id (an id is made for a first visit)."""
        if self.id is None:
            self.id = new_session_id()
        return hmac.new(self.csrf_key, b"csrf\x00" + self.id.encode(), hashlib.sha256).hexdigest()


@dataclass
class Sessions:
    """How sessions are kept: the store, the cookie and the limits."""

    store: SessionStore
    secret: str
    idle_seconds: float
    absolute_seconds: float
    cookie: str
    secure: bool
    clock: Callable[[], float] = time.time

    async def begin(self, sent_id: str | None) -> Session:
        """The session a request's cookie names, if it is alive."""
        now = self.clock()
        key = self.secret.encode()
        if sent_id is None or not SESSION_ID.fullmatch(sent_id):
            return Session(None, {}, now, now, key, self.clock)
        anonymous = Session(sent_id, {}, now, now, key, self.clock, sent_id=sent_id)
        try:
            kept = await self.store.load(sent_id)
        except SessionStoreUnavailable as exc:
            log.warning("sessions_unavailable", error=str(exc))
            return anonymous
        if kept is None:
            return anonymous
        created, seen = float(kept.record["created"]), float(kept.record["seen"])
        if now - created > self.absolute_seconds or now - seen > self.idle_seconds:
            await self._forget(sent_id)
            return anonymous
        data = dict(kept.record["data"])
        return Session(
            sent_id,
            data,
            created,
            seen,
            key,
            self.clock,
            stored=True,
            revision=kept.revision,
            sent_id=sent_id,
            held=_held(data),
        )

    async def finish(self, session: Session) -> bytes | None:
        """Keep what changed, delete what ended; the cookie to set, when the id is new."""
        now = self.clock()
        for old in session.dropped:
            await self._forget(old)
        if session.data:
            if session.id is None:
                session.id = new_session_id()
            changed = not session.stored or _held(session.data) != session.held
            if changed or now - session.seen >= TOUCH_SECONDS:
                record = {"data": session.data, "created": session.created, "seen": now}
                revision = session.revision if session.stored else None
                try:
                    if not await self.store.save(session.id, record, revision=revision):
                        log.info("session_changed_meanwhile")  # signed out by another request
                except SessionStoreUnavailable as exc:
                    log.error("session_not_kept", error=str(exc))
        elif session.stored and session.id is not None:
            await self._forget(session.id)
        if session.id is None or session.id == session.sent_id:
            return None
        secure = "; Secure" if self.secure else ""
        return (
            f"{self.cookie}={session.id}; Path=/; Max-Age={int(self.absolute_seconds)}; HttpOnly; "
            f"SameSite=Lax{secure}"
        ).encode("latin-1")

    async def _forget(self, session_id: str) -> None:
        try:
            await self.store.delete(session_id)
        except SessionStoreUnavailable as exc:
            log.error("session_not_deleted", error=str(exc))


def _held(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


class ServerSessions:
    """ASGI middleware: `request.session` kept on the server, the cookie holding only its id."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = await self.sessions.begin(_cookie(scope, self.sessions.cookie))
        scope["session"] = session.data
        scope[SESSION_STATE] = session

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await self.sessions.finish(session)
                if cookie is not None:
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, sending)


def _cookie(scope: Scope, name: str) -> str | None:
    """The value of one cookie of the request, if it was sent."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for header, value in headers:
        if header != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, found = part.strip().partition("=")
            if key == name:
                return found
    return None
