"""The search index: what residents, members, households and enterprises are found by, as blind
indexes (keyed digests of normalised terms, `domain.search_terms`), never as typed.

One entry per thing found (a resident, a member, a household, an enterprise, an enterprise's
contact person), with what a hit opens and the unit it lies in (the reader's scope filters on it);
its terms' digests beside it. The projection digests the decrypted names and phones it is handed,
with the store's cipher (`fourlinks_kernel.projection.Keyed`). A person's entry goes with them:
the erasure events delete it and every one of its digests, so an erased person is found by
nothing, and a rebuild (their key destroyed) never makes it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from sqlalchemy import Column, Connection, Index, MetaData, String, Table, select

from fourlinks_contracts.members import (
    EnterpriseContactErased,
    EnterpriseRegistered,
    HouseholdErased,
    HouseholdRegistered,
    MemberErased,
    MemberProfileUpdated,
    MemberRegistered,
    MemberTransferred,
    ResidentAdded,
    ResidentErased,
)
from fourlinks_kernel.batch_rows import BatchRows
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import insert_row, update_rows
from fourlinks_members.domain.search_terms import (
    Term,
    credit_code_terms,
    name_terms,
    phone_terms,
    room_terms,
)

metadata = MetaData()
ID = String(36)
RESIDENT, MEMBER, HOUSEHOLD, ENTERPRISE, ENTERPRISE_CONTACT = (
    "resident",
    "member",
    "household",
    "enterprise",
    "enterprise_contact",
)
search_entries = Table(
    "search_entries",
    metadata,
    Column("entry_id", ID, primary_key=True),  # the person's or the contact's own id
    Column("kind", String(20), nullable=False),
    Column("target_id", ID, nullable=False, index=True),  # what a hit opens: a household, an enterprise
    Column("org_unit", String(512), nullable=False, index=True),
)
search_terms = Table(
    "search_terms",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("entry_id", ID, primary_key=True),
    Index("ix_search_terms_entry", "entry_id"),
)


class SearchProjection:
    """Entries and the digests of their terms; erased people leave no row behind."""

    name: ClassVar[str] = "members.search"
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = "members.>"
    handles: ClassVar[frozenset[str]] = frozenset(
        {
            "MemberRegistered",
            "MemberProfileUpdated",
            "MemberTransferred",
            "MemberErased",
            "HouseholdRegistered",
            "ResidentAdded",
            "ResidentErased",
            "HouseholdErased",
            "EnterpriseRegistered",
            "EnterpriseContactErased",
        }
    )

    def __init__(self) -> None:
        self.cipher: PersonalDataCipher | None = None
        # Within a micro-batch: the unit of each household a resident joins (one read per batch).
        self.households = BatchRows(search_entries, ("org_unit",), "entry_id")

    def use_cipher(self, cipher: PersonalDataCipher) -> None:
        """Digest terms with this cipher's index key (the one queries digest with)."""
        self.cipher = cipher

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """The households the batch's residents join, in one read."""
        joined = (e.event.household_id for e in events if isinstance(e.event, ResidentAdded))
        self.households.begin(conn, joined)

    def end_batch(self, conn: Connection) -> None:
        self.households.end()

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """Dispatch one event to the entries it changes."""
        event = recorded.event
        for handler in (self._people, self._contacts):
            if handler(conn, event):
                return

    def _people(self, conn: Connection, event: DomainEvent) -> bool:
        match event:
            case MemberRegistered() if event.name is not None:
                self._enter(conn, event.member_id, MEMBER, event.member_id, event.org_unit)
                self._index(conn, event.member_id, name_terms(event.name) | phone_terms(event.public_phone))
            case MemberProfileUpdated():
                self._forget_terms(conn, [event.member_id])
                if event.name is not None:
                    terms = name_terms(event.name) | phone_terms(event.public_phone)
                    self._index(conn, event.member_id, terms)
            case MemberTransferred():
                update_rows(conn, search_entries, {"entry_id": event.member_id}, {"org_unit": event.to_unit})
            case MemberErased():
                self._forget(conn, [event.member_id])
            case ResidentAdded() if event.name is not None:
                household = self.households.get(conn, event.household_id)
                if household is None:  # the projection halts on it, as on any event it cannot apply
                    raise LookupError(f"a resident of household {event.household_id}, not indexed")
                unit = household["org_unit"]
                self._enter(conn, event.resident_id, RESIDENT, event.household_id, unit)
                self._index(conn, event.resident_id, name_terms(event.name) | phone_terms(event.phone))
            case ResidentErased():
                self._forget(conn, [event.resident_id])
            case _:
                return False
        return True

    def _contacts(self, conn: Connection, event: DomainEvent) -> bool:
        match event:
            case HouseholdRegistered():
                self._enter(conn, event.household_id, HOUSEHOLD, event.household_id, event.org_unit)
                self.households.put({"entry_id": event.household_id, "org_unit": event.org_unit})
                self._index(conn, event.household_id, room_terms(event.room))
            case HouseholdErased():  # its residents' entries (erased just before) and its own
                theirs = select(search_entries.c.entry_id).where(
                    search_entries.c.target_id == event.household_id
                )
                self._forget(conn, list(conn.scalars(theirs)))
            case EnterpriseRegistered():
                firm, unit = event.enterprise_id, event.org_unit
                self._enter(conn, firm, ENTERPRISE, firm, unit)
                self._index(conn, firm, name_terms(event.name) | credit_code_terms(event.credit_code))
                if event.contact_name is not None:
                    person = event.contact_person_id
                    self._enter(conn, person, ENTERPRISE_CONTACT, firm, unit)
                    terms = name_terms(event.contact_name) | phone_terms(event.contact_phone)
                    self._index(conn, person, terms)
            case EnterpriseContactErased():
                self._forget(conn, [event.contact_person_id])
            case _:
                return False
        return True

    def _enter(self, conn: Connection, entry_id: str, kind: str, target_id: str, org_unit: str) -> None:
        values = {"entry_id": entry_id, "kind": kind, "target_id": target_id, "org_unit": org_unit}
        insert_row(conn, search_entries, values)

    def _index(self, conn: Connection, entry_id: str, terms: Iterable[Term]) -> None:
        """The digests of an entry's terms (each once)."""
        if self.cipher is None:
            raise LookupError("the search index needs the store's cipher to digest names and phones")
        blind = self.cipher.blind_index
        for token in sorted({blind(term.value, purpose=term.purpose) for term in terms}):
            insert_row(conn, search_terms, {"token": token, "entry_id": entry_id})

    def _forget_terms(self, conn: Connection, entry_ids: list[str]) -> None:
        conn.execute(search_terms.delete().where(search_terms.c.entry_id.in_(entry_ids)))

    def _forget(self, conn: Connection, entry_ids: list[str]) -> None:
        """An erased person: their entry and every digest of it."""
        self._forget_terms(conn, entry_ids)
        conn.execute(search_entries.delete().where(search_entries.c.entry_id.in_(entry_ids)))
