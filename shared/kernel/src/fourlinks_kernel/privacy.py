"""The privacy context's contract: a person's key was destroyed (PIPL Art. 47).

Services record erasure on the aggregate the person belongs to (`ResidentErased`,
`EnterpriseContactErased`); this event covers a person who belongs to none, and
`fourlinks replay erasures` honours it like the others.
"""

from __future__ import annotations

from typing import ClassVar

from fourlinks_kernel.events import DomainEvent, EventRegistry


class PersonalDataErased(DomainEvent):
    """A person's key was destroyed: their personal fields in history are unreadable for good."""

    event_type: ClassVar[str] = "PersonalDataErased"
    erased_person_field: ClassVar[str | None] = "person_id"
    person_id: str
    reason: str


def privacy_registry() -> EventRegistry:
    """The privacy context's contracts."""
    registry = EventRegistry()
    registry.register(PersonalDataErased)
    return registry
