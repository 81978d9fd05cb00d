"""In-memory event store for unit tests: same contract as JetStream, no durability."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import CommandContext, StoredEvent, StreamId
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.store import AppendResult, LoadedStream, StreamState, StreamWrite, encode_writes

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

    async def subscribe(
        self, *, from_position: int, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        position = max(from_position, 1)
        while True:
            while position <= len(self._log):
                stored = self._log[position - 1]
                position += 1
                if subject_matches(stored.subject, subjects):
                    yield stored
            async with self._appended:
                await self._appended.wait_for(self._beyond(position))

    def _beyond(self, position: int) -> Callable[[], bool]:
        return lambda: position <= len(self._log)

    async def last_position(self) -> int:
        return len(self._log)

    async def position_of(self, stream: StreamId) -> int:
        return self._states.get(stream, StreamState()).position

    def tamper(self, position: int, payload: bytes) -> None:
        """Rewrite a stored event in place (tests of integrity checks only)."""
        old = self._log[position - 1]
        self._log[position - 1] = StoredEvent(old.position, old.subject, payload, old.event_type)
