"""Queries of the members service: answered from the read models only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, Table, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts.figures import rate_of
from fourlinks_contracts.members import ContactKind
from fourlinks_contracts.service_matters import SERVICE_MATTERS, matter_code
from fourlinks_kernel.errors import NotFound
from fourlinks_kernel.rows import under
from fourlinks_members.domain.doorway import DoorwayLink
from fourlinks_members.domain.rules import community_of, nearness
from fourlinks_members.domain.search_terms import starts_with
from fourlinks_members.projections import search as index
from fourlinks_members.projections.coverage_counters import COUNTERS as COVERAGE_COUNTERS
from fourlinks_members.projections.directory import (
    CONTACT_TABLES,
    card_revisions,
    cards,
    contact_key,
    contact_links,
    coverage_counts,
    enterprises,
    helpers,
    households,
    members,
    residents,
    visits,
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


def service_matters() -> list[dict[str, str]]:
    """The catalogue of service matters, in its order: code, Chinese label, English label."""
    return [matter_answer(code) for code in SERVICE_MATTERS]


def matter_answer(code: str) -> dict[str, str]:
    """A service matter as an answer shows it: its code and its labels (a code not in the
    catalogue reads as "other")."""
    matter = SERVICE_MATTERS[matter_code(code)]
    return {"code": matter.code, "label": matter.zh, "label_en": matter.en}


def _card_view(card: Any) -> dict[str, Any]:
    matters = json.loads(card["matters"])
    return {
        "card_id": card["card_id"],
        "revision": card["revision"],
        "status": card["status"],
        "public_phone": card["public_phone"],
        "service_matters": [matter_answer(m) for m in matters],
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
        "over_capacity": member_over_capacity(member),
        "card": _card_view(card) if card and card["status"] == "active" else None,
        "team": [dict(t) for t in team],
        "households": contacts,
        "enterprises": [dict(e) for e in linked_enterprises],
        "overdue_visits": [c["household_id"] for c in contacts if c["overdue"]],
    }


async def coverage(conn: AsyncConnection, unit: str) -> dict[str, Any]:
    """Share of households and enterprises under a unit that an active card covers (one row of
    the counters the directory keeps per unit, not a count of the unit's rows)."""
    counted = await _coverage_counters(conn, [unit])
    return _coverage_answer(unit, counted.get(unit.strip("/")))


async def _coverage_counters(conn: AsyncConnection, units: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The coverage counters of these units, by unit (a unit under which nothing lies has none)."""
    wanted = sorted({unit.strip("/") for unit in units})  # `under` strips them so
    query = select(coverage_counts).where(coverage_counts.c.unit.in_(wanted))
    return {row["unit"]: dict(row) for row in (await conn.execute(query)).mappings()}


def _coverage_answer(unit: str, counted: Mapping[str, Any] | None) -> dict[str, Any]:
    """A coverage answer from a unit's counters (None: all zero)."""
    counts = {name: int(counted[name]) if counted else 0 for name in COVERAGE_COUNTERS}
    figures: dict[str, Any] = {"unit": unit}
    for kind in CONTACT_TABLES:
        total, covered = counts[f"{kind}s"], counts[f"{kind}s_covered"]
        figures[f"{kind}s"] = {"total": total, "covered": covered, "uncovered": total - covered}
    figures["members_active"] = counts["members_active"]
    figures["members_over_capacity"] = counts["members_over_capacity"]
    figures["uncovered"] = sum(figures[f"{kind}s"]["uncovered"] for kind in CONTACT_TABLES)
    figures["coverage_rate"] = rate_of("coverage_rate", _coverage_counts(figures))
    return figures


def _coverage_counts(figures: dict[str, Any]) -> dict[str, int]:
    """A coverage answer's counts as the rate rule names them."""
    return {
        f"{kind}s{suffix}": figures[f"{kind}s"][part]
        for kind in CONTACT_TABLES
        for suffix, part in (("", "total"), ("_covered", "covered"))
    }


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
    counted = await _coverage_counters(conn, [path for path, _ in children])
    return [{**_coverage_answer(path, counted.get(path.strip("/"))), "name": name} for path, name in children]


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
    conn: AsyncConnection, kind: ContactKind | None, unit: str, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of a unit's uncovered contacts of a kind (no kind: households, then enterprises),
    each with the members who could take it on."""
    kinds = [kind] if kind is not None else list(ContactKind)
    result: dict[str, Any] = {"items": [], "total": 0, "limit": limit, "offset": offset}
    for each in kinds:  # the kinds one after the other: the page's window slides over both
        table = CONTACT_TABLES[each]
        query = select(table).where(under(table.c.org_unit, unit), table.c.card_id.is_(None))
        skip = max(offset - result["total"], 0)
        room = max(limit - len(result["items"]), 0)
        found = await page(conn, query.order_by(table.c.org_unit, contact_key(each)), limit=room, offset=skip)
        result["items"] += found["items"]
        result["total"] += found["total"]
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
    found = await page(
        conn, query.order_by(members.c.org_unit, members.c.member_id), limit=limit, offset=offset
    )
    for member in found["items"]:
        member["over_capacity"] = member_over_capacity(member)
    return found


def member_over_capacity(member: Mapping[str, Any]) -> bool:
    """An active member linked to more contacts than their capacity."""
    return bool(member["status"] == "active" and member["contact_count"] > member["capacity"])


@dataclass(frozen=True)
class VisitFilter:
    """Which visits a ledger lists: those to the contacts under a unit, on the days of a span."""

    unit: str
    first_day: date
    last_day: date


VISIT_COLUMNS = (
    visits.c.visit_id,
    visits.c.member_id,
    visits.c.contact_kind,
    visits.c.contact_id,
    visits.c.org_unit,
    visits.c.visited_on,
    visits.c.problem_found,
    visits.c.problem_category,
    visits.c.problem_description,
    visits.c.problem_urgency,
)
"""What a ledger shows of a visit: its notes stay on the member's record (less personal data)."""


async def visits_page(
    conn: AsyncConnection, wanted: VisitFilter, *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of the visits to a unit's contacts within the span, oldest first; a visited
    enterprise with its name and address (a household is named by `/names/households`)."""
    visited_enterprise = and_(
        visits.c.contact_kind == ContactKind.ENTERPRISE.value,
        enterprises.c.enterprise_id == visits.c.contact_id,
    )
    query = (
        select(
            *VISIT_COLUMNS,
            enterprises.c.name.label("enterprise_name"),
            enterprises.c.address.label("enterprise_address"),
        )
        .select_from(visits.outerjoin(enterprises, visited_enterprise))
        .where(
            under(visits.c.org_unit, wanted.unit),
            visits.c.visited_on.between(wanted.first_day, wanted.last_day),
        )
        .order_by(visits.c.visited_on, visits.c.org_unit, visits.c.visit_id)
    )
    return await page(conn, query, limit=limit, offset=offset)


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


async def unit_names(conn: AsyncConnection, paths: Sequence[str]) -> list[dict[str, Any]]:
    """The org units with these paths: path, name, level."""
    query = select(org_units.c.path, org_units.c.name, org_units.c.level).where(
        org_units.c.path.in_(list(paths))
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def member_names(conn: AsyncConnection, member_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The members with these ids: id, name, home unit."""
    query = select(members.c.member_id, members.c.name, members.c.org_unit).where(
        members.c.member_id.in_(list(member_ids))
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def household_places(conn: AsyncConnection, household_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Where the households with these ids live: building (path and name), unit number, room;
    with their member, whom the access rule asks about."""
    query = (
        select(
            households.c.household_id,
            households.c.org_unit,
            org_units.c.name.label("unit_name"),
            households.c.unit_no,
            households.c.room,
            households.c.member_id,
        )
        .select_from(households.outerjoin(org_units, org_units.c.path == households.c.org_unit))
        .where(households.c.household_id.in_(list(household_ids)))
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def doorway(conn: AsyncConnection, link: DoorwayLink) -> dict[str, Any]:
    """What a printed card's link opens: the household's or enterprise's member and public phone
    now, and whether the card printed was replaced since (another card covers the contact now, or
    the card was revised or revoked); NotFound for a contact no longer registered."""
    contact = await contact_row(conn, link.contact_kind, link.contact_id)
    now = await card_of_contact(conn, link.contact_kind, link.contact_id)
    card = now["card"]
    replaced = card is None or card["card_id"] != link.card_id or card["revision"] != link.revision
    member = now["member"]
    if member is not None:
        member = {**member, "public_phone": card["public_phone"] if card else None}
    return {
        "contact_kind": link.contact_kind.value,
        "contact_id": link.contact_id,
        "org_unit": contact["org_unit"],
        "place": (await _places(conn, [contact]))[0],
        "printed_revision": link.revision,
        "replaced": replaced,
        "member": member,
        "card": card,
    }


@dataclass(frozen=True)
class CardsWanted:
    """Which cards to print: a unit's, one member's, or those revised since a day (to reprint)."""

    unit: str
    member_id: str | None = None
    revised_since: datetime | None = None


async def cards_to_print(conn: AsyncConnection, wanted: CardsWanted) -> list[dict[str, Any]]:
    """The active cards wanted, each with what its printed copies show: the member's name, public
    phone and party branch, the service matters, the revision in force and since when, and its
    households and enterprises with their places in words."""
    since = card_revisions.c.valid_from
    query = (
        select(cards, members.c.name, members.c.party_branch, since.label("since"), card_revisions.c.reason)
        .join(members, members.c.member_id == cards.c.member_id)
        .join(
            card_revisions,
            and_(card_revisions.c.card_id == cards.c.card_id, card_revisions.c.revision == cards.c.revision),
        )
        .where(cards.c.status == "active", under(members.c.org_unit, wanted.unit))
        .order_by(members.c.org_unit, cards.c.member_id)
    )
    if wanted.member_id is not None:
        query = query.where(cards.c.member_id == wanted.member_id)
    if wanted.revised_since is not None:
        query = query.where(since >= wanted.revised_since)
    found = [dict(r) for r in (await conn.execute(query)).mappings()]
    covered = await _covered_by(conn, [c["card_id"] for c in found])
    names = await _unit_names_of(conn, [c["org_unit"] for c in found] + [k["org_unit"] for k in covered])
    return [_printed(card, [k for k in covered if k["card_id"] == card["card_id"]], names) for card in found]


async def _covered_by(conn: AsyncConnection, card_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The households and enterprises these cards cover, in place order."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(card_ids), 500):
        chunk = list(card_ids[start : start + 500])
        homes = select(households).where(households.c.card_id.in_(chunk))
        firms = select(enterprises).where(enterprises.c.card_id.in_(chunk))
        found += [{**r, "kind": "household"} for r in (await conn.execute(homes)).mappings()]
        found += [{**r, "kind": "enterprise"} for r in (await conn.execute(firms)).mappings()]
    return sorted(
        found, key=lambda k: (k["kind"], k["org_unit"], k.get("unit_no") or "", k.get("room") or "")
    )


async def _unit_names_of(conn: AsyncConnection, paths: Sequence[str]) -> dict[str, str]:
    """The names of these units and of every unit above them, by path."""
    wanted = {"/".join(p.split("/")[:n]) for p in set(paths) for n in range(1, p.count("/") + 2)}
    return {r["path"]: r["name"] for r in await unit_names(conn, sorted(wanted))}


async def _places(conn: AsyncConnection, contacts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where each contact is."""
    names = await _unit_names_of(conn, [c["org_unit"] for c in contacts])
    return [_place_of(c, names) for c in contacts]


def _place_of(contact: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A household's units below the street (community, building), stairwell and room; an
    enterprise's community, name and address (a card prints it in words)."""
    units = [names.get(p, p.rsplit("/", 1)[-1]) for p in _chain(contact["org_unit"])[2:]]
    if contact.get("room") is not None:
        return {"units": units, "unit_no": contact["unit_no"], "room": contact["room"]}
    return {"units": units, "name": contact["name"], "address": contact["address"]}


def _printed(card: dict[str, Any], covered: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """One card as it is printed: its member, matters and revision, and each contact's place."""
    homes = [k for k in covered if k["kind"] == "household"]
    return {
        "card_id": card["card_id"],
        "member_id": card["member_id"],
        "member_name": card["name"],
        "public_phone": card["public_phone"],
        "party_branch": card["party_branch"],
        "org_unit": card["org_unit"],
        "units": [names.get(p, p.rsplit("/", 1)[-1]) for p in _chain(card["org_unit"])[2:]],
        "service_matters": json.loads(card["matters"]),
        "matters_note": card["matters_note"],
        "revision": card["revision"],
        "since": card["since"],
        "reason": card["reason"],
        "scope": _scope(homes, covered, names),
        "contacts": [
            {
                "kind": k["kind"],
                "contact_id": k["household_id"] if k["kind"] == "household" else k["enterprise_id"],
                "org_unit": k["org_unit"],
                "place": _place_of(k, names),
            }
            for k in covered
        ],
    }


def _chain(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def _scope(
    homes: list[dict[str, Any]], covered: list[dict[str, Any]], names: dict[str, str]
) -> dict[str, Any]:
    """The contact scope: the buildings its households live in, how many households and enterprises."""
    buildings = sorted({names.get(k["org_unit"], k["org_unit"]) for k in homes})
    return {"buildings": buildings, "households": len(homes), "enterprises": len(covered) - len(homes)}


# -- search ----------------------------------------------------------------------------------
SEARCH_GROUPS = ("residents", "members", "households", "enterprises")
PHONE_CANDIDATES = 500
"""The most entries read for a long start of a phone before each phone is checked (its first 7
digits leave a few in a district)."""
GROUP_OF = {
    index.RESIDENT: "residents",
    index.MEMBER: "members",
    index.HOUSEHOLD: "households",
    index.ENTERPRISE: "enterprises",
    index.ENTERPRISE_CONTACT: "enterprises",
}


@dataclass(frozen=True)
class Sought:
    """One reading of a query, digested: the entries holding every token, and for a household the
    building number and stairwell typed with its room."""

    tokens: tuple[str, ...]
    building: str | None = None
    unit_no: str | None = None
    phone_start: str | None = None  # a start of a phone longer than the index keeps: checked here


@dataclass(frozen=True)
class SearchWanted:
    """A search: its readings (the most exact first), the unit it looks under, the groups the
    reader may find, and how many hits a group shows."""

    sought: tuple[Sought, ...]
    unit: str
    groups: frozenset[str]
    limit: int


async def search_hits(conn: AsyncConnection, wanted: SearchWanted) -> dict[str, list[dict[str, Any]]]:
    """Hits by group, the most exact reading's first, each thing once."""
    kinds = [kind for kind, group in GROUP_OF.items() if group in wanted.groups]
    hits: dict[str, dict[str, None]] = {group: {} for group in SEARCH_GROUPS}
    for sought in wanted.sought:
        for entry in await _entries(conn, sought, unit=wanted.unit, kinds=kinds, limit=wanted.limit):
            group = hits[GROUP_OF[entry["kind"]]]
            if len(group) < wanted.limit:
                group.setdefault(_found_id(entry))
    details = {
        "residents": _found_residents,
        "members": _found_members,
        "households": _found_households,
        "enterprises": _found_enterprises,
    }
    return {
        group: await found(conn, list(hits[group])) if hits[group] else [] for group, found in details.items()
    }


def _found_id(entry: dict[str, Any]) -> str:
    """What a hit names: the one found, or for an enterprise's contact person the enterprise."""
    return str(entry["target_id"] if entry["kind"] == index.ENTERPRISE_CONTACT else entry["entry_id"])


async def _entries(
    conn: AsyncConnection, sought: Sought, *, unit: str, kinds: list[str], limit: int
) -> list[dict[str, Any]]:
    """The entries under `unit` holding every token of a reading (driven by the tokens' index)."""
    entries, terms = index.search_entries, index.search_terms
    if len(sought.tokens) == 1:
        holding: Any = terms.c.token == sought.tokens[0]
        source: Any = terms
    else:
        source = (
            select(terms.c.entry_id)
            .where(terms.c.token.in_(sought.tokens))
            .group_by(terms.c.entry_id)
            .having(func.count() == len(sought.tokens))
            .subquery()
        )
        holding = true()
    query = (
        select(entries)
        .select_from(source.join(entries, entries.c.entry_id == source.c.entry_id))
        .where(holding, under(entries.c.org_unit, unit), entries.c.kind.in_(kinds))
    )
    if sought.building is not None:  # a room in a building: the buildings of that number first
        buildings = await _numbered_buildings(conn, unit, sought.building)
        query = query.where(entries.c.org_unit.in_(buildings))
    read = PHONE_CANDIDATES if sought.phone_start else limit * 4
    found = [dict(r) for r in (await conn.execute(query.limit(read))).mappings()]
    if sought.unit_no is not None:
        found = await _in_stairwell(conn, found, sought.unit_no)
    if sought.phone_start is not None:
        found = await _phones_starting(conn, found, sought.phone_start)
    return sorted(found, key=lambda e: (e["org_unit"], e["entry_id"]))


async def _numbered_buildings(conn: AsyncConnection, unit: str, number: str) -> list[str]:
    """The units under `unit` with this number in their name or code (3幢, b03: 3), where a
    household typed as "3幢502" may live (a district has a few thousand; a room number repeats in
    every building, so the buildings narrow the search, not the other way round)."""
    query = select(org_units.c.path, org_units.c.name).where(under(org_units.c.path, unit))
    wanted = _unpadded(number)
    return [
        path
        for path, name in (await conn.execute(query)).all()
        if wanted in (_number_in(name or ""), _number_in(path.rsplit("/", 1)[-1]))
    ]


async def _phones_starting(
    conn: AsyncConnection, found: list[dict[str, Any]], digits: str
) -> list[dict[str, Any]]:
    """The people among `found` whose phone starts with the digits typed (their entries matched
    the first digits only, as many as the index keeps)."""
    phones: dict[str, str | None] = {}
    for kind, (key, phone) in {
        index.RESIDENT: (residents.c.resident_id, residents.c.phone),
        index.MEMBER: (members.c.member_id, members.c.public_phone),
        index.ENTERPRISE_CONTACT: (enterprises.c.contact_person_id, enterprises.c.contact_phone),
    }.items():
        ids = [e["entry_id"] for e in found if e["kind"] == kind]
        if ids:
            rows = (await conn.execute(select(key, phone).where(key.in_(ids)))).all()
            phones.update({str(row[0]): row[1] for row in rows})
    return [e for e in found if starts_with(phones.get(e["entry_id"]), digits)]


async def _in_stairwell(
    conn: AsyncConnection, found: list[dict[str, Any]], unit_no: str
) -> list[dict[str, Any]]:
    """The households among `found` in the stairwell (单元) typed."""
    ids = [e["entry_id"] for e in found if e["kind"] == index.HOUSEHOLD]
    query = select(households.c.household_id, households.c.unit_no).where(households.c.household_id.in_(ids))
    stairwells = {row[0]: row[1] for row in (await conn.execute(query)).all()}
    return [e for e in found if _unpadded(stairwells.get(e["entry_id"]) or "") == _unpadded(unit_no)]


def _number_in(text: str) -> str:
    """The first number in a building's name or code (3幢 → 3, b03 → 3)."""
    digits = ""
    for ch in text:
        if ch.isdigit():
            digits += ch
        elif digits:
            break
    return _unpadded(digits)


def _unpadded(number: str) -> str:
    """A number without its leading zeros (03 → 3; 0 stays 0)."""
    return number.lstrip("0") or number


async def _found_residents(conn: AsyncConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Residents found: name, the last digits of their phone, and their household's place."""
    query = (
        select(
            residents.c.resident_id,
            residents.c.household_id,
            residents.c.name,
            residents.c.phone,
            households.c.org_unit,
            households.c.unit_no,
            households.c.room,
        )
        .join(households, households.c.household_id == residents.c.household_id)
        .where(residents.c.resident_id.in_(ids), residents.c.erased.is_(False))
    )
    rows = {r["resident_id"]: dict(r) for r in (await conn.execute(query)).mappings()}
    return [_with_phone_tail(rows[i]) for i in ids if i in rows]


def _with_phone_tail(row: dict[str, Any]) -> dict[str, Any]:
    """A hit shows the last 4 digits of a phone (enough to tell two people apart), never all of it."""
    phone = row.pop("phone", None) or ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return {**row, "phone_tail": digits[-4:] or None}


async def _found_members(conn: AsyncConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Members found: name, home unit, status, card."""
    query = select(
        members.c.member_id,
        members.c.name,
        members.c.public_phone.label("phone"),
        members.c.org_unit,
        members.c.status,
        members.c.card_id,
    ).where(members.c.member_id.in_(ids), members.c.erased.is_(False))
    rows = {r["member_id"]: dict(r) for r in (await conn.execute(query)).mappings()}
    return [_with_phone_tail(rows[i]) for i in ids if i in rows]


async def _found_households(conn: AsyncConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Households found: place, member, and their residents' names."""
    query = select(
        households.c.household_id,
        households.c.org_unit,
        households.c.unit_no,
        households.c.room,
        households.c.member_id,
    ).where(households.c.household_id.in_(ids))
    rows = {r["household_id"]: dict(r) for r in (await conn.execute(query)).mappings()}
    people = await household_residents(conn, list(rows))
    return [
        {**rows[i], "residents": [p["name"] for p in people[i] if not p["erased"]]} for i in ids if i in rows
    ]


async def _found_enterprises(conn: AsyncConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Enterprises found: name, credit code, address, member."""
    query = select(
        enterprises.c.enterprise_id,
        enterprises.c.name,
        enterprises.c.credit_code,
        enterprises.c.org_unit,
        enterprises.c.address,
        enterprises.c.member_id,
    ).where(enterprises.c.enterprise_id.in_(ids))
    rows = {r["enterprise_id"]: dict(r) for r in (await conn.execute(query)).mappings()}
    return [rows[i] for i in ids if i in rows]


async def contact_visits(conn: AsyncConnection, contact_id: str, *, limit: int) -> list[dict[str, Any]]:
    """A household's or enterprise's visits, the latest first (what a ledger shows of each)."""
    shown = [c for c in VISIT_COLUMNS if c.name not in ("contact_kind", "contact_id", "org_unit")]
    query = (
        select(*shown)
        .where(visits.c.contact_id == contact_id)
        .order_by(visits.c.visited_on.desc(), visits.c.visit_id)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def warm_up(conn: AsyncConnection, *, today: date) -> None:
    """The pages opened most (a household's card, a member's dashboard, coverage and its
    drill-down), each asked once of a sample of the read models: their SQL is compiled at start."""
    covered = await conn.scalar(
        select(households.c.household_id).where(households.c.card_id.is_not(None)).limit(1)
    )
    if covered is not None:
        await card_of_contact(conn, ContactKind.HOUSEHOLD, covered)
    member = await conn.scalar(select(members.c.member_id).limit(1))
    if member is not None:
        await dashboard(conn, member, today=today)
    root = await conn.scalar(select(org_units.c.path).where(org_units.c.parent_id.is_(None)).limit(1))
    if root is not None:
        await coverage(conn, root)
        await coverage_below(conn, root)
