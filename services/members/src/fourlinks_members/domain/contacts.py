"""Households and enterprises: the contacts a service card links to a member."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from fourlinks_contracts.members import (
    CONTEXT,
    ContactKind,
    ContactLinked,
    ContactUnlinked,
    CreditCodeClaimed,
    EnterpriseContactErased,
    EnterpriseRegistered,
    HouseholdErased,
    HouseholdRegistered,
    ResidentAdded,
    ResidentErased,
    Urgency,
    VisitRecorded,
)
from fourlinks_contracts.refusals import (
    ALREADY_ERASED,
    CADENCE_OUT_OF_RANGE,
    CONTACT_ON_OTHER_CARD,
    CREDIT_CODE_TAKEN,
    VISIT_IN_FUTURE,
)
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict, UnknownEventType
from fourlinks_kernel.events import DomainEvent
from fourlinks_members.domain.rules import check_credit_code

MAX_CADENCE_DAYS = 366
_CREDIT_CODES = uuid.UUID("5b0c9d1e-7f3a-4e2b-9c8d-0a1b2c3d4e5f")


def credit_code_claim_id(credit_code: str) -> str:
    """One claim per unified social credit code."""
    return str(uuid.uuid5(_CREDIT_CODES, credit_code))


class CreditCodeClaim(Aggregate):
    """Which enterprise holds a unified social credit code (one per code)."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "credit_code"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.enterprise_id: str | None = None

    def claim(self, *, credit_code: str, enterprise_id: str) -> None:
        """Take the code for the enterprise, unless another enterprise holds it."""
        if self.enterprise_id not in (None, enterprise_id):
            raise StateConflict(
                f"enterprise {self.enterprise_id} is already registered with this unified social credit code",
                CREDIT_CODE_TAKEN,
            )
        if self.enterprise_id is None:
            self._record(
                CreditCodeClaimed(claim_id=self.id, credit_code=credit_code, enterprise_id=enterprise_id)
            )

    def apply(self, event: DomainEvent) -> None:
        if not isinstance(event, CreditCodeClaimed):
            raise UnknownEventType(f"a credit code claim does not know how to apply {event.event_type}")
        self.enterprise_id = event.enterprise_id


@dataclass(frozen=True)
class NewResident:
    """A resident as registered: personal data, sealed when stored."""

    resident_id: str
    name: str
    phone: str | None
    elderly_living_alone: bool = False
    disability: bool = False


class Contact(Aggregate):
    """What households and enterprises share: a unit, the card that links them, visits."""

    context: ClassVar[str] = CONTEXT
    kind: ClassVar[ContactKind]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.org_unit = ""
        self.card_id: str | None = None
        self.member_id: str | None = None

    def require_registered(self) -> None:
        """Refuse commands on contacts that do not exist."""
        if not self.exists:
            raise NotFound(f"{self.kind} {self.id} does not exist")

    def link(self, *, card_id: str, member_id: str) -> None:
        """Enter a card's scope; a contact is in at most one active card."""
        self.require_registered()
        if self.card_id == card_id:
            return
        if self.card_id is not None:
            raise StateConflict(
                f"{self.kind} {self.id} is already in the scope of card {self.card_id} "
                f"(member {self.member_id}); revise that card first",
                CONTACT_ON_OTHER_CARD,
                kind=self.kind.value,
                contact=self.id,
                member=self.member_id,
            )
        self._record(
            ContactLinked(contact_id=self.id, contact_kind=self.kind, card_id=card_id, member_id=member_id)
        )

    def unlink(self, *, card_id: str, reason: str) -> None:
        """Leave a card's scope."""
        if self.card_id != card_id or self.member_id is None:
            return
        self._record(
            ContactUnlinked(
                contact_id=self.id,
                contact_kind=self.kind,
                card_id=card_id,
                member_id=self.member_id,
                reason=reason,
            )
        )

    def record_visit(
        self,
        *,
        visit_id: str,
        member_id: str,
        visited_on: date,
        notes: str,
        problem: tuple[str, str, Urgency] | None,
        today: date,
    ) -> None:
        """Keep a visit in the contact's history; a problem found can be picked up as a task."""
        self.require_registered()
        if visited_on > today:
            raise InvalidCommand("a visit cannot be recorded for a future date", VISIT_IN_FUTURE)
        category, description, urgency = problem or (None, None, None)
        self._record(
            VisitRecorded(
                visit_id=visit_id,
                contact_id=self.id,
                contact_kind=self.kind,
                org_unit=self.org_unit,
                member_id=member_id,
                visited_on=visited_on,
                notes=notes,
                problem_found=problem is not None,
                problem_category=category,
                problem_description=description,
                problem_urgency=urgency,
            )
        )

    def apply_link(self, event: DomainEvent) -> bool:
        """State changes common to every contact; True when the event was one of them."""
        match event:
            case ContactLinked():
                self.card_id, self.member_id = event.card_id, event.member_id
            case ContactUnlinked():
                self.card_id = self.member_id = None
            case VisitRecorded():
                pass
            case _:
                return False
        return True


