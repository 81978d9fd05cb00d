"""The event-store port: what every implementation (memory, JetStream) promises."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
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


@dataclass(frozen=True)
class StreamWrite:
    """New events for one aggregate, appended only if its stream is still at `expected`."""

    stream: StreamId
    events: Sequence[DomainEvent]
    expected: StreamState


@dataclass(frozen=True)
class Reached:
    """A live read's mark: every event its filters let through, up to `position`, came before it;
    the rest of the log up to there is none of the reader's business."""

    position: int


class LiveRead(Protocol):
    """A live read of the log through a reader's subject filters, which still tells how far the
    whole log is read: on request, a `Reached` mark follows the events it vouches for."""

    def __aiter__(self) -> AsyncGenerator[list[StoredEvent] | Reached, None]:
        """Micro-batches of events in log order, and marks among them."""
        ...

    def probe(self) -> None:
        """Ask for a mark at the log's end, as soon as everything the filters let through up to
        there has come; answered at once when it can be, else as soon as it can be, or not at all
        while the server cannot tell (ask again later)."""
        ...


class EventStore(Protocol):
    """An append-only log of events with per-aggregate optimistic concurrency."""

    codec: EventCodec

    @property
    def prefix(self) -> str:
        """The first token of every event's subject."""
        ...

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

    async def append_all(
        self, writes: Sequence[StreamWrite], *, context: CommandContext
    ) -> list[AppendResult]:
        """Append to several aggregates at once: all or nothing, each checked against its expectation."""
        ...

    def read(
        self, *, from_position: int = 1, until_position: int | None = None, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        """Stored events from a position up to the log's end (or `until_position`), in order."""
        ...

    def follow(
        self, *, from_position: int, subjects: Sequence[str] | None = None, batch_size: int = 500
    ) -> LiveRead:
        """The log from a position on through the subject filters (None: the whole log), waiting
        for new events: micro-batches of whatever has arrived, positions strictly increasing."""
        ...

    async def last_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        ...

    async def position_of(self, stream: StreamId) -> int:
        """The position of one aggregate's newest event (0 when it has none)."""
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


@dataclass(frozen=True)
class EncodedWrites:
    """A command's writes with their encoded events, in append order."""

    writes: tuple[StreamWrite, ...]
    encoded: tuple[tuple[EncodedEvent, ...], ...]

    @property
    def size(self) -> int:
        """How many events in all."""
        return sum(len(e) for e in self.encoded)

    def results(self, last_position: int) -> list[AppendResult]:
        """Per-write results once the batch is stored contiguously, ending at `last_position`."""
        position = last_position - self.size
        results = []
        for write, encoded in zip(self.writes, self.encoded, strict=True):
            positions = tuple(range(position + 1, position + len(encoded) + 1))
            position += len(encoded)
            digest = hashlib.sha256(encoded[-1].payload).hexdigest()
            state = StreamState(write.expected.version + len(encoded), positions[-1], digest)
            results.append(AppendResult(state, positions, tuple(e.event_id for e in encoded)))
        return results


async def encode_writes(
    codec: EventCodec, writes: Sequence[StreamWrite], *, context: CommandContext
) -> EncodedWrites:
    """Encode every write of a command; refuse empty writes, duplicates and oversized batches."""
    if not writes:
        raise ValueError("an append needs at least one write")
    if len({w.stream for w in writes}) != len(writes):
        raise ValueError("one write per aggregate in an append")
    encoded = [
        await encode_batch(codec, w.stream, w.events, expected=w.expected, context=context) for w in writes
    ]
    total = sum(len(e) for e in encoded)
    if total > MAX_EVENTS_PER_APPEND:
        raise ValueError(f"at most {MAX_EVENTS_PER_APPEND} events per append, got {total}")
    return EncodedWrites(tuple(writes), tuple(tuple(e) for e in encoded))


__all__ = [
    "NEW_STREAM",
    "AppendResult",
    "EventStore",
    "LiveRead",
    "LoadedStream",
    "Reached",
    "StoredEvent",
    "StreamState",
    "StreamWrite",
    "encode_batch",
    "encode_writes",
]
