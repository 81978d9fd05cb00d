"""In-memory event store for unit tests: same contract as JetStream, no durability."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import CommandContext, StoredEvent, StreamId
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.store import (
    AppendResult,
    LiveRead,
    LoadedStream,
    Reached,
    StreamState,
    StreamWrite,
    encode_writes,
)

PREFIX = "fourlinks"


def subject_matches(subject: str, pattern: str | None) -> bool:
    """NATS subject matching with `*` and `>` wildcards."""
    if pattern is None:
        return True
    parts, tokens = subject.split("."), pattern.split(".")
    for index, wanted in enumerate(tokens):
        if wanted == ">":
            return len(parts) > index
        if index >= len(parts) or wanted not in ("*", parts[index]):
            return False
    return len(parts) == len(tokens)


class InMemoryEventStore:
    """A list of stored events with a per-stream index."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self._log: list[StoredEvent] = []
        self._streams: dict[StreamId, list[int]] = {}
        self._states: dict[StreamId, StreamState] = {}
        self._appended = asyncio.Condition()

    @property
    def prefix(self) -> str:
        """The first token of every event's subject."""
        return PREFIX

    async def load(self, stream: StreamId) -> LoadedStream:
        indexes = self._streams.get(stream, [])
        events = tuple([await self.codec.decode(self._log[i]) for i in indexes])
        return LoadedStream(stream, events, self._states.get(stream, StreamState()))

    async def append(
        self,
        stream: StreamId,
        events: Sequence[DomainEvent],
        *,
        expected: StreamState,
        context: CommandContext,
    ) -> AppendResult:
        return (await self.append_all([StreamWrite(stream, events, expected)], context=context))[0]

    async def append_all(
        self, writes: Sequence[StreamWrite], *, context: CommandContext
    ) -> list[AppendResult]:
        batch = await encode_writes(self.codec, writes, context=context)
        # Checked after encoding, with no await before the append: the check and the write are
        # one step, as on the server.
        for write in writes:
            current = self._states.get(write.stream, StreamState())
            if current.position != write.expected.position:
                raise ConcurrencyConflict(str(write.stream), write.expected.position)
        for write, encoded in zip(batch.writes, batch.encoded, strict=True):
            for item in encoded:
                stored = StoredEvent(
                    len(self._log) + 1,
                    write.stream.subject(PREFIX),
                    item.payload,
                    item.event_type,
                    item.signature,
                )
                self._log.append(stored)
                self._streams.setdefault(write.stream, []).append(stored.position - 1)
        results = batch.results(len(self._log))
        for write, result in zip(batch.writes, results, strict=True):
            self._states[write.stream] = result.state
        async with self._appended:
            self._appended.notify_all()
        return results

    async def read(
        self, *, from_position: int = 1, until_position: int | None = None, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        end = len(self._log) if until_position is None else min(until_position, len(self._log))
        for stored in self._log[max(from_position, 1) - 1 : end]:
            if subject_matches(stored.subject, subjects):
                yield stored

    def follow(
        self, *, from_position: int, subjects: Sequence[str] | None = None, batch_size: int = 500
    ) -> LiveRead:
        return _MemoryLiveRead(self, max(from_position, 1), subjects, batch_size)

    async def last_position(self) -> int:
        return len(self._log)

    async def position_of(self, stream: StreamId) -> int:
        return self._states.get(stream, StreamState()).position

    @property
    def stored_events(self) -> Sequence[StoredEvent]:
        """The log as it stands (it only grows)."""
        return self._log

    async def wait_beyond(self, position: int, woken: Callable[[], bool]) -> None:
        """Until the log holds `position`, or `woken` says so."""
        async with self._appended:
            await self._appended.wait_for(lambda: position <= len(self._log) or woken())

    async def wake(self) -> None:
        """Let every waiting live read look again."""
        async with self._appended:
            self._appended.notify_all()

    def tamper(self, position: int, payload: bytes) -> None:
        """Rewrite a stored event in place (tests of integrity checks only)."""
        old = self._log[position - 1]
        self._log[position - 1] = StoredEvent(old.position, old.subject, payload, old.event_type)


class _MemoryLiveRead:
    """The memory log through subject filters; a probe answers at once (nothing is in flight)."""

    def __init__(
        self, store: InMemoryEventStore, start: int, subjects: Sequence[str] | None, batch_size: int
    ) -> None:
        self._store, self._next, self._subjects, self._size = store, start, subjects, batch_size
        self._probed = False
        self._waking: asyncio.Task[None] | None = None

    async def __aiter__(self) -> AsyncGenerator[list[StoredEvent] | Reached, None]:
        log = self._store.stored_events
        while True:
            batch: list[StoredEvent] = []
            while self._next <= len(log) and len(batch) < self._size:
                stored = log[self._next - 1]
                self._next += 1
                if self._subjects is None or any(subject_matches(stored.subject, f) for f in self._subjects):
                    batch.append(stored)
            if batch:
                yield batch
            if self._next > len(log) and self._probed:
                self._probed = False
                yield Reached(len(log))
            if self._next > len(log):
                await self._store.wait_beyond(self._next, lambda: self._probed)

    def probe(self) -> None:
        self._probed = True
        self._waking = asyncio.get_running_loop().create_task(self._store.wake())