class Household(Contact):
    """A household at an address, its residents, and how often it should be visited."""

    aggregate_type: ClassVar[str] = "household"
    kind: ClassVar[ContactKind] = ContactKind.HOUSEHOLD

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.residents: dict[str, bool] = {}  # resident id -> erased
        self.erased = False

    def register(self, *, org_unit: str, unit_no: str, room: str, visit_cadence_days: int) -> None:
        """Register a household; residents are added separately, each with their own key."""
        if self.exists:
            raise StateConflict(f"household {self.id} is already registered")
        if not 1 <= visit_cadence_days <= MAX_CADENCE_DAYS:
            raise InvalidCommand(
                f"visit cadence must be 1 to {MAX_CADENCE_DAYS} days",
                CADENCE_OUT_OF_RANGE,
                maximum=MAX_CADENCE_DAYS,
            )
        self._record(
            HouseholdRegistered(
                household_id=self.id,
                org_unit=org_unit,
                unit_no=unit_no,
                room=room,
                visit_cadence_days=visit_cadence_days,
            )
        )

    def add_resident(self, resident: NewResident, *, phone_index: str | None) -> None:
        """Add a resident (their personal fields are sealed when stored, with their own key)."""
        self.require_registered()
        if resident.resident_id in self.residents:
            raise StateConflict(f"resident {resident.resident_id} is already in this household")
        self._record(
            ResidentAdded(
                household_id=self.id,
                resident_id=resident.resident_id,
                name=resident.name,
                phone=resident.phone,
                phone_index=phone_index,
                elderly_living_alone=resident.elderly_living_alone,
                disability=resident.disability,
            )
        )

    def erase_resident(self, resident_id: str) -> None:
        """Record that a resident's personal data was erased."""
        if resident_id not in self.residents:
            raise NotFound(f"resident {resident_id} is not in household {self.id}")
        if self.residents[resident_id]:
            raise StateConflict(
                f"resident {resident_id} has already been erased", ALREADY_ERASED, kind="resident"
            )
        self._record(ResidentErased(household_id=self.id, resident_id=resident_id))

    def erase(self) -> list[str]:
        """Record the household's erasure, each resident not yet erased first; returns those
        residents (their keys and the household's are destroyed by the caller)."""
        self.require_registered()
        if self.erased:
            raise StateConflict(
                f"household {self.id} has already been erased", ALREADY_ERASED, kind="household"
            )
        remaining = [resident for resident, erased in self.residents.items() if not erased]
        for resident_id in remaining:
            self._record(ResidentErased(household_id=self.id, resident_id=resident_id))
        self._record(HouseholdErased(household_id=self.id))
        return remaining

    def apply(self, event: DomainEvent) -> None:
        if self.apply_link(event):
            return
        match event:
            case HouseholdRegistered():
                self.org_unit = event.org_unit
            case ResidentAdded():
                self.residents[event.resident_id] = False
            case ResidentErased():
                self.residents[event.resident_id] = True
            case HouseholdErased():
                self.erased = True


class Enterprise(Contact):
    """An enterprise in a community, with one contact person."""

    aggregate_type: ClassVar[str] = "enterprise"
    kind: ClassVar[ContactKind] = ContactKind.ENTERPRISE

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.contact_person_id = ""
        self.contact_erased = False

    def register(
        self,
        *,
        org_unit: str,
        name: str,
        credit_code: str,
        address: str,
        contact_person_id: str,
        contact_name: str,
        contact_phone: str | None,
        phone_index: str | None,
    ) -> None:
        """Register an enterprise after checking its credit code; its contact person's personal
        data is sealed with that person's key."""
        if self.exists:
            raise StateConflict(f"enterprise {self.id} is already registered")
        self._record(
            EnterpriseRegistered(
                enterprise_id=self.id,
                org_unit=org_unit,
                name=name,
                credit_code=check_credit_code(credit_code),
                address=address,
                contact_person_id=contact_person_id,
                contact_name=contact_name,
                contact_phone=contact_phone,
                phone_index=phone_index,
            )
        )

    def erase_contact(self) -> None:
        """Record that the contact person's personal data was erased."""
        self.require_registered()
        if self.contact_erased:
            raise StateConflict(
                f"the contact person of enterprise {self.id} has already been erased",
                ALREADY_ERASED,
                kind="enterprise",
            )
        self._record(EnterpriseContactErased(enterprise_id=self.id, contact_person_id=self.contact_person_id))

    def apply(self, event: DomainEvent) -> None:
        if self.apply_link(event):
            return
        match event:
            case EnterpriseRegistered():
                self.org_unit, self.contact_person_id = event.org_unit, event.contact_person_id
            case EnterpriseContactErased():
                self.contact_erased = True
