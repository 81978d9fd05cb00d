"""The members service's commands, as frozen objects: what someone asks the service to do. A
handler takes the command and a unit of work; the command's class name labels it in the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from fourlinks_contracts.members import ContactKind, DeactivationReason, HelperRole, OrgLevel, Urgency
from fourlinks_kernel.envelope import Actor
from fourlinks_members.domain.contacts import NewResident

PhoneIndex = Callable[[str], str]
"""The blind index of a phone number (for finding a household by phone without storing it)."""


@dataclass(frozen=True)
class CreateOrgUnit:
    """Create the org unit at `path`; its parent (the path less its last code) must exist."""

    actor: Actor
    path: str
    name: str
    level: OrgLevel


@dataclass(frozen=True)
class RenameOrgUnit:
    """Give an org unit a new display name."""

    actor: Actor
    unit_id: str
    name: str


@dataclass(frozen=True)
class RegisterMember:
    """Register a party member in their home unit."""

    actor: Actor
    member_id: str
    name: str
    public_phone: str
    party_branch: str
    org_unit: str
    capacity: int


@dataclass(frozen=True)
class UpdateMember:
    """Change a member's card-facing details or capacity."""

    actor: Actor
    member_id: str
    name: str
    public_phone: str
    party_branch: str
    capacity: int


@dataclass(frozen=True)
class TransferMember:
    """Move a member; their card is revoked and their contacts become uncovered at once."""

    actor: Actor
    member_id: str
    to_unit: str
    reason: str


@dataclass(frozen=True)
class DeactivateMember:
    """A member stops serving; their card is revoked and their contacts become uncovered at once."""

    actor: Actor
    member_id: str
    reason: DeactivationReason
    note: str
    suggested_replacement_id: str | None = None


@dataclass(frozen=True)
class EraseMember:
    """Record that a member who left was erased (PIPL Art. 47); the caller destroys their key first."""

    actor: Actor
    member_id: str


@dataclass(frozen=True)
class AttachHelper:
    """Add a helper (building chief, property staff ...) to a member's 1 + X team."""

    actor: Actor
    member_id: str
    helper_id: str
    role: HelperRole
    name: str
    phone: str | None


@dataclass(frozen=True)
class DetachHelper:
    """Remove a helper from a member's team."""

    actor: Actor
    member_id: str
    helper_id: str
    reason: str


@dataclass(frozen=True)
class RegisterHousehold:
    """Register a household at its building or natural village, with its residents."""

    actor: Actor
    household_id: str
    org_unit: str
    unit_no: str
    room: str
    visit_cadence_days: int
    residents: list[NewResident]
    phone_index: PhoneIndex


@dataclass(frozen=True)
class AddResident:
    """Add a resident to a registered household."""

    actor: Actor
    household_id: str
    resident: NewResident
    phone_index: PhoneIndex


@dataclass(frozen=True)
class RegisterEnterprise:
    """Register an enterprise in its community, with a contact person."""

    actor: Actor
    enterprise_id: str
    org_unit: str
    name: str
    credit_code: str
    address: str
    contact_person_id: str
    contact_name: str
    contact_phone: str | None
    phone_index: PhoneIndex


@dataclass(frozen=True)
class RecordVisit:
    """A member records a visit; a problem found can be picked up as a task."""

    actor: Actor
    visit_id: str
    member_id: str
    contact_kind: ContactKind
    contact_id: str
    visited_on: date
    notes: str
    problem: tuple[str, str, Urgency] | None
    today: date


@dataclass(frozen=True)
class IssueCard:
    """Issue a member's card and link every contact in its scope, atomically."""

    actor: Actor
    member_id: str
    households: list[str]
    enterprises: list[str]
    matters: list[str]
    note: str
    public_phone: str | None = None


@dataclass(frozen=True)
class ReviseCard:
    """A new revision of a member's card; contacts added are linked, contacts removed unlinked."""

    actor: Actor
    member_id: str
    households: list[str]
    enterprises: list[str]
    matters: list[str]
    note: str
    reason: str
    public_phone: str | None = None
    expected_revision: int | None = None


@dataclass(frozen=True)
class RevokeCard:
    """Revoke a member's card; its contacts become uncovered."""

    actor: Actor
    member_id: str
    reason: str


@dataclass(frozen=True)
class EraseHousehold:
    """Record a household's erasure with its residents'; the caller destroys their keys first."""

    actor: Actor
    household_id: str


@dataclass(frozen=True)
class EraseResident:
    """Record a resident's erasure; the caller destroys their key first."""

    actor: Actor
    household_id: str
    resident_id: str


@dataclass(frozen=True)
class EraseEnterpriseContact:
    """Record an enterprise contact person's erasure; returns whose key the caller destroys."""

    actor: Actor
    enterprise_id: str
