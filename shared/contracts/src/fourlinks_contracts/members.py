"""Events of the members context: org units, party members and their 1 + X teams, households,
enterprises, service cards and the links between cards and contacts, visits.

Members' names and public phones (on their registration, profile and cards), residents' and
contact persons' names, phones and vulnerability flags, helpers' names and phones, and visit notes
are personal data, sealed with the key of the person they belong to: a member is a person too, and
one who has left can be erased like a resident (history then keeps "a member", not who).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from fourlinks_kernel.events import DomainEvent

CONTEXT = "members"
STREET_DEPTH, COMMUNITY_DEPTH = 2, 3
"""Where streets and communities sit in an org-unit path: district/street/community/..."""


def unit_at_depth(path: str, depth: int) -> str | None:
    """The unit a path lies in at a depth (its community at COMMUNITY_DEPTH, its street at
    STREET_DEPTH), or None for a path above that depth."""
    parts = path.split("/")
    return "/".join(parts[:depth]) if len(parts) >= depth else None


def community_or_above(path: str) -> str:
    """The community a path lies in, or the path itself above a community: where counters that
    serve community and street figures count it."""
    return "/".join(path.split("/")[:COMMUNITY_DEPTH])


def building_or_above(path: str) -> str:
    """The building (grid, natural village) a path lies in, or the path itself above any building
    (a community's own enterprises): where counts by building count it."""
    return "/".join(path.split("/")[: COMMUNITY_DEPTH + 1])


def group_unit(path: str, by: str) -> str | None:
    """The community or street a KPI row about `path` counts in (`by`: community or street)."""
    return unit_at_depth(path, COMMUNITY_DEPTH if by == "community" else STREET_DEPTH)


def group_in(path: str, *, by: str, root: str) -> str | None:
    """The group a KPI row about `path` (a unit under `root`) counts in when `root`'s figures are
    asked `by`: its community or street; `unit`: `root` itself, the unit as a whole; `child`: the
    unit right below `root` the path lies in (a row about `root` itself is `root`'s own)."""
    if by == "unit":
        return root
    if by == "child":
        return unit_at_depth(path, len(root.split("/")) + 1) or root
    return group_unit(path, by)


def grouped_at_or_above_community(root: str, by: str) -> bool:
    """Whether `root`'s groups asked `by` (community, street, unit or child) lie at a community or
    above, so that counters kept per community (or the unit above one) answer them."""
    depth = len(root.split("/")) + (1 if by == "child" else 0)
    return depth <= COMMUNITY_DEPTH


class OrgLevel(StrEnum):
    """District → street or town → community or village → grid, natural village or building."""

    DISTRICT = "district"
    STREET = "street"
    TOWN = "town"
    COMMUNITY = "community"
    VILLAGE = "village"
    GRID = "grid"
    NATURAL_VILLAGE = "natural_village"
    BUILDING = "building"


PARENT_LEVELS: dict[OrgLevel, tuple[OrgLevel, ...]] = {
    OrgLevel.DISTRICT: (),
    OrgLevel.STREET: (OrgLevel.DISTRICT,),
    OrgLevel.TOWN: (OrgLevel.DISTRICT,),
    OrgLevel.COMMUNITY: (OrgLevel.STREET, OrgLevel.TOWN),
    OrgLevel.VILLAGE: (OrgLevel.STREET, OrgLevel.TOWN),
    OrgLevel.GRID: (OrgLevel.COMMUNITY, OrgLevel.VILLAGE),
    OrgLevel.NATURAL_VILLAGE: (OrgLevel.VILLAGE,),
    OrgLevel.BUILDING: (OrgLevel.COMMUNITY, OrgLevel.GRID),
}
CONTACT_LEVELS = (
    OrgLevel.COMMUNITY,
    OrgLevel.VILLAGE,
    OrgLevel.GRID,
    OrgLevel.NATURAL_VILLAGE,
    OrgLevel.BUILDING,
)
"""Where members, households and enterprises are registered: a community or village and below."""


class DeactivationReason(StrEnum):
    """Why a member stops serving."""

    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    RETIRED = "retired"
    OTHER = "other"


class HelperRole(StrEnum):
    """The X of a "1 + X" team; helpers need not be party members."""

    VILLAGE_GROUP_LEADER = "village_group_leader"
    BUILDING_CHIEF = "building_chief"
    PROPERTY_STAFF = "property_staff"
    OWNERS_COMMITTEE_MEMBER = "owners_committee_member"


class ContactKind(StrEnum):
    """What a service card links a member to."""

    HOUSEHOLD = "household"
    ENTERPRISE = "enterprise"


class Urgency(StrEnum):
    """How soon a problem needs action."""

    URGENT = "urgent"
    GENERAL = "general"
    COMPLEX = "complex"


class OrgUnitCreated(DomainEvent):
    """An org unit was created under its parent; its path never changes."""

    event_type: ClassVar[str] = "OrgUnitCreated"
    unit_id: str
    path: str
    code: str
    name: str
    level: OrgLevel
    parent_id: str | None


class OrgUnitRenamed(DomainEvent):
    """An org unit got a new display name; its path and code stay."""

    event_type: ClassVar[str] = "OrgUnitRenamed"
    unit_id: str
    name: str
    previous_name: str


class MemberRegistered(DomainEvent):
    """A party member was registered in their home org unit, with a capacity of contacts."""

    event_type: ClassVar[str] = "MemberRegistered"
    personal_fields: ClassVar[tuple[str, ...]] = ("name", "public_phone")
    data_subject_field: ClassVar[str | None] = "member_id"
    member_id: str
    name: str | None
    public_phone: str | None
    party_branch: str
    org_unit: str
    capacity: int


class MemberProfileUpdated(DomainEvent):
    """A member's card-facing details or capacity changed (all current values)."""

    event_type: ClassVar[str] = "MemberProfileUpdated"
    personal_fields: ClassVar[tuple[str, ...]] = ("name", "public_phone")
    data_subject_field: ClassVar[str | None] = "member_id"
    member_id: str
    name: str | None
    public_phone: str | None
    party_branch: str
    capacity: int


class MemberTransferred(DomainEvent):
    """A member moved to another org unit; their card was revoked in the same command."""

    event_type: ClassVar[str] = "MemberTransferred"
    member_id: str
    from_unit: str
    to_unit: str
    reason: str


class MemberDeactivated(DomainEvent):
    """A member stopped serving; their card was revoked and contacts unlinked in the same command."""

    event_type: ClassVar[str] = "MemberDeactivated"
    member_id: str
    org_unit: str
    reason: DeactivationReason
    note: str
    suggested_replacement_id: str | None


class MemberErased(DomainEvent):
    """A member who left had their key destroyed: their name and public phone are unreadable in
    history for good and gone from every read model; what they did is kept, done by "a member"."""

    event_type: ClassVar[str] = "MemberErased"
    erased_person_field: ClassVar[str | None] = "member_id"
    member_id: str
    org_unit: str


class HelperAttached(DomainEvent):
    """A helper joined a member's 1 + X team."""

    event_type: ClassVar[str] = "HelperAttached"
    personal_fields: ClassVar[tuple[str, ...]] = ("name", "phone")
    data_subject_field: ClassVar[str | None] = "helper_id"
    member_id: str
    helper_id: str
    role: HelperRole
    name: str | None
    phone: str | None


class HelperDetached(DomainEvent):
    """A helper left a member's team."""

    event_type: ClassVar[str] = "HelperDetached"
    member_id: str
    helper_id: str
    reason: str


class HouseholdRegistered(DomainEvent):
    """A household at an address: its building or natural village, unit and room."""

    event_type: ClassVar[str] = "HouseholdRegistered"
    household_id: str
    org_unit: str
    unit_no: str
    room: str
    visit_cadence_days: int


class ResidentAdded(DomainEvent):
    """A resident of a household; name, phone and vulnerability flags are sealed with their key."""

    event_type: ClassVar[str] = "ResidentAdded"
    personal_fields: ClassVar[tuple[str, ...]] = ("name", "phone", "elderly_living_alone", "disability")
    data_subject_field: ClassVar[str | None] = "resident_id"
    household_id: str
    resident_id: str
    name: str | None
    phone: str | None
    phone_index: str | None
    elderly_living_alone: bool | None
    disability: bool | None


class ResidentErased(DomainEvent):
    """A resident's key was destroyed: their personal fields are gone from every read model."""

    event_type: ClassVar[str] = "ResidentErased"
    erased_person_field: ClassVar[str | None] = "resident_id"
    household_id: str
    resident_id: str


class HouseholdErased(DomainEvent):
    """A household's key was destroyed, after its residents': what it reported (feedback, photos,
    answers, comments, the descriptions of tasks raised from it, visit notes) is unreadable for good
    and gone from every read model."""

    event_type: ClassVar[str] = "HouseholdErased"
    erased_person_field: ClassVar[str | None] = "household_id"
    household_id: str


class EnterpriseRegistered(DomainEvent):
    """An enterprise in a community, with its contact person (personal data, sealed)."""

    event_type: ClassVar[str] = "EnterpriseRegistered"
    personal_fields: ClassVar[tuple[str, ...]] = ("contact_name", "contact_phone")
    data_subject_field: ClassVar[str | None] = "contact_person_id"
    enterprise_id: str
    org_unit: str
    name: str
    credit_code: str
    address: str
    contact_person_id: str
    contact_name: str | None
    contact_phone: str | None
    phone_index: str | None


class CreditCodeClaimed(DomainEvent):
    """A unified social credit code taken by one enterprise: one enterprise per code, atomically
    (the claim and the registration are appended together, each with its expectation)."""

    event_type: ClassVar[str] = "CreditCodeClaimed"
    claim_id: str
    credit_code: str
    enterprise_id: str


class EnterpriseContactErased(DomainEvent):
    """An enterprise's contact person was erased."""

    event_type: ClassVar[str] = "EnterpriseContactErased"
    erased_person_field: ClassVar[str | None] = "contact_person_id"
    enterprise_id: str
    contact_person_id: str


class ServiceCardIssued(DomainEvent):
    """A Four Links service card: who (member, public phone), for whom (scope), for what (matters)."""

    event_type: ClassVar[str] = "ServiceCardIssued"
    personal_fields: ClassVar[tuple[str, ...]] = ("public_phone",)
    data_subject_field: ClassVar[str | None] = "member_id"
    card_id: str
    member_id: str
    org_unit: str
    public_phone: str | None
    households: list[str]
    enterprises: list[str]
    matters: list[str]
    matters_note: str


class ServiceCardRevised(DomainEvent):
    """A new revision of a card (full scope and matters); earlier revisions stay in history."""

    event_type: ClassVar[str] = "ServiceCardRevised"
    personal_fields: ClassVar[tuple[str, ...]] = ("public_phone",)
    data_subject_field: ClassVar[str | None] = "member_id"
    card_id: str
    member_id: str
    revision: int
    public_phone: str | None
    households: list[str]
    enterprises: list[str]
    matters: list[str]
    matters_note: str
    reason: str


class ServiceCardRevoked(DomainEvent):
    """A card stopped being valid; its contacts were unlinked in the same command."""

    event_type: ClassVar[str] = "ServiceCardRevoked"
    card_id: str
    member_id: str
    reason: str


class ContactLinked(DomainEvent):
    """A household or enterprise entered an active card's scope: this member is now theirs."""

    event_type: ClassVar[str] = "ContactLinked"
    contact_id: str
    contact_kind: ContactKind
    card_id: str
    member_id: str


class ContactUnlinked(DomainEvent):
    """A household or enterprise left a card's scope; until linked again it is uncovered."""

    event_type: ClassVar[str] = "ContactUnlinked"
    contact_id: str
    contact_kind: ContactKind
    card_id: str
    member_id: str
    reason: str


class VisitRecorded(DomainEvent):
    """A member visited a contact; a problem found here can become a task."""

    event_type: ClassVar[str] = "VisitRecorded"
    personal_fields: ClassVar[tuple[str, ...]] = ("notes", "problem_description")
    data_subject_field: ClassVar[str | None] = "contact_id"
    visit_id: str
    contact_id: str
    contact_kind: ContactKind
    org_unit: str
    member_id: str
    visited_on: date
    notes: str | None
    problem_found: bool
    problem_category: str | None
    problem_description: str | None
    problem_urgency: Urgency | None


EVENTS: tuple[type[DomainEvent], ...] = (
    OrgUnitCreated,
    OrgUnitRenamed,
    MemberRegistered,
    MemberProfileUpdated,
    MemberTransferred,
    MemberDeactivated,
    MemberErased,
    HelperAttached,
    HelperDetached,
    HouseholdRegistered,
    ResidentAdded,
    ResidentErased,
    HouseholdErased,
    EnterpriseRegistered,
    CreditCodeClaimed,
    EnterpriseContactErased,
    ServiceCardIssued,
    ServiceCardRevised,
    ServiceCardRevoked,
    ContactLinked,
    ContactUnlinked,
    VisitRecorded,
)
