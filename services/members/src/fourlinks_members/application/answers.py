"""What the members service's read routes answer, typed (OpenAPI shows every field). Blind
indexes (`phone_index`) are never part of an answer."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from fourlinks_members.projections.directory import (
    contact_links,
    enterprises,
    helpers,
    households,
    members,
    residents,
)
from fourlinks_runtime.answers import Moment, page_of, row_model

HIDDEN = frozenset({"phone_index"})
Resident = row_model(
    "Resident",
    residents,
    doc="A resident (personal data; an erased resident's fields are null).",
    exclude=HIDDEN | {"household_id"},
)
MemberView = row_model("Member", members, doc="A party member: home unit, capacity, contacts served, status.")
ListedMember = row_model(
    "ListedMember",
    members,
    doc="A party member in a list: home unit, capacity, contacts served (over capacity?), status.",
    fields={"over_capacity": bool},
)
MemberPage = page_of(ListedMember)
Household = row_model(
    "Household",
    households,
    doc="A household, its card and member (if covered), its visit cadence, and its residents.",
    fields={"residents": list[Resident]},  # type: ignore[valid-type]
)
HouseholdPage = page_of(Household)
HouseholdRow = row_model("HouseholdRow", households, doc="A household as a lookup finds it.")
Enterprise = row_model(
    "Enterprise",
    enterprises,
    doc="An enterprise, its contact person (personal data), its card and member (if covered).",
    exclude=HIDDEN,
)
EnterprisePage = page_of(Enterprise)
Helper = row_model("Helper", helpers, doc="A helper of a member's 1 + X team (personal data).")
ContactLink = row_model(
    "ContactLink", contact_links, doc="A stretch of time when a card linked the contact to a member."
)


class Suggestion(BaseModel):
    """A nearby member with spare capacity (nearness: 3 same building, 2 grid, 1 community)."""

    member_id: str
    name: str
    org_unit: str
    spare_capacity: int
    nearness: int


class ServiceMatter(BaseModel):
    """A service matter of the catalogue (or on a card): its code, its Chinese and English labels."""

    code: str
    label: str
    label_en: str


class CardView(BaseModel):
    """A service card as a household or a dashboard shows it."""

    card_id: str
    revision: int
    status: str
    public_phone: str
    service_matters: list[ServiceMatter]
    matters_note: str


class CardMember(BaseModel):
    """Who the card's member is."""

    member_id: str
    name: str | None  # None: the member was erased
    party_branch: str


class ContactCard(BaseModel):
    """ "Who is my member, their phone, their service matters" for a household or enterprise."""

    contact_id: str
    covered: bool
    member: CardMember | None
    card: CardView | None


class MemberOn(BaseModel):
    """Who was a contact's member on a date, with the link that said so."""

    contact_id: str
    on: date
    member_id: str | None
    link: ContactLink | None  # type: ignore[valid-type]


class CardRevision(BaseModel):
    """One revision of a card and the time it was in force."""

    card_id: str
    revision: int
    member_id: str
    public_phone: str | None  # None: the member was erased
    matters_note: str
    reason: str
    households: list[str]
    enterprises: list[str]
    service_matters: list[str]
    valid_from: Moment
    valid_to: Moment | None


class ContactCounts(BaseModel):
    """How many contacts of a kind a unit has, and how many an active card covers."""

    total: int
    covered: int
    uncovered: int


class Coverage(BaseModel):
    """A unit's coverage: households and enterprises in an active card's scope (`uncovered`: of
    both kinds, not in one), members' load."""

    unit: str
    households: ContactCounts
    enterprises: ContactCounts
    uncovered: int
    members_active: int
    members_over_capacity: int
    coverage_rate: float | None


class UnitCoverage(Coverage):
    """The coverage of one unit below another, with the unit's name."""

    name: str


class UncoveredContact(BaseModel):
    """An uncovered household or enterprise with the members who could take it on."""

    org_unit: str
    household_id: str | None = None
    enterprise_id: str | None = None
    name: str | None = None
    room: str | None = None
    suggested_members: list[Suggestion]


class UncoveredPage(BaseModel):
    """One page of uncovered contacts."""

    items: list[UncoveredContact]
    total: int
    limit: int
    offset: int


