"""Coverage read from the counters the directory keeps answers as counting the rows does, after a
mixed history applied in micro-batches of every size: contacts registered, cards issued, revised
and revoked, members over capacity, transferred, deactivated and erased, households erased."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from conftest import project_in_batches
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fourlinks_contracts import members as ev
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.rows import under
from fourlinks_members.application.queries import coverage, coverage_below
from fourlinks_members.projections.directory import CONTACT_TABLES, DirectoryProjection, members
from fourlinks_members.projections.org_units import OrgUnitsProjection

DISTRICT = "yuhang"
STREETS = (f"{DISTRICT}/nanyuan", f"{DISTRICT}/linping")
COMMUNITIES = tuple(f"{street}/{name}" for street in STREETS for name in ("xinghe", "yinhu"))
BUILDINGS = tuple(f"{community}/b{n}" for community in COMMUNITIES for n in (1, 2))
START = datetime(2026, 3, 1, 8, tzinfo=UTC)


class History:
    """A district's members, contacts and cards, told as the events that made them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[DomainEvent] = []
        self.active: dict[str, str] = {}  # member -> unit
        self.left: list[tuple[str, str]] = []  # deactivated members, not yet erased
        self.cards: dict[str, tuple[str, set[tuple[ev.ContactKind, str]]]] = {}  # member -> card, scope
        self.contacts: dict[tuple[ev.ContactKind, str], str] = {}  # contact -> unit
        self.households: list[str] = []

    def tell(self, steps: int) -> list[DomainEvent]:
        moves = [self.register_member] * 2 + [self.register_contact] * 3 + [self.issue] * 3
        moves += [self.revise] * 2 + [self.revoke, self.resize, self.transfer, self.deactivate]
        moves += [self.erase, self.visit]
        for _ in range(steps):
            self.rng.choice(moves)()
        return self.events

    def register_member(self) -> None:
        member, unit = f"m{len(self.events)}", self.rng.choice(COMMUNITIES + BUILDINGS)
        self.events.append(
            ev.MemberRegistered(
                member_id=member,
                name="王",
                public_phone="13800000000",
                party_branch="支部",
                org_unit=unit,
                capacity=self.rng.randint(1, 4),
            )
        )
        self.active[member] = unit

    def register_contact(self) -> None:
        n = len(self.events)
        if self.rng.random() < 0.7:
            household, unit = f"h{n}", self.rng.choice(BUILDINGS)
            self.events.append(
                ev.HouseholdRegistered(
                    household_id=household, org_unit=unit, unit_no="1", room=str(n), visit_cadence_days=30
                )
            )
            self.contacts[(ev.ContactKind.HOUSEHOLD, household)] = unit
            self.households.append(household)
            return
        enterprise, unit = f"e{n}", self.rng.choice(COMMUNITIES)
        self.events.append(
            ev.EnterpriseRegistered(
                enterprise_id=enterprise,
                org_unit=unit,
                name="店",
                credit_code=f"{n:018d}",
                address="路",
                contact_person_id=f"p{n}",
                contact_name="李",
                contact_phone="13900000000",
                phone_index=None,
            )
        )
        self.contacts[(ev.ContactKind.ENTERPRISE, enterprise)] = unit

    def uncovered(self) -> list[tuple[ev.ContactKind, str]]:
        held = {contact for _, scope in self.cards.values() for contact in scope}
        return sorted(set(self.contacts) - held)

    def issue(self) -> None:
        free = [m for m in self.active if m not in self.cards]
        if not free:
            return
        member = self.rng.choice(sorted(free))
        scope = set(self.rng.sample(self.uncovered(), min(len(self.uncovered()), self.rng.randint(0, 5))))
        card = f"card-{member}"  # a member's card keeps its id when issued again
        self.events.append(
            ev.ServiceCardIssued(
                card_id=card, member_id=member, org_unit=self.active[member], **_scope(scope)
            )
        )
        self.cards[member] = (card, set())
        self.relink(member, scope)

    def revise(self) -> None:
        if not self.cards:
            return
        member = self.rng.choice(sorted(self.cards))
        card, scope = self.cards[member]
        kept = {c for c in scope if self.rng.random() < 0.6}
        added = self.rng.sample(self.uncovered(), min(len(self.uncovered()), self.rng.randint(0, 3)))
        wanted = kept | set(added)
        self.events.append(
            ev.ServiceCardRevised(card_id=card, member_id=member, revision=2, reason="调整", **_scope(wanted))
        )
        self.relink(member, wanted)

    def relink(self, member: str, wanted: set[tuple[ev.ContactKind, str]]) -> None:
        card, scope = self.cards[member]
        for kind, contact in sorted(scope - wanted):
            self.events.append(
                ev.ContactUnlinked(
                    contact_id=contact, contact_kind=kind, card_id=card, member_id=member, reason="调整"
                )
            )
        for kind, contact in sorted(wanted - scope):
            self.events.append(
                ev.ContactLinked(contact_id=contact, contact_kind=kind, card_id=card, member_id=member)
            )
        self.cards[member] = (card, set(wanted))

    def revoke(self, member: str | None = None) -> None:
        if member is None and not self.cards:
            return
        member = member or self.rng.choice(sorted(self.cards))
        if member not in self.cards:
            return
        self.relink(member, set())
        card, _ = self.cards.pop(member)
        self.events.append(ev.ServiceCardRevoked(card_id=card, member_id=member, reason="收回"))

    def resize(self) -> None:
        if self.active:
            member = self.rng.choice(sorted(self.active))
            self.events.append(
                ev.MemberProfileUpdated(
                    member_id=member,
                    name="王",
                    public_phone=None,
                    party_branch="支部",
                    capacity=self.rng.randint(0, 3),
                )
            )

    def transfer(self) -> None:
        if self.active:
            member = self.rng.choice(sorted(self.active))
            self.revoke(member)
            to_unit = self.rng.choice(COMMUNITIES + BUILDINGS)
            self.events.append(
                ev.MemberTransferred(
                    member_id=member, from_unit=self.active[member], to_unit=to_unit, reason="调动"
                )
            )
            self.active[member] = to_unit

    def deactivate(self) -> None:
        if self.active:
            member = self.rng.choice(sorted(self.active))
            self.revoke(member)
            unit = self.active.pop(member)
            self.events.append(
                ev.MemberDeactivated(
                    member_id=member,
                    org_unit=unit,
                    reason=ev.DeactivationReason.MOVED_AWAY,
                    note="",
                    suggested_replacement_id=None,
                )
            )
            self.left.append((member, unit))

    def erase(self) -> None:
        if self.left:
            member, unit = self.left.pop(0)
            self.events.append(ev.MemberErased(member_id=member, org_unit=unit))
        elif self.households:
            self.events.append(ev.HouseholdErased(household_id=self.rng.choice(self.households)))

    def visit(self) -> None:
        if self.households and self.active:
            household = self.rng.choice(self.households)
            self.events.append(
                ev.VisitRecorded(
                    visit_id=f"v{len(self.events)}",
                    contact_id=household,
                    contact_kind=ev.ContactKind.HOUSEHOLD,
                    org_unit=self.contacts[(ev.ContactKind.HOUSEHOLD, household)],
                    member_id=self.rng.choice(sorted(self.active)),
                    visited_on=date(2026, 3, 2),
                    notes=None,
                    problem_found=False,
                    problem_category=None,
                    problem_description=None,
                    problem_urgency=None,
                )
            )


