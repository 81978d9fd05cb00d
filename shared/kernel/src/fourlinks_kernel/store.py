"""The event-store port: what every implementation (memory, JetStream) promises."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from fourlinks_kernel.codec import EncodedEvent, EventCodec
from fourlinks_kernel.envelope import (
    GENESIS_HASH,
    CommandContext,
    RecordedEvent,
    StoredEvent,
    StreamId,
)
from fourlinks_kernel.events import DomainEvent

MAX_EVENTS_PER_APPEND = 1000


@dataclass(frozen=True)
class StreamState:
    """Where an aggregate's stream stands: event count, last log position, last digest."""

    version: int = 0
    position: int = 0
    last_hash: str = GENESIS_HASH


NEW_STREAM = StreamState()


@dataclass(frozen=True)
class LoadedStream:
    """An aggregate's history as loaded, with the state to append after it."""

    stream: StreamId
    events: tuple[RecordedEvent, ...]
    state: StreamState


@dataclass(frozen=True)
class AppendResult:
    """What an append wrote (or found already written by the same command)."""

    state: StreamState
    positions: tuple[int, ...]
    event_ids: tuple[str, ...]
    duplicate: bool = False


class EventStore(Protocol):
    """An append-only log of events with per-aggregate optimistic concurrency."""

    codec: EventCodec

    async def load(self, stream: StreamId) -> LoadedStream:
        """Every event of one aggregate, in order."""
        ...

    async def append(
        self,
        stream: StreamId,
        events: Sequence[DomainEvent],
        *,
        expected: StreamState,
        context: CommandContext,
    ) -> AppendResult:
        """Append all events atomically if the stream is still at `expected`."""
        ...

    def read(
        self, *, from_position: int = 1, until_position: int | None = None, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        """Stored events from a position up to the log's end (or `until_position`), in order."""
        ...

    def subscribe(self, *, from_position: int, subjects: str | None = None) -> AsyncIterator[StoredEvent]:
        """Stored events from a position on, waiting for new ones; positions strictly increase."""
        ...

    async def last_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        ...


async def encode_batch(
    codec: EventCodec,
    stream: StreamId,
    events: Sequence[DomainEvent],
    *,
    expected: StreamState,
    context: CommandContext,
) -> list[EncodedEvent]:
    """Encode a command's events, each chained to the digest of the one before."""
    if not events:
        raise ValueError("an append needs at least one event")
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise ValueError(f"at most {MAX_EVENTS_PER_APPEND} events per append")
    encoded: list[EncodedEvent] = []
    prev_hash = expected.last_hash
    for offset, event in enumerate(events, start=1):
        item = await codec.encode(
            event, stream=stream, version=expected.version + offset, prev_hash=prev_hash, context=context
        )
        encoded.append(item)
        prev_hash = hashlib.sha256(item.payload).hexdigest()
    return encoded


__all__ = [
    "NEW_STREAM",
    "AppendResult",
    "EventStore",
    "LoadedStream",
    "StoredEvent",
    "StreamState",
    "encode_batch",
]
