"""Four Links service cards: one per member, revised as its scope changes, every revision kept."""

from __future__ import annotations

import uuid
from typing import ClassVar

from fourlinks_contracts.members import CONTEXT, ServiceCardIssued, ServiceCardRevised, ServiceCardRevoked
from fourlinks_contracts.refusals import CARD_ALREADY_ACTIVE, CARD_NOT_ACTIVE, CONTACT_TWICE, OVER_CAPACITY
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict
from fourlinks_kernel.events import DomainEvent
from fourlinks_members.domain.rules import check_matters

_CARDS = uuid.UUID("0f6b8e2a-93c4-4f57-8a1d-2e7c5b9d3a64")


def card_id_for(member_id: str) -> str:
    """A member's card id: one card stream per member, re-issued after a revocation."""
    return str(uuid.uuid5(_CARDS, member_id))


class Scope:
    """The households and enterprises of a card, with its capacity check."""

    def __init__(self, households: list[str], enterprises: list[str]) -> None:
        if len(set(households)) != len(households) or len(set(enterprises)) != len(enterprises):
            raise InvalidCommand("a contact appears twice in the scope", CONTACT_TWICE)
        self.households, self.enterprises = households, enterprises

    @property
    def size(self) -> int:
        """How many contacts the scope holds."""
        return len(self.households) + len(self.enterprises)

    def check_capacity(self, capacity: int) -> None:
        """Refuse a scope larger than the member can serve."""
        if self.size > capacity:
            raise InvalidCommand(
                f"the scope has {self.size} contacts but the member's capacity is {capacity}",
                OVER_CAPACITY,
                size=self.size,
                capacity=capacity,
            )


class ServiceCard(Aggregate):
    """Who (member, public phone), for whom (households, enterprises), for what (service matters)."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "service_card"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.member_id = ""
        self.active = False
        self.revision = 0
        self.households: list[str] = []
        self.enterprises: list[str] = []
        self.public_phone: str | None = ""
        self.matters: list[str] = []
        self.matters_note = ""

    def issue(
        self,
        *,
        member_id: str,
        org_unit: str,
        public_phone: str | None,
        scope: Scope,
        matters: list[str],
        note: str,
    ) -> None:
        """Issue the member's card (again, after a revocation)."""
        if self.active:
            raise StateConflict(
                f"member {member_id} already has an active card; revise it instead", CARD_ALREADY_ACTIVE
            )
        self._record(
            ServiceCardIssued(
                card_id=self.id,
                member_id=member_id,
                org_unit=org_unit,
                public_phone=public_phone,
                households=scope.households,
                enterprises=scope.enterprises,
                matters=check_matters(matters),
                matters_note=note,
            )
        )

    def revise(
        self, *, public_phone: str | None, scope: Scope, matters: list[str], note: str, reason: str
    ) -> None:
        """A new revision with the full new scope and matters."""
        self.require_active()
        self._record(
            ServiceCardRevised(
                card_id=self.id,
                member_id=self.member_id,
                revision=self.revision + 1,
                public_phone=public_phone,
                households=scope.households,
                enterprises=scope.enterprises,
                matters=check_matters(matters),
                matters_note=note,
                reason=reason,
            )
        )

    def revoke(self, *, reason: str) -> None:
        """The card stops being valid."""
        self.require_active()
        self._record(ServiceCardRevoked(card_id=self.id, member_id=self.member_id, reason=reason))

    def require_active(self) -> None:
        """Refuse changes to a card that is not in force."""
        if not self.active:
            raise NotFound(f"card {self.id} is not active", CARD_NOT_ACTIVE)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ServiceCardIssued():
                self.member_id, self.active, self.revision = event.member_id, True, self.revision + 1
                self._take(event)
            case ServiceCardRevised():
                self.revision = event.revision
                self._take(event)
            case ServiceCardRevoked():
                self.active = False
                self.households, self.enterprises = [], []

    def _take(self, event: ServiceCardIssued | ServiceCardRevised) -> None:
        self.households, self.enterprises = list(event.households), list(event.enterprises)
        self.public_phone, self.matters, self.matters_note = (
            event.public_phone,
            list(event.matters),
            event.matters_note,
        )
