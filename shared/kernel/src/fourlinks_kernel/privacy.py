"""Erasure of a person (PIPL Art. 47): the key is destroyed, an erasure event is appended."""

from __future__ import annotations

from typing import ClassVar

from fourlinks_kernel.aggregate import Aggregate, Outcome, Repository
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import CommandContext
from fourlinks_kernel.events import DomainEvent, EventRegistry
from fourlinks_kernel.store import EventStore


class PersonalDataErased(DomainEvent):
    """A person's key was destroyed: their personal fields in history are unreadable for good."""

    event_type: ClassVar[str] = "PersonalDataErased"
    person_id: str
    reason: str


class Person(Aggregate):
    """The data subject whose key protects personal fields anywhere in history."""

    context: ClassVar[str] = "privacy"
    aggregate_type: ClassVar[str] = "person"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.erased = False

    def erase(self, *, reason: str) -> None:
        """Record the erasure once; erasing twice changes nothing."""
        if not self.erased:
            self._record(PersonalDataErased(person_id=self.id, reason=reason))

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PersonalDataErased):
            self.erased = True


def privacy_registry() -> EventRegistry:
    """The privacy context's contracts."""
    registry = EventRegistry()
    registry.register(PersonalDataErased)
    return registry


async def erase_person(
    *, store: EventStore, cipher: PersonalDataCipher, person_id: str, reason: str, context: CommandContext
) -> Outcome[Person]:
    """Destroy the key first (the erasure must hold even if the append fails), then record it."""
    await cipher.erase(person_id)
    return await Repository(store, Person).execute(person_id, lambda p: p.erase(reason=reason), context)
