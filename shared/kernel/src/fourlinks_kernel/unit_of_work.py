"""Running a command: load the aggregates it touches, let them decide, append what they
recorded in one atomic write; retried on a concurrent change, idempotent by command id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import CommandContext, RecordedEvent, StreamId
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.store import EventStore, StreamState, StreamWrite

log = structlog.get_logger(__name__)


A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
MAX_CONFLICT_RETRIES = 5


class _AlreadyRecorded(Exception):
    def __init__(self, events: list[RecordedEvent]) -> None:
        super().__init__("command already recorded")
        self.events = events


@dataclass
class Outcome(Generic[T]):
    """What a command did: its value, where its events landed, or that it had been done before."""

    value: T | None
    positions: tuple[int, ...]
    duplicate: bool = False

    @property
    def position(self) -> int:
        """The log position of the command's last event (0 when it recorded nothing)."""
        return max(self.positions, default=0)


class UnitOfWork:
    """The aggregates one command touches; everything they record is appended atomically."""

    def __init__(self, store: EventStore, context: CommandContext) -> None:
        self.store = store
        self.context = context
        self._loaded: dict[StreamId, tuple[Aggregate, StreamState]] = {}

    async def get(self, kind: type[A], aggregate_id: str) -> A:
        """Load an aggregate once per command (new if it has no events)."""
        stream = kind.stream_of(aggregate_id)
        if stream in self._loaded:
            loaded, _ = self._loaded[stream]
            assert isinstance(loaded, kind)  # one type per stream by construction
            return loaded
        history = await self.store.load(stream)
        mine = [r for r in history.events if r.envelope.command_id == self.context.command_id]
        if mine:
            raise _AlreadyRecorded(mine)
        instance = kind.replay(aggregate_id, [r.event for r in history.events])
        self._loaded[stream] = (instance, history.state)
        return instance

    def writes(self) -> list[StreamWrite]:
        """What the touched aggregates recorded, one write each, in the order they were loaded."""
        return [
            StreamWrite(stream, list(aggregate.pending), state)
            for stream, (aggregate, state) in self._loaded.items()
            if aggregate.pending
        ]

    async def commit(self) -> tuple[int, ...]:
        """Append every recorded event in one atomic batch; returns their positions."""
        writes = self.writes()
        if not writes:
            return ()
        results = await self.store.append_all(writes, context=self.context)
        for write, result in zip(writes, results, strict=True):
            aggregate, _ = self._loaded[write.stream]
            aggregate.pending = []
            aggregate.version = result.state.version
        return tuple(p for r in results for p in r.positions)


async def run_command(
    store: EventStore, context: CommandContext, work: Callable[[UnitOfWork], Awaitable[T]]
) -> Outcome[T]:
    """Run a command: decide on fresh state, append atomically, retry on conflict, never twice.

    A concurrency conflict reruns `work` on reloaded state (decisions are pure over state, so this
    is safe). A command whose id is already in a touched aggregate's history is not run again.
    """
    for attempt in range(MAX_CONFLICT_RETRIES):
        uow = UnitOfWork(store, context)
        try:
            value = await work(uow)
            return Outcome(value, await uow.commit())
        except _AlreadyRecorded as done:
            return Outcome(None, tuple(r.position for r in done.events), duplicate=True)
        except ConcurrencyConflict:
            log.info("conflict_retried", command_id=context.command_id, attempt=attempt)
    raise ConcurrencyConflict("command", -1, "too many concurrent writers; try again")
