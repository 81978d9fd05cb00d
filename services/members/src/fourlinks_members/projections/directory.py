"""Read models of members, teams, households, enterprises, cards, card history, links and visits.

One projection, one checkpoint: the tables answer joined questions (a household's card, a member's
dashboard, coverage) and must agree with each other at every position.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    select,
)

from fourlinks_contracts.members import (
    ContactKind,
    ContactLinked,
    ContactUnlinked,
    EnterpriseContactErased,
    EnterpriseRegistered,
    HelperAttached,
    HelperDetached,
    HouseholdErased,
    HouseholdRegistered,
    MemberDeactivated,
    MemberErased,
    MemberProfileUpdated,
    MemberRegistered,
    MemberTransferred,
    ResidentAdded,
    ResidentErased,
    ServiceCardIssued,
    ServiceCardRevised,
    ServiceCardRevoked,
    VisitRecorded,
)
from fourlinks_kernel.batch_rows import BatchRows
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import Added, insert_row, update_rows
from fourlinks_members.projections.coverage_counters import (
    CONTACT_COLUMNS,
    MEMBER_COLUMNS,
    Counts,
    CoverageCounters,
    coverage_table,
    enterprise_counts,
    household_counts,
    member_counts,
)

metadata = MetaData()
ID = String(36)
members = Table(
    "members",
    metadata,
    Column("member_id", ID, primary_key=True),
    Column("name", String(100)),
    Column("public_phone", String(40)),
    Column("party_branch", String(200), nullable=False),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("capacity", Integer, nullable=False),
    Column("contact_count", Integer, nullable=False, default=0),
    Column("status", String(20), nullable=False),
    Column("deactivation_reason", String(40)),
    Column("card_id", ID),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("erased", Boolean, nullable=False, default=False),
)
helpers = Table(
    "helpers",
    metadata,
    Column("helper_id", ID, primary_key=True),
    Column("member_id", ID, nullable=False, index=True),
    Column("role", String(40), nullable=False),
    Column("name", String(100)),
    Column("phone", String(40)),
    Column("erased", Boolean, nullable=False, default=False),
)
households = Table(
    "households",
    metadata,
    Column("household_id", ID, primary_key=True),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("unit_no", String(20), nullable=False),
    Column("room", String(20), nullable=False),
    Column("visit_cadence_days", Integer, nullable=False),
    Column("card_id", ID, index=True),
    Column("member_id", ID, index=True),
    Column("last_visit_on", Date),
    Column("visit_due_on", Date, nullable=False, index=True),
    Column("registered_at", UtcDateTime(), nullable=False),
)
residents = Table(
    "residents",
    metadata,
    Column("resident_id", ID, primary_key=True),
    Column("household_id", ID, nullable=False, index=True),
    Column("name", String(100)),
    Column("phone", String(40)),
    Column("phone_index", String(32), index=True),
    Column("elderly_living_alone", Boolean),
    Column("disability", Boolean),
    Column("erased", Boolean, nullable=False, default=False),
)
enterprises = Table(
    "enterprises",
    metadata,
    Column("enterprise_id", ID, primary_key=True),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("credit_code", String(18), nullable=False, index=True),
    Column("address", String(300), nullable=False),
    Column("contact_person_id", ID, nullable=False),
    Column("contact_name", String(100)),
    Column("contact_phone", String(40)),
    Column("phone_index", String(32), index=True),
    Column("contact_erased", Boolean, nullable=False, default=False),
    Column("card_id", ID, index=True),
    Column("member_id", ID, index=True),
    Column("last_visit_on", Date),
)
cards = Table(
    "cards",
    metadata,
    Column("card_id", ID, primary_key=True),
    Column("member_id", ID, nullable=False, unique=True),
    Column("org_unit", String(512), nullable=False),
    Column("public_phone", String(40)),
    Column("matters", Text, nullable=False),
    Column("matters_note", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
card_revisions = Table(
    "card_revisions",
    metadata,
    Column("card_id", ID, primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("member_id", ID, nullable=False),
    Column("public_phone", String(40)),
    Column("households", Text, nullable=False),
    Column("enterprises", Text, nullable=False),
    Column("matters", Text, nullable=False),
    Column("matters_note", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime()),
)
contact_links = Table(
    "contact_links",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("contact_id", ID, nullable=False, index=True),
    Column("contact_kind", String(20), nullable=False),
    Column("card_id", ID, nullable=False),
    Column("member_id", ID, nullable=False),
    Column("linked_at", UtcDateTime(), nullable=False),
    Column("unlinked_at", UtcDateTime()),
    Column("unlink_reason", Text),
)
visits = Table(
    "visits",
    metadata,
    Column("visit_id", ID, primary_key=True),
    Column("contact_id", ID, nullable=False, index=True),
    Column("contact_kind", String(20), nullable=False),
    Column("org_unit", String(512), nullable=False, index=True),
    Column("member_id", ID, nullable=False, index=True),
    Column("visited_on", Date, nullable=False),
    Column("notes", Text),
    Column("problem_found", Boolean, nullable=False),
    Column("problem_category", String(60)),
    Column("problem_description", Text),
    Column("problem_urgency", String(20)),
)
coverage_counts = coverage_table(metadata)
CONTACT_TABLES = {ContactKind.HOUSEHOLD: households, ContactKind.ENTERPRISE: enterprises}
CONTACT_COUNTS: dict[ContactKind, Counts] = {
    ContactKind.HOUSEHOLD: household_counts,
    ContactKind.ENTERPRISE: enterprise_counts,
}


def contact_key(kind: ContactKind) -> Any:
    """The id column of a contact table."""
    table = CONTACT_TABLES[kind]
    return table.c.household_id if kind == ContactKind.HOUSEHOLD else table.c.enterprise_id


class DirectoryProjection:
    """Members, teams, contacts, cards and their history, visits, and coverage's counters."""

    name: ClassVar[str] = "members.directory"
    # 2: members' names and phones are personal data (nullable, erasable); 3: coverage's counters
    version: ClassVar[int] = 3
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = "members.>"
    handles: ClassVar[frozenset[str]] = frozenset(
        {
            "MemberRegistered",
            "MemberProfileUpdated",
            "MemberTransferred",
            "MemberDeactivated",
            "MemberErased",
            "HelperAttached",
            "HelperDetached",
            "HouseholdRegistered",
            "ResidentAdded",
            "ResidentErased",
            "HouseholdErased",
            "EnterpriseRegistered",
            "EnterpriseContactErased",
            "ServiceCardIssued",
            "ServiceCardRevised",
            "ServiceCardRevoked",
            "ContactLinked",
            "ContactUnlinked",
            "VisitRecorded",
        }
    )

    def __init__(self) -> None:
        # Within a micro-batch, the rows it changes as they stand, each read once at its start (a
        # read per event held every write of the batch back a round trip): when each household it
        # visits was last visited and its cadence; what coverage counts of each contact and member.
        self.households = BatchRows(
            households, ("last_visit_on", "visit_cadence_days", *CONTACT_COLUMNS), "household_id"
        )
        self.enterprises = BatchRows(enterprises, CONTACT_COLUMNS, "enterprise_id")
        self.members = BatchRows(members, MEMBER_COLUMNS, "member_id")
        self.coverage = CoverageCounters(coverage_counts)

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """The households, enterprises and members the batch changes, in a read each."""
        self.coverage.begin()
        contacts: dict[ContactKind, set[str]] = {kind: set() for kind in CONTACT_TABLES}
        changed_members = set()
        for recorded in events:
            event = recorded.event
            if isinstance(event, VisitRecorded | ContactLinked | ContactUnlinked):
                contacts[event.contact_kind].add(event.contact_id)
            if isinstance(event, _MEMBER_CHANGES):
                changed_members.add(event.member_id)
        self.households.begin(conn, contacts[ContactKind.HOUSEHOLD])
        self.enterprises.begin(conn, contacts[ContactKind.ENTERPRISE])
        self.members.begin(conn, changed_members)

    def end_batch(self, conn: Connection) -> None:
        self.coverage.end(conn)
        for rows in (self.households, self.enterprises, self.members):
            rows.end()

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """Dispatch one event to the rows it changes."""
        when = recorded.envelope.occurred_at
        event = recorded.event
        for handler in (self._members, self._contacts, self._cards):
            if handler(conn, event, when, recorded.position):
                break
        if not self.members.in_batch:  # an event applied on its own: its counters written at once
            self.coverage.end(conn)

    def _contact_rows(self, kind: ContactKind) -> BatchRows:
        return self.households if kind == ContactKind.HOUSEHOLD else self.enterprises

    def _change_member(self, conn: Connection, member_id: str, changes: dict[str, Any]) -> None:
        self.coverage.changed(conn, self.members, member_counts, member_id, changes)
        update_rows(conn, members, {"member_id": member_id}, changes)

    def _change_contact(
        self, conn: Connection, kind: ContactKind, contact_id: str, changes: dict[str, Any]
    ) -> None:
        self.coverage.changed(conn, self._contact_rows(kind), CONTACT_COUNTS[kind], contact_id, changes)
        update_rows(conn, CONTACT_TABLES[kind], {contact_key(kind).name: contact_id}, changes)

    def _added(self, conn: Connection, kind: ContactKind | None, row: dict[str, Any]) -> None:
        """A contact (or, `kind` None, a member) was inserted: it counts from now."""
        rows, counts = (
            (self.members, member_counts)
            if kind is None
            else (self._contact_rows(kind), CONTACT_COUNTS[kind])
        )
        rows.put(row)
        self.coverage.moved(counts, None, row)

    def _members(self, conn: Connection, event: DomainEvent, when: datetime, _: int) -> bool:
        match event:
            case MemberRegistered():
                row = {
                    "member_id": event.member_id,
                    "name": event.name,
                    "public_phone": event.public_phone,
                    "party_branch": event.party_branch,
                    "org_unit": event.org_unit,
                    "capacity": event.capacity,
                    "contact_count": 0,
                    "status": "active",
                    "registered_at": when,
                    "erased": event.name is None,
                }
                insert_row(conn, members, row)
                self._added(conn, None, row)
            case MemberProfileUpdated():
                self._change_member(
                    conn,
                    event.member_id,
                    {
                        "name": event.name,
                        "public_phone": event.public_phone,
                        "party_branch": event.party_branch,
                        "capacity": event.capacity,
                    },
                )
            case MemberTransferred():
                self._change_member(conn, event.member_id, {"org_unit": event.to_unit})
            case MemberDeactivated():
                self._change_member(
                    conn,
                    event.member_id,
                    {"status": "deactivated", "deactivation_reason": event.reason.value},
                )
            case MemberErased():
                _forget_member(conn, event.member_id)
            case HelperAttached():
                insert_row(
                    conn,
                    helpers,
                    {
                        "helper_id": event.helper_id,
                        "member_id": event.member_id,
                        "role": event.role.value,
                        "name": event.name,
                        "phone": event.phone,
                        "erased": event.name is None,
                    },
                )
            case HelperDetached():
                conn.execute(helpers.delete().where(helpers.c.helper_id == event.helper_id))
            case _:
                return False
        return True

    def _contacts(self, conn: Connection, event: DomainEvent, when: datetime, position: int) -> bool:
        match event:
            case HouseholdRegistered():
                due = when.date() + timedelta(days=event.visit_cadence_days)
                row = {
                    "household_id": event.household_id,
                    "org_unit": event.org_unit,
                    "unit_no": event.unit_no,
                    "room": event.room,
                    "visit_cadence_days": event.visit_cadence_days,
                    "visit_due_on": due,
                    "registered_at": when,
                }
                insert_row(conn, households, row)
                self._added(conn, ContactKind.HOUSEHOLD, {**row, "card_id": None, "last_visit_on": None})
            case ResidentAdded():
                insert_row(
                    conn,
                    residents,
                    {
                        "resident_id": event.resident_id,
                        "household_id": event.household_id,
                        "name": event.name,
                        "phone": event.phone,
                        "phone_index": event.phone_index,
                        "disability": event.disability,
                        "elderly_living_alone": event.elderly_living_alone,
                        "erased": event.name is None,
                    },
                )
            case ResidentErased():
                update_rows(
                    conn,
                    residents,
                    {"resident_id": event.resident_id},
                    {
                        "name": None,
                        "phone": None,
                        "phone_index": None,
                        "elderly_living_alone": None,
                        "disability": None,
                        "erased": True,
                    },
                )
            case HouseholdErased():
                erased = {"notes": None, "problem_description": None}
                update_rows(conn, visits, {"contact_id": event.household_id}, erased)
            case EnterpriseRegistered():
                row = {
                    "enterprise_id": event.enterprise_id,
                    "org_unit": event.org_unit,
                    "name": event.name,
                    "credit_code": event.credit_code,
                    "address": event.address,
                    "contact_person_id": event.contact_person_id,
                    "contact_name": event.contact_name,
                    "contact_phone": event.contact_phone,
                    "phone_index": event.phone_index,
                    "contact_erased": event.contact_name is None,
                }
                insert_row(conn, enterprises, row)
                self._added(conn, ContactKind.ENTERPRISE, {**row, "card_id": None})
            case EnterpriseContactErased():
                update_rows(
                    conn,
                    enterprises,
                    {"enterprise_id": event.enterprise_id},
                    {
                        "contact_name": None,
                        "contact_phone": None,
                        "phone_index": None,
                        "contact_erased": True,
                    },
                )
            case ContactLinked():
                self._link(conn, event, when, position)
            case ContactUnlinked():
                self._unlink(conn, event, when)
            case VisitRecorded():
                self._visit(conn, event)
            case _:
                return False
        return True

    def _cards(self, conn: Connection, event: DomainEvent, when: datetime, _: int) -> bool:
        match event:
            case ServiceCardIssued():
                values = _card_values(event, revision=None)
                conn.execute(cards.delete().where(cards.c.card_id == event.card_id))
                last = conn.scalar(
                    select(func.max(card_revisions.c.revision)).where(
                        card_revisions.c.card_id == event.card_id
                    )
                )
                revision = (last or 0) + 1
                insert_row(
                    conn, cards, {**values, "revision": revision, "status": "active", "updated_at": when}
                )
                update_rows(conn, members, {"member_id": event.member_id}, {"card_id": event.card_id})
                self._revision(conn, event, revision=revision, reason="issued", when=when)
            case ServiceCardRevised():
                last = conn.scalar(select(cards.c.revision).where(cards.c.card_id == event.card_id))
                revision = (last or 0) + 1
                update_rows(
                    conn,
                    cards,
                    {"card_id": event.card_id},
                    {**_card_values(event, revision=None), "revision": revision, "updated_at": when},
                )
                self._revision(conn, event, revision=revision, reason=event.reason, when=when)
            case ServiceCardRevoked():
                update_rows(
                    conn, cards, {"card_id": event.card_id}, {"status": "revoked", "updated_at": when}
                )
                update_rows(conn, members, {"member_id": event.member_id}, {"card_id": None})
                _update(
                    conn,
                    card_revisions,
                    and_(card_revisions.c.card_id == event.card_id, card_revisions.c.valid_to.is_(None)),
                    valid_to=when,
                )
            case _:
                return False
        return True

    def _revision(
        self,
        conn: Connection,
        event: ServiceCardIssued | ServiceCardRevised,
        *,
        revision: int,
        reason: str,
        when: datetime,
    ) -> None:
        _update(
            conn,
            card_revisions,
            and_(card_revisions.c.card_id == event.card_id, card_revisions.c.valid_to.is_(None)),
            valid_to=when,
        )
        insert_row(
            conn,
            card_revisions,
            {
                "card_id": event.card_id,
                "revision": revision,
                "member_id": event.member_id,
                "public_phone": event.public_phone,
                "households": json.dumps(event.households),
                "enterprises": json.dumps(event.enterprises),
                "matters": json.dumps(event.matters),
                "matters_note": event.matters_note,
                "reason": reason,
                "valid_from": when,
            },
        )

    def _link(self, conn: Connection, event: ContactLinked, when: datetime, position: int) -> None:
        changes = {"card_id": event.card_id, "member_id": event.member_id}
        self._change_contact(conn, event.contact_kind, event.contact_id, changes)
        self._change_member(conn, event.member_id, {"contact_count": Added(1)})
        insert_row(
            conn,
            contact_links,
            {
                "position": position,
                "contact_id": event.contact_id,
                "contact_kind": event.contact_kind.value,
                "card_id": event.card_id,
                "member_id": event.member_id,
                "linked_at": when,
            },
        )

    def _unlink(self, conn: Connection, event: ContactUnlinked, when: datetime) -> None:
        self._change_contact(conn, event.contact_kind, event.contact_id, {"card_id": None, "member_id": None})
        self._change_member(conn, event.member_id, {"contact_count": Added(-1)})
        open_link = and_(
            contact_links.c.contact_id == event.contact_id, contact_links.c.unlinked_at.is_(None)
        )
        _update(conn, contact_links, open_link, unlinked_at=when, unlink_reason=event.reason)

    def _visit(self, conn: Connection, event: VisitRecorded) -> None:
        insert_row(
            conn,
            visits,
            {
                "visit_id": event.visit_id,
                "contact_id": event.contact_id,
                "contact_kind": event.contact_kind.value,
                "org_unit": event.org_unit,
                "member_id": event.member_id,
                "visited_on": event.visited_on,
                "notes": event.notes,
                "problem_found": event.problem_found,
                "problem_category": event.problem_category,
                "problem_description": event.problem_description,
                "problem_urgency": event.problem_urgency.value if event.problem_urgency else None,
            },
        )
        if event.contact_kind == ContactKind.HOUSEHOLD:
            self._household_visited(conn, event.contact_id, event.visited_on)
        else:
            update_rows(
                conn, enterprises, {"enterprise_id": event.contact_id}, {"last_visit_on": event.visited_on}
            )

    def _household_visited(self, conn: Connection, household_id: str, visited_on: date) -> None:
        row = self.households.get(conn, household_id)
        if row is None:  # the projection halts on it, as on any event it cannot apply
            raise LookupError(f"a visit to household {household_id}, which the read model does not hold")
        latest = max(visited_on, row["last_visit_on"] or visited_on)
        changes = {
            "last_visit_on": latest,
            "visit_due_on": latest + timedelta(days=row["visit_cadence_days"]),
        }
        update_rows(conn, households, {"household_id": household_id}, changes)
        self.households.change(household_id, changes)


_MEMBER_CHANGES = (MemberProfileUpdated, MemberTransferred, MemberDeactivated, ContactLinked, ContactUnlinked)
"""The events that change what coverage counts of a member."""


def _forget_member(conn: Connection, member_id: str) -> None:
    """An erased member's name and phone leave every row that held them (members, cards, revisions)."""
    erased = {"name": None, "public_phone": None, "erased": True}
    update_rows(conn, members, {"member_id": member_id}, erased)
    update_rows(conn, cards, {"member_id": member_id}, {"public_phone": None})
    update_rows(conn, card_revisions, {"member_id": member_id}, {"public_phone": None})


def _card_values(event: ServiceCardIssued | ServiceCardRevised, *, revision: None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "card_id": event.card_id,
        "member_id": event.member_id,
        "public_phone": event.public_phone,
        "matters": json.dumps(event.matters),
        "matters_note": event.matters_note,
    }
    if isinstance(event, ServiceCardIssued):
        values["org_unit"] = event.org_unit
    return values


def _update(conn: Connection, table: Table, where: Any, **values: Any) -> None:
    conn.execute(table.update().where(where).values(**values))
