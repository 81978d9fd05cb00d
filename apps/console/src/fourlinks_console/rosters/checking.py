"""The dry run: every row checked before anything is sent, and each one found new (to register),
already registered (left as it is) or refused (with its reason).

A row is checked for what the members service would refuse (required fields, lengths, phone
numbers, credit codes and their check character, units that exist in the reader's scope at a
level that takes the record, a card's capacity and community) and for what only the file can get
wrong: the same record twice, a card naming a member, household or enterprise that is neither
registered nor in the file, or one refused on its own sheet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fourlinks_console.rosters.directory import (
    Directory,
    HouseholdKey,
    MemberKey,
    Unit,
    household_key,
    member_key,
)
from fourlinks_console.rosters.kinds import (
    KINDS,
    Kind,
    RosterKind,
    address_of,
    is_phone,
    listed,
    missing_columns,
    phone_digits,
    room_number,
    unit_number,
)
from fourlinks_console.rosters.problems import Problem
from fourlinks_console.rosters.reading import Roster, Row, Sheet
from fourlinks_contracts.credit_codes import check_credit_code
from fourlinks_contracts.members import community_or_above
from fourlinks_contracts.service_matters import SERVICE_MATTERS
from fourlinks_kernel.errors import InvalidCommand

MULTILINE = frozenset({"households", "enterprises", "matters", "note"})
"""Cells that may hold several lines (a list, one a line; a card's note)."""
MOST_RESIDENTS = 30
"""Residents one household may be registered with (the service's limit)."""
YES_WORDS, NO_WORDS = (
    frozenset({"是", "y", "yes", "1", "true", "√"}),
    frozenset({"否", "n", "no", "0", "false", ""}),
)


class State(StrEnum):
    """Where a record of the file stands."""

    NEW = "new"
    EXISTS = "exists"
    REFUSED = "refused"
    CREATED = "created"


@dataclass(frozen=True)
class CardScope:
    """What a card row names: its member and its contacts by natural key (their ids are known once
    the rows before it are registered), and the member's limit where the dry run knows it."""

    member: MemberKey
    households: tuple[HouseholdKey, ...]
    enterprises: tuple[str, ...]


@dataclass
class Item:
    """One record the file stands for: its kind, its rows (a household's, one a resident), its
    natural key, what the service is sent, where it stands, why each refused row is refused, and
    its id once known."""

    kind: Kind
    rows: list[Row]
    key: tuple[str, ...] = ()
    body: dict[str, Any] = field(default_factory=dict)
    state: State = State.NEW
    problems: dict[int, Problem] = field(default_factory=dict)
    id: str | None = None
    card: CardScope | None = None

    def refuse(self, problem: Problem, row: Row | None = None) -> None:
        """Refuse the record: `problem` says why of `row` (of its first row if none)."""
        self.state = State.REFUSED
        self.problems.setdefault((row or self.rows[0]).number, problem)

    def problem_of(self, row: Row) -> Problem | None:
        """Why this row is refused (None when it is not): its own reason, or (a household's other
        rows) which of the record's rows was refused."""
        if self.state != State.REFUSED:
            return None
        own = self.problems.get(row.number)
        return own or Problem("household_refused", {"rows": [str(n) for n in sorted(self.problems)]})


@dataclass
class Plan:
    """The dry run of a file: its records by kind, in the order they are sent, and the sheets
    that are not rosters at all."""

    file: str
    scope: str
    items: dict[Kind, list[Item]] = field(default_factory=lambda: {k: [] for k in Kind})
    sheet_problems: list[tuple[str, Problem]] = field(default_factory=list)
    examples: int = 0

    def all_items(self) -> list[Item]:
        """Every record, in the order they are sent."""
        return [item for kind in Kind for item in self.items[kind]]

    def rows(self, *states: State) -> int:
        """How many rows stand in one of these states (all rows without any)."""
        return sum(len(i.rows) for i in self.all_items() if not states or i.state in states)

    def counts(self) -> dict[Kind, dict[State, int]]:
        """Records by kind and state."""
        return {kind: {s: sum(1 for i in self.items[kind] if i.state == s) for s in State} for kind in Kind}

    def refused(self) -> list[tuple[Row, Problem]]:
        """Each refused row with its reason, in the file's order."""
        found = [(row, p) for item in self.all_items() for row in item.rows if (p := item.problem_of(row))]
        return sorted(found, key=lambda found: (found[0].sheet, found[0].number))


def check(roster: Roster, directory: Directory) -> Plan:
    """Check every row of the file against the reader's scope and the file's own other rows."""
    plan = Plan(roster.name, directory.scope)
    checker = Checker(directory)
    for sheet in roster.sheets:
        plan.examples += sheet.examples
        if sheet.roster is None:
            plan.sheet_problems.append((sheet.name, Problem("sheet_unknown", {"sheet": sheet.name})))
        elif missing := missing_columns(sheet.roster, sheet.keys):
            columns = [c.header for c in missing]
            plan.sheet_problems.append(
                (sheet.name, Problem("columns_missing", {"sheet": sheet.name, "columns": columns}))
            )
    for kind in Kind:  # a card names the members, households and enterprises before it
        rows = [
            row for sheet in roster.sheets if sheet.kind == kind and not _lacking(sheet) for row in sheet.rows
        ]
        plan.items[kind] = CHECKS[kind](checker, rows)
    return plan


def _lacking(sheet: Sheet) -> bool:
    return sheet.roster is not None and bool(missing_columns(sheet.roster, sheet.keys))


class Fields:
    """One row's cells, each read as its column takes it; the first problem found is kept (and a
    placeholder answered, so the checks read on)."""

    def __init__(self, roster: RosterKind, row: Row) -> None:
        self.roster, self.row = roster, row
        self.problem: Problem | None = None

    def refuse(self, problem: Problem) -> None:
        """Keep a problem (the first one found is the row's reason)."""
        self.problem = self.problem or problem

    def text(self, key: str, limit: int) -> str:
        """A text cell within its length, on one line (a line break typed in a name is a space);
        a required one may not be empty."""
        column, value = self.roster.column(key), self.row.get(key)
        if key not in MULTILINE:
            value = " ".join(value.split())
        if not value and column.required:
            self.refuse(Problem("required", {"column": column.header}))
        elif len(value) > limit:
            self.refuse(Problem("too_long", {"column": column.header, "limit": limit}))
        return value

    def phone(self, key: str) -> str:
        """A phone number (empty where the column is optional)."""
        value = self.text(key, 40)
        if value and not is_phone(value):
            self.refuse(
                Problem("phone_malformed", {"column": self.roster.column(key).header, "phone": value})
            )
        return value

    def number(self, key: str, low: int, high: int) -> int | None:
        """A whole number within bounds (None when the cell is empty)."""
        value = self.row.get(key)
        if not value:
            return None
        if not value.isdigit() or not low <= int(value) <= high:
            header = self.roster.column(key).header
            self.refuse(Problem("number_malformed", {"column": header, "low": low, "high": high}))
            return None
        return int(value)

    def flag(self, key: str) -> bool:
        """是 or 否 (empty: 否)."""
        value = self.row.get(key).lower()
        if value not in YES_WORDS | NO_WORDS:
            self.refuse(Problem("yes_or_no", {"column": self.roster.column(key).header}))
        return value in YES_WORDS

    def unit(self, key: str, directory: Directory, *, near: str | None = None) -> Unit | None:
        """The unit a cell names, in the reader's scope, at a level that takes this kind's records."""
        text = self.text(key, 512)
        if not text:
            return None
        found = directory.find_unit(text, near=near)
        if isinstance(found, Problem):
            self.refuse(found)
            return None
        if found.level not in self.roster.unit_levels:
            needed = [str(level) for level in self.roster.unit_levels]
            self.refuse(Problem("unit_wrong_level", {"unit": text, "level": found.level, "needed": needed}))
            return None
        return found


class Checker:
    """The checks of each kind, with what the file has named so far (its first row of each key)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.first: dict[tuple[Kind, tuple[str, ...]], Item] = {}
        self.on_cards: dict[tuple[str, tuple[str, ...]], Row] = {}

    def settle(self, item: Item, known_id: str | None) -> Item:
        """A checked record: refused for repeating an earlier row's key, already registered, or new."""
        earlier = self.first.setdefault((item.kind, item.key), item)
        if earlier is not item:
            headers = "、".join(KINDS[item.kind].column(k).header for k in KINDS[item.kind].key)
            item.refuse(Problem("repeated", {"key": headers, "row": earlier.rows[0].number}))
        elif known_id is not None:
            item.state, item.id = State.EXISTS, known_id
        return item

    def planned(self, kind: Kind, key: tuple[str, ...]) -> Item | None:
        """The file's record of this kind and key, if the file has one."""
        return self.first.get((kind, key))

    # -- members ----------------------------------------------------------------------------
    def members(self, rows: list[Row]) -> list[Item]:
        """The members' rows, one record each."""
        return [self.member(row) for row in rows]

    def member(self, row: Row) -> Item:
        """A member: name, phone, home unit, branch, limit."""
        f = Fields(KINDS[Kind.MEMBERS], row)
        name, phone = f.text("name", 100), f.phone("phone")
        unit, branch = f.unit("unit", self.directory), f.text("branch", 300)
        capacity = f.number("capacity", 1, 500)
        item = Item(Kind.MEMBERS, [row])
        if f.problem or unit is None:
            item.refuse(f.problem or Problem("required", {"column": "所在单位"}))
            return item
        item.key = member_key(unit.path, name, phone)
        item.body = {"name": name, "public_phone": phone, "party_branch": branch, "org_unit": unit.path}
        if capacity is not None:
            item.body["capacity"] = capacity
        known = self.directory.member(item.key)
        return self.settle(item, known.id if known else None)

    # -- households -------------------------------------------------------------------------
    def households(self, rows: list[Row]) -> list[Item]:
        """The households' rows: those naming the same building, unit and room are one record."""
        items: list[Item] = []
        by_key: dict[tuple[str, ...], Item] = {}
        for row in rows:
            f = Fields(KINDS[Kind.HOUSEHOLDS], row)
            unit = f.unit("unit", self.directory)
            unit_no, room = unit_number(f.text("unit_no", 20)), room_number(f.text("room", 20))
            if f.problem or unit is None:
                refused = Item(Kind.HOUSEHOLDS, [row])
                refused.refuse(f.problem or Problem("required", {"column": "楼栋"}))
                items.append(refused)
                continue
            key = household_key(unit.path, unit_no, room)
            if key not in by_key:
                by_key[key] = Item(
                    Kind.HOUSEHOLDS, [], key, {"org_unit": unit.path, "unit_no": unit_no, "room": room}
                )
                items.append(by_key[key])
            by_key[key].rows.append(row)
        for item in by_key.values():
            self.household(item)
        return items

    def household(self, item: Item) -> None:
        """A household's residents, one a row, and its visit cadence."""
        residents: list[dict[str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        cadence: tuple[int, int] | None = None  # (days, the row that said so)
        for row in item.rows:
            f = Fields(KINDS[Kind.HOUSEHOLDS], row)
            name, phone = f.text("resident", 100), f.phone("resident_phone")
            elderly, disability = f.flag("elderly"), f.flag("disability")
            days = f.number("cadence", 1, 366)
            if phone and not name:
                f.refuse(Problem("phone_without_name"))
            if days is not None and cadence is not None and days != cadence[0]:
                f.refuse(Problem("cadence_differs", {"row": cadence[1]}))
            cadence = cadence or ((days, row.number) if days is not None else None)
            if name and (earlier := seen.setdefault((name, phone_digits(phone)), row.number)) != row.number:
                f.refuse(Problem("resident_repeated", {"row": earlier}))
            if name and len(residents) == MOST_RESIDENTS:
                f.refuse(Problem("too_many_residents", {"limit": MOST_RESIDENTS}))
            if f.problem:
                item.refuse(f.problem, row)
            elif name:
                resident = {"name": name, "elderly_living_alone": elderly, "disability": disability}
                residents.append({**resident, "phone": phone} if phone else resident)
        if item.state == State.REFUSED:
            return
        item.body.update(residents=residents, **({"visit_cadence_days": cadence[0]} if cadence else {}))
        known = self.directory.households.get(item.key)
        self.settle(item, known.id if known else None)

    # -- enterprises ------------------------------------------------------------------------
    def enterprises(self, rows: list[Row]) -> list[Item]:
        """The enterprises' rows, one record each."""
        return [self.enterprise(row) for row in rows]

    def enterprise(self, row: Row) -> Item:
        """An enterprise: name, credit code, unit, address, contact person."""
        f = Fields(KINDS[Kind.ENTERPRISES], row)
        name, code = f.text("name", 200), self.credit_code(f, f.text("credit_code", 18))
        unit, address = f.unit("unit", self.directory), f.text("address", 300)
        contact, phone = f.text("contact_name", 100), f.phone("contact_phone")
        item = Item(Kind.ENTERPRISES, [row])
        if f.problem or unit is None:
            item.refuse(f.problem or Problem("required", {"column": "所在单位"}))
            return item
        item.key = (code,)
        item.body = {"org_unit": unit.path, "name": name, "credit_code": code, "address": address}
        item.body |= {"contact_name": contact, **({"contact_phone": phone} if phone else {})}
        known = self.directory.enterprises.get(code)
        return self.settle(item, known.id if known else None)

    @staticmethod
    def credit_code(f: Fields, text: str) -> str:
        """The code upper-cased, its check character checked by the members service's own rule."""
        if not text:
            return ""
        try:
            return check_credit_code(text)
        except InvalidCommand as refused:
            f.refuse(Problem(refused.code.name, dict(refused.params)))
            return text

    # -- service cards ----------------------------------------------------------------------
    def cards(self, rows: list[Row]) -> list[Item]:
        """The cards' rows, one record each."""
        return [self.card(row) for row in rows]

    def card(self, row: Row) -> Item:
        """A card: its member (left as it is when they have one), its contacts, its matters."""
        f = Fields(KINDS[Kind.CARDS], row)
        name, phone, unit = f.text("name", 100), f.phone("phone"), f.unit("unit", self.directory)
        matters, note = self.matters(f), f.text("note", 2000)
        item = Item(Kind.CARDS, [row])
        if f.problem or unit is None:
            item.refuse(f.problem or Problem("required", {"column": "党员所在单位"}))
            return item
        item.key = member_key(unit.path, name, phone)
        known = self.directory.member(item.key)
        if known is not None and known.card_id is not None:  # issued before: left as it is
            return self.settle(item, known.card_id)
        member, capacity = self.card_member(f, item.key)
        households = self.card_households(f, unit=unit, member=member)
        enterprises = self.card_enterprises(f, unit=unit, member=member)
        if capacity is not None and len(households) + len(enterprises) > capacity:
            size = len(households) + len(enterprises)
            f.refuse(Problem("card_over_capacity", {"size": size, "capacity": capacity}))
        if f.problem:
            item.refuse(f.problem)
            return item
        item.card = CardScope(item.key, tuple(households), tuple(enterprises))
        item.body = {"service_matters": matters, "matters_note": note}
        return self.settle(item, None)

    def card_member(self, f: Fields, key: tuple[str, ...]) -> tuple[str | None, int | None]:
        """The card's member (its id when registered) and their limit, where known."""
        planned, known = self.planned(Kind.MEMBERS, key), self.directory.member(key)
        if planned is not None and planned.state == State.REFUSED:
            first = planned.rows[0]
            f.refuse(Problem("member_refused", {"sheet": first.sheet, "row": first.number}))
        elif planned is None and known is None:
            f.refuse(Problem("member_unknown"))
        capacity = planned.body.get("capacity") if planned is not None else None
        return (known.id if known else None), capacity if capacity is not None else (
            known.capacity if known else None
        )

    def card_households(self, f: Fields, *, unit: Unit, member: str | None) -> list[HouseholdKey]:
        """The card's households, each registered or on its sheet, in the member's community."""
        found: list[HouseholdKey] = []
        community = community_or_above(unit.path)
        for text in listed(f.row.get("households")):
            address = address_of(text)
            if address is None:
                f.refuse(Problem("address_malformed", {"address": text}))
                continue
            building = self.directory.find_unit("/".join(address.building), near=community)
            if isinstance(building, Problem):
                f.refuse(building)
                continue
            key = household_key(building.path, address.unit_no, address.room)
            known = self.directory.households.get(key)
            serving = known.member_id if known else None
            self.contact(f, kind=Kind.HOUSEHOLDS, key=key, text=text, serving=serving, member=member)
            self.nearby(f, text=text, where=building.path, community=community)
            found.append(key)
        return found

    def card_enterprises(self, f: Fields, *, unit: Unit, member: str | None) -> list[str]:
        """The card's enterprises, each registered or on its sheet, in the member's community."""
        found: list[str] = []
        for text in listed(f.row.get("enterprises")):
            code = self.credit_code(f, text)
            known = self.directory.enterprises.get(code)
            planned = self.planned(Kind.ENTERPRISES, (code,))
            serving = known.member_id if known else None
            self.contact(f, kind=Kind.ENTERPRISES, key=(code,), text=text, serving=serving, member=member)
            where = known.org_unit if known else (planned.body.get("org_unit") if planned else None)
            if where:
                self.nearby(f, text=text, where=where, community=community_or_above(unit.path))
            found.append(code)
        return found

    def contact(
        self,
        f: Fields,
        *,
        kind: Kind,
        key: tuple[str, ...],
        text: str,
        serving: str | None,
        member: str | None,
    ) -> None:
        """A card's contact: registered or on its sheet (not refused there), on no other card."""
        planned = self.planned(kind, key)
        refused = "household_refused_for_card" if kind == Kind.HOUSEHOLDS else "enterprise_refused_for_card"
        unknown = "household_unknown" if kind == Kind.HOUSEHOLDS else "enterprise_unknown"
        said = {"address": text} if kind == Kind.HOUSEHOLDS else {"code": text}
        if planned is not None and planned.state == State.REFUSED:
            f.refuse(Problem(refused, said))
        elif planned is None and not self._registered(kind, key):
            f.refuse(Problem(unknown, said))
        if serving is not None and serving != member:
            f.refuse(Problem("contact_covered", {"contact": text}))
        earlier = self.on_cards.setdefault((kind, key), f.row)
        if earlier is not f.row:
            f.refuse(Problem("contact_on_two_cards", {"contact": text, "row": earlier.number}))

    def _registered(self, kind: Kind, key: tuple[str, ...]) -> bool:
        if kind == Kind.HOUSEHOLDS:
            return key in self.directory.households
        return key[0] in self.directory.enterprises

    def nearby(self, f: Fields, *, text: str, where: str, community: str) -> None:
        """A card's contacts are in its member's community (contacts are served nearby)."""
        if community_or_above(where) != community:
            name = self.directory.units[community].name if community in self.directory.units else community
            f.refuse(Problem("contact_elsewhere", {"contact": text, "community": name}))

    @staticmethod
    def matters(f: Fields) -> list[str]:
        """The card's service matters by code, from their labels (or codes) in the cell."""
        cell = f.text("matters", 2000)
        by_word = {word.lower(): code for code, m in SERVICE_MATTERS.items() for word in (code, m.zh, m.en)}
        chosen = [by_word.get(entry.lower()) for entry in listed(cell)]
        unknown = [entry for entry, code in zip(listed(cell), chosen, strict=True) if code is None]
        if unknown:
            choices = "、".join(m.zh for m in SERVICE_MATTERS.values())
            f.refuse(Problem("matters_unknown", {"matters": unknown, "choices": choices}))
        return [code for code in SERVICE_MATTERS if code in chosen]


CHECKS: dict[Kind, Callable[[Checker, list[Row]], list[Item]]] = {
    Kind.MEMBERS: Checker.members,
    Kind.HOUSEHOLDS: Checker.households,
    Kind.ENTERPRISES: Checker.enterprises,
    Kind.CARDS: Checker.cards,
}
