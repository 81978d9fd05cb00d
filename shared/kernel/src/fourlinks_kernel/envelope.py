"""The envelope every stored event carries, and the canonical bytes it is stored as."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from fourlinks_kernel.errors import InvalidStreamId
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.instants import Instant

GENESIS_HASH = "0" * 64
# The event type and schema version ride in headers, so a reader can pick what it handles without
# parsing the payload, while each aggregate keeps one literal subject (the server indexes literal
# subjects; a wildcard read walks the log message by message).
EVENT_TYPE_HEADER = "Fourlinks-Event-Type"
SIGNATURE_HEADER = "Fourlinks-Signature"
"""The writing service's signature of the stored bytes (fourlinks_kernel.signing)."""
SCHEMA_VERSION_HEADER = "Fourlinks-Schema-Version"
# Stream metadata naming the subject layout, so a service never writes one layout into the other.
LAYOUT_KEY = "fourlinks_subject_layout"
SUBJECT_LAYOUT = "2"
_DERIVED_IDS = uuid.UUID("8d7f3c52-1a4b-4e0f-b6f1-3c9e2d5a7b10")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def type_headers(event_type: str, schema_version: int) -> dict[str, str]:
    """The headers naming a stored event's type and version."""
    return {EVENT_TYPE_HEADER: event_type, SCHEMA_VERSION_HEADER: str(schema_version)}


def check_token(value: str, what: str) -> str:
    """Refuse a value that cannot be one NATS subject token."""
    if not _TOKEN.match(value):
        raise InvalidStreamId(f"{what} {value!r} must be 1-128 letters, digits, '-' or '_'")
    return value


@dataclass(frozen=True, order=True)
class StreamId:
    """One aggregate's event stream: `<context>.<aggregate_type>.<aggregate_id>`."""

    context: str
    aggregate_type: str
    aggregate_id: str

    def __post_init__(self) -> None:
        check_token(self.context, "context")
        check_token(self.aggregate_type, "aggregate type")
        check_token(self.aggregate_id, "aggregate id")

    def __str__(self) -> str:
        return f"{self.context}.{self.aggregate_type}.{self.aggregate_id}"

    def subject(self, prefix: str) -> str:
        """The one literal subject every event of this stream is stored under."""
        return f"{prefix}.{self}"


@dataclass(frozen=True)
class Actor:
    """Who did it: an authenticated user or a service acting on an event."""

    id: str
    roles: tuple[str, ...] = ()
    scope: str = ""
    # How a resident's token was obtained (its `via` claim: "sign_in_link", "card_qr"; "" for any
    # other sign-in): the feedback it raises records that channel, the one thing that tells them apart.
    via: str = ""


@dataclass(frozen=True)
class CommandContext:
    """Who, and why: carried by a command into every event it records."""

    actor: Actor
    command_id: str
    correlation_id: str
    causation_id: str | None = None
    # The moment the command decided at, when its caller fixed one: every event it records then
    # carries that time, so a task raised and triaged by one command is raised no later than triaged.
    occurred_at: datetime | None = None

    @classmethod
    def new(cls, actor: Actor, *, correlation_id: str | None = None) -> CommandContext:
        """A context for a fresh command; the command id doubles as correlation id."""
        command_id = new_id()
        return cls(actor=actor, command_id=command_id, correlation_id=correlation_id or command_id)

    def id_for(self, purpose: str) -> str:
        """An id for something this command creates: derived from the client's idempotency key
        when there is one (so a retried request meets the same aggregate), otherwise fresh."""
        if self.command_id.startswith("http:"):
            return str(uuid.uuid5(_DERIVED_IDS, f"{self.command_id}:{purpose}"))
        return new_id()


class Envelope(BaseModel):
    """Metadata stored with every event: what, which aggregate, who, when, why, chained to what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str
    schema_version: int
    context: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: Instant
    actor_id: str
    actor_roles: tuple[str, ...]
    command_id: str
    correlation_id: str
    causation_id: str | None
    prev_hash: str

    @property
    def stream(self) -> StreamId:
        """The stream this event belongs to."""
        return StreamId(self.context, self.aggregate_type, self.aggregate_id)


def reaction_context(event: RecordedEvent, *, policy: str, purpose: str = "") -> CommandContext:
    """Who and why for a command a policy issues in reaction to an event: the event id (and the
    purpose, when one event causes several commands) makes a redelivery a no-op."""
    return CommandContext(
        actor=Actor(id=f"policy:{policy}", roles=("service",)),
        command_id=f"{policy}:{event.envelope.event_id}{':' + purpose if purpose else ''}",
        correlation_id=event.envelope.correlation_id,
        causation_id=event.envelope.event_id,
    )


@dataclass(frozen=True)
class StoredEvent:
    """An event as the store holds it: position, subject, the exact stored bytes and the type
    named in its headers ("" when the headers name none: such an event cannot decode)."""

    position: int
    subject: str
    payload: bytes
    event_type: str
    signature: str = ""  # the writing service's signature header ("" when unsigned)

    @classmethod
    def of(cls, position: int, subject: str, payload: bytes, headers: dict[str, str] | None) -> StoredEvent:
        """A stored message as read from the server, its type and signature taken from its headers."""
        found = headers or {}
        return cls(
            position, subject, payload, found.get(EVENT_TYPE_HEADER, ""), found.get(SIGNATURE_HEADER, "")
        )

    def signature_headers(self) -> dict[str, str]:
        """The signature header to copy with the event's bytes (none when unsigned)."""
        return {SIGNATURE_HEADER: self.signature} if self.signature else {}

    @property
    def digest(self) -> str:
        """SHA-256 of the stored bytes: what the next event of the aggregate chains to."""
        return hashlib.sha256(self.payload).hexdigest()


@dataclass(frozen=True)
class RecordedEvent:
    """A decoded event with its envelope and where it sits in the log."""

    envelope: Envelope
    event: DomainEvent
    position: int
    digest: str
    erased_fields: tuple[str, ...] = ()


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8 (orjson, a sixth of the standard
    library's cost; byte for byte the same for what events hold, proven in the tests and on every
    event of the benchmark data set; the standard library takes what orjson refuses, such as an
    integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return standard_canonical_json(value)


def standard_canonical_json(value: Any) -> bytes:
    """The same bytes by the standard library: the definition `canonical_json` is held to."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