def _scope(scope: set[tuple[ev.ContactKind, str]]) -> dict[str, Any]:
    return {
        "public_phone": None,
        "households": sorted(c for k, c in scope if k == ev.ContactKind.HOUSEHOLD),
        "enterprises": sorted(c for k, c in scope if k == ev.ContactKind.ENTERPRISE),
        "matters": ["policy"],
        "matters_note": "",
    }


def org_tree() -> list[DomainEvent]:
    units = [(DISTRICT, ev.OrgLevel.DISTRICT)] + [(s, ev.OrgLevel.STREET) for s in STREETS]
    units += [(c, ev.OrgLevel.COMMUNITY) for c in COMMUNITIES] + [
        (b, ev.OrgLevel.BUILDING) for b in BUILDINGS
    ]
    return [
        ev.OrgUnitCreated(
            unit_id=path,
            path=path,
            code=path.rsplit("/", 1)[-1],
            name=path.rsplit("/", 1)[-1],
            level=level,
            parent_id=path.rsplit("/", 1)[0] if "/" in path else None,
        )
        for path, level in units
    ]


async def counted_from_rows(conn: AsyncConnection, unit: str) -> dict[str, Any]:
    """Coverage as it was answered before the counters: by counting the rows under the unit."""
    figures: dict[str, Any] = {"unit": unit}
    for kind, table in CONTACT_TABLES.items():
        query = select(func.count(), func.count(table.c.card_id)).where(under(table.c.org_unit, unit))
        total, covered = (await conn.execute(query)).one()
        figures[f"{kind}s"] = {"total": total, "covered": covered, "uncovered": total - covered}
    active = and_(under(members.c.org_unit, unit), members.c.status == "active")
    figures["members_active"] = await conn.scalar(select(func.count()).where(active))
    figures["members_over_capacity"] = await conn.scalar(
        select(func.count()).where(active, members.c.contact_count > members.c.capacity)
    )
    figures["uncovered"] = sum(figures[f"{kind}s"]["uncovered"] for kind in CONTACT_TABLES)
    return figures


def without_rate(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "coverage_rate"}


async def test_coverage_counters_answer_as_counting_the_rows_does(engine: AsyncEngine) -> None:
    rng = random.Random(20261207)  # noqa: S311 - a repeatable mixed history, not a secret
    events = History(rng).tell(600)
    log = [(event, START + timedelta(minutes=n)) for n, event in enumerate(events)]
    await project_in_batches(engine, log, rng, DirectoryProjection())
    await project_in_batches(engine, [(e, START) for e in org_tree()], rng, OrgUnitsProjection())
    asked = [DISTRICT, *STREETS, *COMMUNITIES, *BUILDINGS, f"/{STREETS[0]}/", "yuhang/nan", "nowhere"]
    async with engine.connect() as conn:
        answers = {unit: await coverage(conn, unit) for unit in asked}
        for unit in asked:
            assert (unit, without_rate(answers[unit])) == (unit, await counted_from_rows(conn, unit))
        below = await coverage_below(conn, DISTRICT)
    assert [(row["unit"], row["name"]) for row in below] == [
        (s, s.rsplit("/", 1)[-1]) for s in sorted(STREETS)
    ]
    assert [without_rate(row) | {"name": ""} for row in below] == [
        without_rate(answers[s]) | {"name": ""} for s in sorted(STREETS)
    ]
    whole = answers[DISTRICT]
    # The history reached every case the counters keep: covered and not, over capacity, deactivated.
    assert min(whole["households"]["covered"], whole["households"]["uncovered"]) > 0
    assert min(whole["enterprises"]["covered"], whole["enterprises"]["uncovered"]) > 0
    assert whole["members_over_capacity"] > 0
    assert sum(isinstance(e, ev.MemberDeactivated) for e in events) > 0
    assert sum(isinstance(e, ev.ContactUnlinked) for e in events) > 0
    assert answers["nowhere"]["households"]["total"] == 0
