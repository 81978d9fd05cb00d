"""Aggregates decide, then record; state changes only when an event is applied. Pure: no I/O,
no store, no clock (the unit of work that loads and appends them is `unit_of_work`)."""

from __future__ import annotations

from typing import ClassVar, Self

from fourlinks_kernel.envelope import StreamId
from fourlinks_kernel.events import DomainEvent


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
