"""Aggregates decide, then record; state changes only when an event is applied."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Generic, Self, TypeVar

import structlog

from fourlinks_kernel.envelope import CommandContext, RecordedEvent, StreamId
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.store import AppendResult, EventStore, StreamState

log = structlog.get_logger(__name__)


class Aggregate:
    """Base of every aggregate: replayed from its events, records new ones through `_record`."""

    context: ClassVar[str]
    aggregate_type: ClassVar[str]

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    @classmethod
    def stream_of(cls, aggregate_id: str) -> StreamId:
        """The stream holding this aggregate's events."""
        return StreamId(cls.context, cls.aggregate_type, aggregate_id)

    @classmethod
    def replay(cls, aggregate_id: str, events: list[DomainEvent]) -> Self:
        """Rebuild state from history without re-running any check."""
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate.apply(event)
            aggregate.version += 1
        return aggregate

    @property
    def exists(self) -> bool:
        """Whether any event has been recorded for it."""
        return self.version > 0 or bool(self.pending)

    def _record(self, event: DomainEvent) -> None:
        self.apply(event)
        self.pending.append(event)

    def apply(self, event: DomainEvent) -> None:
        """Change state for one event; subclasses override."""
        raise NotImplementedError


A = TypeVar("A", bound=Aggregate)
MAX_CONFLICT_RETRIES = 5


class Repository(Generic[A]):
    """Loads an aggregate, runs one decision on it and appends what it recorded.

    A concurrency conflict reloads and decides again (decisions are pure over state, so this is
    safe); a command already recorded (same command id in history) is not written twice.
    """

    def __init__(self, store: EventStore, aggregate: type[A]) -> None:
        self.store = store
        self.aggregate = aggregate

    async def get(self, aggregate_id: str) -> tuple[A, StreamState, tuple[RecordedEvent, ...]]:
        """The aggregate as of now, with its stream state and history."""
        loaded = await self.store.load(self.aggregate.stream_of(aggregate_id))
        instance = self.aggregate.replay(aggregate_id, [r.event for r in loaded.events])
        return instance, loaded.state, loaded.events

    async def execute(
        self, aggregate_id: str, decide: Callable[[A], None], context: CommandContext
    ) -> tuple[A, AppendResult]:
        """Load, decide, append; retried on conflict, idempotent per command id."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            instance, state, history = await self.get(aggregate_id)
            done = [r for r in history if r.envelope.command_id == context.command_id]
            if done:
                return instance, _already_done(state, done)
            decide(instance)
            if not instance.pending:
                return instance, AppendResult(state, (), ())
            try:
                result = await self.store.append(
                    instance.stream_of(aggregate_id), instance.pending, expected=state, context=context
                )
            except ConcurrencyConflict:
                log.info("conflict_retried", aggregate=self.aggregate.aggregate_type, attempt=attempt)
                continue
            instance.pending = []
            instance.version = result.state.version
            return instance, result
        raise ConcurrencyConflict(
            str(self.aggregate.stream_of(aggregate_id)), -1, "too many concurrent writers"
        )


def _already_done(state: StreamState, done: list[RecordedEvent]) -> AppendResult:
    return AppendResult(
        state,
        tuple(r.position for r in done),
        tuple(r.envelope.event_id for r in done),
        duplicate=True,
    )
