"""Running a command: load the aggregates it touches, let them decide, append what they
recorded in one atomic write; retried on a concurrent change, idempotent by command id.

With `kept`, aggregates this process folded for an earlier command are used without reading the
log (`kept.py` says why that is safe)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import CommandContext, RecordedEvent, StreamId
from fourlinks_kernel.errors import ConcurrencyConflict, DomainError
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.kept import KeptAggregates
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


@dataclass
class _Loaded:
    aggregate: Aggregate
    state: StreamState
    command_ids: set[str]
    people: set[str]
    at: float | None  # when its personal fields were decrypted (None: just now)


class UnitOfWork:
    """The aggregates one command touches; everything they record is appended atomically."""

    def __init__(
        self, store: EventStore, context: CommandContext, kept: KeptAggregates | None = None
    ) -> None:
        self.store = store
        self.context = context
        self.kept = kept
        self._from_kept: list[StreamId] = []
        self._loaded: dict[StreamId, _Loaded] = {}

    async def get(self, kind: type[A], aggregate_id: str) -> A:
        """Load an aggregate once per command (new if it has no events)."""
        stream = kind.stream_of(aggregate_id)
        if stream not in self._loaded:
            kept = self._kept(stream)
            if kept is not None:
                self._from_kept.append(stream)
            self._loaded[stream] = kept or await self._load(kind, stream)
        loaded = self._loaded[stream].aggregate
        assert isinstance(loaded, kind)  # one type per stream by construction
        return loaded

    def _kept(self, stream: StreamId) -> _Loaded | None:
        kept = self.kept.take(stream) if self.kept is not None else None
        if kept is None or self.context.command_id in kept.command_ids:
            return None  # a repeated command is answered from the log, with its positions
        return _Loaded(kept.aggregate, kept.state, set(kept.command_ids), set(kept.people), kept.at)

    async def _load(self, kind: type[Aggregate], stream: StreamId) -> _Loaded:
        history = await self.store.load(stream)
        mine = [r for r in history.events if r.envelope.command_id == self.context.command_id]
        if mine:
            raise _AlreadyRecorded(mine)
        events = [r.event for r in history.events]
        return _Loaded(
            kind.replay(stream.aggregate_id, events),
            history.state,
            {r.envelope.command_id for r in history.events},
            _people(events),
            None,
        )

    def writes(self) -> list[StreamWrite]:
        """What the touched aggregates recorded, one write each, in the order they were loaded."""
        return [
            StreamWrite(stream, list(loaded.aggregate.pending), loaded.state)
            for stream, loaded in self._loaded.items()
            if loaded.aggregate.pending
        ]

    async def kept_state_moved(self, *, written_too: bool) -> bool:
        """Whether an aggregate decided on from kept state has had events appended since (by
        another process). A written one needs no look: its expectation header says so."""
        for stream in self._from_kept:
            loaded = self._loaded[stream]
            if loaded.aggregate.pending and not written_too:
                continue
            if await self.store.position_of(stream) != loaded.state.position:
                return True
        return False

    async def commit(self) -> tuple[int, ...]:
        """Append every recorded event in one atomic batch; returns their positions."""
        writes = self.writes()
        if not writes:
            return ()
        if await self.kept_state_moved(written_too=False):  # read, not written: no expectation
            raise ConcurrencyConflict("kept state", -1, "an aggregate read from kept state has moved on")
        results = await self.store.append_all(writes, context=self.context)
        for write, result in zip(writes, results, strict=True):
            loaded = self._loaded[write.stream]
            loaded.people |= _people(loaded.aggregate.pending)
            loaded.command_ids.add(self.context.command_id)
            loaded.aggregate.pending = []
            loaded.aggregate.version = result.state.version
            loaded.state = result.state
        return tuple(p for r in results for p in r.positions)

    def keep_all(self) -> None:
        """After a successful command: keep every aggregate it touched, as folded now."""
        if self.kept is None:
            return
        for stream, loaded in self._loaded.items():
            if not loaded.aggregate.pending:
                self.kept.keep(
                    stream,
                    loaded.aggregate,
                    loaded.state,
                    command_ids=loaded.command_ids,
                    people=loaded.people,
                    at=loaded.at,
                )


def _people(events: list[DomainEvent]) -> set[str]:
    """Whose personal fields these events carry."""
    return {p for e in events if e.personal_fields and (p := e.data_subject_id()) is not None}


async def run_command(
    store: EventStore,
    context: CommandContext,
    work: Callable[[UnitOfWork], Awaitable[T]],
    kept: KeptAggregates | None = None,
) -> Outcome[T]:
    """Run a command: decide on fresh state, append atomically, retry on conflict, never twice.

    A concurrency conflict reruns `work` on reloaded state (decisions are pure over state, so this
    is safe). A command whose id is already in a touched aggregate's history is not run again.
    Kept state an append does not vouch for (an aggregate only read; a refusal; a decision that
    wrote nothing) is checked against the aggregate's last position, and the command made again
    on a fresh load if it moved on.
    """
    fresh = False
    for attempt in range(MAX_CONFLICT_RETRIES):
        uow = UnitOfWork(store, context, None if fresh else kept)
        try:
            value = await work(uow)
            positions = await uow.commit()
        except _AlreadyRecorded as done:
            return Outcome(None, tuple(r.position for r in done.events), duplicate=True)
        except ConcurrencyConflict:
            log.info("conflict_retried", command_id=context.command_id, attempt=attempt)
            continue
        except DomainError:
            if not await uow.kept_state_moved(written_too=True):
                raise
            fresh = True
            continue
        if not positions and await uow.kept_state_moved(written_too=True):
            fresh = True
            continue
        uow.keep_all()
        return Outcome(value, positions)
    raise ConcurrencyConflict("command", -1, "too many concurrent writers; try again")