class DashboardHousehold(Household):  # type: ignore[valid-type,misc]
    """A household on a member's dashboard: is its visit overdue?"""

    overdue: bool


class Dashboard(BaseModel):
    """A member's card, team, contacts and overdue visits."""

    member: MemberView  # type: ignore[valid-type]
    over_capacity: bool
    card: CardView | None
    team: list[Helper]  # type: ignore[valid-type]
    households: list[DashboardHousehold]
    enterprises: list[Enterprise]  # type: ignore[valid-type]
    overdue_visits: list[str]


class Visit(BaseModel):
    """A visit as a unit's ledger lists it: who visited which household or enterprise, on which
    day, and the problem found (its words are null once the household was erased)."""

    visit_id: str
    member_id: str
    contact_kind: str
    contact_id: str
    org_unit: str
    visited_on: date
    problem_found: bool
    problem_category: str | None
    problem_description: str | None
    problem_urgency: str | None
    enterprise_name: str | None  # an enterprise visited: its name and address
    enterprise_address: str | None


VisitPage = page_of(Visit)


class Place(BaseModel):
    """Where a household or enterprise is: the units below the street (community, building), and
    a household's stairwell and room, or an enterprise's name and address."""

    units: list[str]
    unit_no: str | None = None
    room: str | None = None
    name: str | None = None
    address: str | None = None


class DoorwayMember(CardMember):
    """The member a card's link names, with the public phone of their card."""

    public_phone: str | None


class Doorway(BaseModel):
    """What a printed card's link opens: the contact's place, its member now, and whether the card
    printed was replaced since (revised, revoked, or another card covers the contact now)."""

    contact_kind: str
    contact_id: str
    org_unit: str
    place: Place
    printed_revision: int
    replaced: bool
    member: DoorwayMember | None
    card: CardView | None


class CardScope(BaseModel):
    """A card's contact scope: the buildings its households live in, and how many of each."""

    buildings: list[str]
    households: int
    enterprises: int


class PrintedContact(BaseModel):
    """A household or enterprise a card covers, with the link its printed card's QR code holds."""

    kind: str
    contact_id: str
    org_unit: str
    place: Place
    link: str = Field(description="the card's signed link: GET /doorway/{link}")


class PrintedCard(BaseModel):
    """A card in force as it is printed, one copy for the member and one per contact."""

    card_id: str
    member_id: str
    member_name: str | None
    public_phone: str | None
    party_branch: str
    org_unit: str
    units: list[str]
    service_matters: list[str]
    matters_note: str
    revision: int
    since: datetime
    reason: str
    scope: CardScope
    contacts: list[PrintedContact]


class ContactVisit(BaseModel):
    """A visit to one household or enterprise: by whom, when, the problem found (its words are
    null once the household was erased)."""

    visit_id: str
    member_id: str
    visited_on: date
    problem_found: bool
    problem_category: str | None
    problem_description: str | None
    problem_urgency: str | None


class ResidentHit(BaseModel):
    """A resident a search found: their name, the last 4 digits of their phone, their household."""

    resident_id: str
    household_id: str
    name: str | None
    phone_tail: str | None
    org_unit: str
    unit_no: str
    room: str


class MemberHit(BaseModel):
    """A party member a search found."""

    member_id: str
    name: str | None
    phone_tail: str | None
    org_unit: str
    status: str
    card_id: str | None


class HouseholdHit(BaseModel):
    """A household a search found: its place, its member, its residents' names."""

    household_id: str
    org_unit: str
    unit_no: str
    room: str
    member_id: str | None
    residents: list[str | None]


class EnterpriseHit(BaseModel):
    """An enterprise a search found."""

    enterprise_id: str
    name: str
    credit_code: str
    org_unit: str
    address: str
    member_id: str | None


class SearchAnswer(BaseModel):
    """What a search found in the reader's scope, by group (the most exact reading first); a group
    the reader's role does not search is empty."""

    q: str
    unit: str
    residents: list[ResidentHit]
    members: list[MemberHit]
    households: list[HouseholdHit]
    enterprises: list[EnterpriseHit]
