"""Queries of the members service: answered from the read models only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, Table, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.members import ContactKind
from fourlinks_kernel.errors import NotFound
from fourlinks_kernel.rows import under
from fourlinks_members.domain.rules import SERVICE_MATTERS, community_of, nearness
from fourlinks_members.projections.directory import (
    CONTACT_TABLES,
    card_revisions,
    cards,
    contact_key,
    contact_links,
    enterprises,
    helpers,
    households,
    members,
    residents,
)
from fourlinks_members.projections.org_units import org_units

SUGGESTIONS = 5


NEVER_SHOWN = frozenset({"phone_index"})


async def page(conn: AsyncConnection, query: Select[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """One page of a query, with the total count."""
    total = await conn.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return {"items": [shown(r) for r in rows], "total": total or 0, "limit": limit, "offset": offset}


def shown(row: Any) -> dict[str, Any]:
    """A row as an answer shows it: blind indexes stay inside the service (they are lookup keys
    derived from personal data, never part of an answer)."""
    return {k: v for k, v in dict(row).items() if k not in NEVER_SHOWN}


async def member_row(conn: AsyncConnection, member_id: str) -> dict[str, Any]:
    """One member as the read model has it, or NotFound."""
    row = (await conn.execute(select(members).where(members.c.member_id == member_id))).mappings().first()
    if row is None:
        raise NotFound(f"member {member_id} does not exist")
    return shown(row)


async def contact_row(conn: AsyncConnection, kind: ContactKind, contact_id: str) -> dict[str, Any]:
    """One household or enterprise, or NotFound."""
    table = CONTACT_TABLES[kind]
    row = (await conn.execute(select(table).where(contact_key(kind) == contact_id))).mappings().first()
    if row is None:
        raise NotFound(f"{kind} {contact_id} does not exist")
    return shown(row)


async def household_residents(
    conn: AsyncConnection, household_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Residents per household (erased ones show no personal fields)."""
    query = (
        select(residents)
        .where(residents.c.household_id.in_(list(household_ids)))
        .order_by(residents.c.resident_id)
    )
    grouped: dict[str, list[dict[str, Any]]] = {h: [] for h in household_ids}
    for row in (await conn.execute(query)).mappings():
        grouped[row["household_id"]].append(
            {
                k: row[k]
                for k in ("resident_id", "name", "phone", "elderly_living_alone", "disability", "erased")
            }
        )
    return grouped


async def card_of_contact(conn: AsyncConnection, kind: ContactKind, contact_id: str) -> dict[str, Any]:
    """ "Who is my member, their phone, their service matters" for one household or enterprise."""
    contact = await contact_row(conn, kind, contact_id)
    if contact["card_id"] is None:
        return {"contact_id": contact_id, "covered": False, "member": None, "card": None}
    card = (await conn.execute(select(cards).where(cards.c.card_id == contact["card_id"]))).mappings().one()
    member = await member_row(conn, card["member_id"])
    return {
        "contact_id": contact_id,
        "covered": True,
        "member": {
            "member_id": member["member_id"],
            "name": member["name"],
            "party_branch": member["party_branch"],
        },
        "card": _card_view(card),
    }


def _card_view(card: Any) -> dict[str, Any]:
    matters = json.loads(card["matters"])
    return {
        "card_id": card["card_id"],
        "revision": card["revision"],
        "status": card["status"],
        "public_phone": card["public_phone"],
        "service_matters": [{"code": m, "label": SERVICE_MATTERS.get(m, m)} for m in matters],
        "matters_note": card["matters_note"],
    }


async def card_history(conn: AsyncConnection, card_id: str) -> list[dict[str, Any]]:
    """Every revision of a card with the time it was in force."""
    query = (
        select(card_revisions).where(card_revisions.c.card_id == card_id).order_by(card_revisions.c.revision)
    )
    rows = (await conn.execute(query)).mappings().all()
    if not rows:
        raise NotFound(f"card {card_id} does not exist")
    return [
        {
            **{
                k: r[k]
                for k in ("card_id", "revision", "member_id", "public_phone", "matters_note", "reason")
            },
            "households": json.loads(r["households"]),
            "enterprises": json.loads(r["enterprises"]),
            "service_matters": json.loads(r["matters"]),
            "valid_from": r["valid_from"],
            "valid_to": r["valid_to"],
        }
        for r in rows
    ]


