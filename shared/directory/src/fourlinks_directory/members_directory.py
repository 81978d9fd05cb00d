"""A service's own view of the members' events: who covers which contact, who is active where,
whose 1 + X team a helper is in, and which households were erased. Each service that needs it
keeps it in its own database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sqlalchemy import Boolean, Column, Connection, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.members import (
    ContactLinked,
    ContactUnlinked,
    EnterpriseRegistered,
    HelperAttached,
    HelperDetached,
    HouseholdErased,
    HouseholdRegistered,
    MemberDeactivated,
    MemberRegistered,
    MemberTransferred,
)
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.rows import update_rows, upsert_row

metadata = MetaData()
ID = String(36)
contact_members = Table(
    "contact_members",
    metadata,
    Column("contact_id", ID, primary_key=True),
    Column("member_id", ID, nullable=False, index=True),
    Column("card_id", ID, nullable=False),
)
known_members = Table(
    "known_members",
    metadata,
    Column("member_id", ID, primary_key=True),
    Column("org_unit", String(512), nullable=False),
    Column("active", Boolean, nullable=False),
)
known_contacts = Table(
    "known_contacts",
    metadata,
    Column("contact_id", ID, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("org_unit", String(512), nullable=False),
)
team_helpers = Table(
    "team_helpers",
    metadata,
    Column("helper_id", ID, primary_key=True),
    Column("member_id", ID, nullable=False, index=True),
)
erased_households = Table(
    "erased_households",
    metadata,
    Column("household_id", ID, primary_key=True),
)


class MemberDirectoryProjection:
    """contact_members, known_members, known_contacts, team_helpers and erased_households from the
    members context."""

    name: ClassVar[str] = "members_directory"
    # 2: an erased household is no longer a known contact; 3: erased households are remembered
    version: ClassVar[int] = 3
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = "members.>"
    handles: ClassVar[frozenset[str]] = frozenset(
        {
            "ContactLinked",
            "ContactUnlinked",
            "MemberRegistered",
            "MemberTransferred",
            "MemberDeactivated",
            "HelperAttached",
            "HelperDetached",
            "HouseholdRegistered",
            "HouseholdErased",
            "EnterpriseRegistered",
        }
    )
    # Who is where and whose: the names and phones sealed in these events are not decrypted here.
    reads_only: ClassVar[Mapping[str, frozenset[str]]] = {
        "MemberRegistered": frozenset({"member_id", "org_unit"}),
        "HelperAttached": frozenset({"helper_id", "member_id"}),
        "EnterpriseRegistered": frozenset({"enterprise_id", "org_unit"}),
    }

    def apply(self, conn: Connection, recorded: RecordedEvent) -> None:
        """Keep the three small tables in step with the members' events."""
        match recorded.event:
            case ContactLinked() as e:
                row = {"contact_id": e.contact_id, "member_id": e.member_id, "card_id": e.card_id}
                upsert_row(conn, contact_members, row, ["contact_id"])
            case ContactUnlinked() as e:
                conn.execute(
                    contact_members.delete().where(
                        contact_members.c.contact_id == e.contact_id, contact_members.c.card_id == e.card_id
                    )
                )  # rare: a card revised or revoked
            case MemberRegistered() as e:
                member = {"member_id": e.member_id, "org_unit": e.org_unit, "active": True}
                upsert_row(conn, known_members, member, ["member_id"])
            case MemberTransferred() as e:
                update_rows(conn, known_members, {"member_id": e.member_id}, {"org_unit": e.to_unit})
            case MemberDeactivated() as e:
                update_rows(conn, known_members, {"member_id": e.member_id}, {"active": False})
            case HelperAttached() as e:
                row = {"helper_id": e.helper_id, "member_id": e.member_id}
                upsert_row(conn, team_helpers, row, ["helper_id"])
            case HouseholdRegistered() as e:
                contact = {"contact_id": e.household_id, "kind": "household", "org_unit": e.org_unit}
                upsert_row(conn, known_contacts, contact, ["contact_id"])
            case HouseholdErased() as e:  # nothing is written about it again: no feedback, photo or key
                conn.execute(known_contacts.delete().where(known_contacts.c.contact_id == e.household_id))
                conn.execute(contact_members.delete().where(contact_members.c.contact_id == e.household_id))
                upsert_row(conn, erased_households, {"household_id": e.household_id}, ["household_id"])
            case EnterpriseRegistered() as e:
                contact = {"contact_id": e.enterprise_id, "kind": "enterprise", "org_unit": e.org_unit}
                upsert_row(conn, known_contacts, contact, ["contact_id"])
            case HelperDetached() as e:
                conn.execute(team_helpers.delete().where(team_helpers.c.helper_id == e.helper_id))


async def household_erased(conn: AsyncConnection, household_id: str) -> bool:
    """Whether the household was erased (its sign-in link then opens nothing)."""
    query = select(erased_households.c.household_id).where(erased_households.c.household_id == household_id)
    return (await conn.execute(query)).first() is not None
