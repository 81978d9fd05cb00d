"""What the members service's read routes answer, typed (OpenAPI shows every field). Blind
indexes (`phone_index`) are never part of an answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

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
MemberPage = page_of(MemberView)
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
    """A service matter on a card: its code and its label."""

    code: str
    label: str


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
    name: str
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
    public_phone: str
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
    """A unit's coverage: households and enterprises in an active card's scope, members' load."""

    unit: str
    households: ContactCounts
    enterprises: ContactCounts
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