async def member_on(conn: AsyncConnection, contact_id: str, when: datetime) -> dict[str, Any] | None:
    """The member whose card covered a contact at a moment, from the link history."""
    query = (
        select(contact_links)
        .where(
            contact_links.c.contact_id == contact_id,
            contact_links.c.linked_at <= when,
            or_(contact_links.c.unlinked_at.is_(None), contact_links.c.unlinked_at > when),
        )
        .order_by(contact_links.c.position.desc())
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def dashboard(conn: AsyncConnection, member_id: str, *, today: date) -> dict[str, Any]:
    """A member's card, team, contacts and overdue visits."""
    member = await member_row(conn, member_id)
    card = (await conn.execute(select(cards).where(cards.c.member_id == member_id))).mappings().first()
    team = (await conn.execute(select(helpers).where(helpers.c.member_id == member_id))).mappings().all()
    linked_households = (
        (await conn.execute(select(households).where(households.c.member_id == member_id))).mappings().all()
    )
    linked_enterprises = (
        (await conn.execute(select(enterprises).where(enterprises.c.member_id == member_id))).mappings().all()
    )
    people = await household_residents(conn, [h["household_id"] for h in linked_households])
    contacts = [
        {**dict(h), "residents": people[h["household_id"]], "overdue": h["visit_due_on"] < today}
        for h in linked_households
    ]
    return {
        "member": member,
        "over_capacity": member["contact_count"] > member["capacity"],
        "card": _card_view(card) if card and card["status"] == "active" else None,
        "team": [dict(t) for t in team],
        "households": contacts,
        "enterprises": [dict(e) for e in linked_enterprises],
        "overdue_visits": [c["household_id"] for c in contacts if c["overdue"]],
    }


async def coverage(conn: AsyncConnection, unit: str) -> dict[str, Any]:
    """Share of households and enterprises under a unit that an active card covers."""
    figures: dict[str, Any] = {"unit": unit}
    covered_total = contacts_total = 0
    for kind, table in CONTACT_TABLES.items():
        query = select(func.count(), func.count(table.c.card_id)).where(under(table.c.org_unit, unit))
        total, covered = (await conn.execute(query)).one()
        figures[f"{kind}s"] = {"total": total, "covered": covered, "uncovered": total - covered}
        covered_total, contacts_total = covered_total + covered, contacts_total + total
    active = and_(under(members.c.org_unit, unit), members.c.status == "active")
    figures["members_active"] = await conn.scalar(select(func.count()).where(active))
    figures["members_over_capacity"] = await conn.scalar(
        select(func.count()).where(active, members.c.contact_count > members.c.capacity)
    )
    figures["coverage_rate"] = round(covered_total / contacts_total, 4) if contacts_total else None
    return figures


async def suggestions(
    conn: AsyncConnection, org_unit: str, *, exclude: str | None = None
) -> list[dict[str, Any]]:
    """Active members with spare capacity, nearest first (same building, then grid, then community)."""
    return ranked_suggestions(await candidates(conn, community_of(org_unit), exclude=exclude), org_unit)


async def candidates(
    conn: AsyncConnection, community: str, *, exclude: str | None = None
) -> list[dict[str, Any]]:
    """A community's active members with spare capacity (whom a contact there may be given)."""
    query = select(members).where(
        under(members.c.org_unit, community),
        members.c.status == "active",
        members.c.contact_count < members.c.capacity,
    )
    if exclude:
        query = query.where(members.c.member_id != exclude)
    return [dict(m) for m in (await conn.execute(query)).mappings().all()]


def ranked_suggestions(candidates: list[dict[str, Any]], org_unit: str) -> list[dict[str, Any]]:
    """The nearest of the candidates to a contact in `org_unit`, the most spare capacity first."""
    ranked = sorted(
        candidates,
        key=lambda m: (
            -nearness(m["org_unit"], org_unit),
            -(m["capacity"] - m["contact_count"]),
            m["member_id"],
        ),
    )
    return [
        {
            "member_id": m["member_id"],
            "name": m["name"],
            "org_unit": m["org_unit"],
            "spare_capacity": m["capacity"] - m["contact_count"],
            "nearness": nearness(m["org_unit"], org_unit),
        }
        for m in ranked[:SUGGESTIONS]
    ]


async def coverage_below(conn: AsyncConnection, unit: str) -> list[dict[str, Any]]:
    """The coverage of each unit directly below `unit` (a page's drill-down in one answer)."""
    parent = select(org_units.c.unit_id).where(org_units.c.path == unit).scalar_subquery()
    children = (
        await conn.execute(
            select(org_units.c.path, org_units.c.name)
            .where(org_units.c.parent_id == parent)
            .order_by(org_units.c.path)
        )
    ).all()
    return [{**await coverage(conn, path), "name": name} for path, name in children]


@dataclass(frozen=True)
class ContactFilter:
    """Which households or enterprises of a unit a list shows."""

    unit: str
    covered: bool | None = None
    due_before: date | None = None  # households whose next visit is due before this day


def _covered(table: Table, covered: bool | None) -> Any:
    if covered is None:
        return true()
    return table.c.card_id.is_not(None) if covered else table.c.card_id.is_(None)


async def households_page(
    conn: AsyncConnection, wanted: ContactFilter, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a unit's households, each with its residents."""
    query = select(households).where(
        under(households.c.org_unit, wanted.unit), _covered(households, wanted.covered)
    )
    if wanted.due_before is not None:
        query = query.where(households.c.visit_due_on < wanted.due_before)
    result = await page(
        conn, query.order_by(households.c.org_unit, households.c.room), limit=limit, offset=offset
    )
    people = await household_residents(conn, [h["household_id"] for h in result["items"]])
    for item in result["items"]:
        item["residents"] = people[item["household_id"]]
    return result


async def households_by_phone_index(conn: AsyncConnection, index: str) -> list[dict[str, Any]]:
    """Households with a resident whose phone has this blind index."""
    query = (
        select(households)
        .join(residents, residents.c.household_id == households.c.household_id)
        .where(residents.c.phone_index == index)
        .distinct()
    )
    return [shown(r) for r in (await conn.execute(query)).mappings()]


async def enterprises_page(
    conn: AsyncConnection, wanted: ContactFilter, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a unit's enterprises."""
    query = select(enterprises).where(
        under(enterprises.c.org_unit, wanted.unit), _covered(enterprises, wanted.covered)
    )
    return await page(
        conn, query.order_by(enterprises.c.org_unit, enterprises.c.name), limit=limit, offset=offset
    )


async def uncovered_page(
    conn: AsyncConnection, kind: ContactKind, unit: str, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a unit's uncovered contacts, each with the members who could take it on."""
    table = CONTACT_TABLES[kind]
    query = select(table).where(under(table.c.org_unit, unit), table.c.card_id.is_(None))
    result = await page(conn, query.order_by(table.c.org_unit, contact_key(kind)), limit=limit, offset=offset)
    by_community: dict[str, list[dict[str, Any]]] = {}
    for item in result["items"]:  # one read of a community's members, however many contacts
        community = community_of(item["org_unit"])
        if community not in by_community:
            by_community[community] = await candidates(conn, community)
        item["suggested_members"] = ranked_suggestions(by_community[community], item["org_unit"])
    return result


async def members_page(
    conn: AsyncConnection, unit: str, *, status: str | None, over_capacity: bool, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a unit's members (by status; over their capacity)."""
    query = select(members).where(under(members.c.org_unit, unit))
    if status:
        query = query.where(members.c.status == status)
    if over_capacity:
        query = query.where(members.c.status == "active", members.c.contact_count > members.c.capacity)
    return await page(
        conn, query.order_by(members.c.org_unit, members.c.member_id), limit=limit, offset=offset
    )


async def org_unit_row(conn: AsyncConnection, unit_id: str) -> dict[str, Any]:
    """One org unit, or NotFound."""
    row = (await conn.execute(select(org_units).where(org_units.c.unit_id == unit_id))).mappings().first()
    if row is None:
        raise NotFound(f"org unit {unit_id} does not exist")
    return dict(row)


async def org_units_under(conn: AsyncConnection, root: str) -> list[dict[str, Any]]:
    """The org units at and under a path (at most 5,000), in path order."""
    query = select(org_units).where(under(org_units.c.path, root)).order_by(org_units.c.path).limit(5000)
    return [dict(r) for r in (await conn.execute(query)).mappings()]
