"""What the reader's scope already holds, as the members service answers it to them: its units by
name (a row names its unit 星河社区/3幢, never yuhang/s01/c001/b03), and its members, households
and enterprises by natural key, so that a row already registered is left as it is."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fourlinks_console.rosters.kinds import phone_digits, room_number, unit_names, unit_number
from fourlinks_console.rosters.problems import Problem
from fourlinks_contracts.members import OrgLevel
from fourlinks_runtime.edge import UNIT_PATH_PATTERN

Reader = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""A read of the members service with the reader's token: path and query → its answer."""
MemberKey = tuple[str, ...]
"""A member's natural key: home unit, name, phone digits."""
HouseholdKey = tuple[str, ...]
"""A household's natural key: building, unit number, room."""
PAGE = 500
AT_ONCE = 8
UNIT_PATH = re.compile(UNIT_PATH_PATTERN)
CONTACT_ROOTS = (OrgLevel.COMMUNITY, OrgLevel.VILLAGE)
"""Where contacts are listed from: a community or village at a time (each a page or two)."""


@dataclass(frozen=True)
class Unit:
    """An org unit: its path, its level, and its names from the district down."""

    path: str
    level: str
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        """The unit's own name."""
        return self.names[-1]

    def within(self, path: str) -> bool:
        """Whether the unit is `path` or lies under it."""
        return self.path == path or self.path.startswith(path + "/")


@dataclass(frozen=True)
class Known:
    """A record the members service holds: its id, its unit, the member serving it (contacts) or
    its card (members), and a member's capacity."""

    id: str
    org_unit: str
    member_id: str | None = None
    card_id: str | None = None
    capacity: int | None = None


@dataclass
class Directory:
    """The reader's scope: its units (and the names of those above it), and its records by key."""

    scope: str
    units: dict[str, Unit]
    members: dict[MemberKey, Known] = field(default_factory=dict)
    households: dict[HouseholdKey, Known] = field(default_factory=dict)
    enterprises: dict[str, Known] = field(default_factory=dict)
    _by_name: dict[str, list[Unit]] = field(default_factory=dict, repr=False)
    _found: dict[tuple[str, str | None], Unit | Problem] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for unit in self.units.values():
            self._by_name.setdefault(unit.name, []).append(unit)

    @property
    def scope_name(self) -> str:
        """The scope's name, as the reader knows it."""
        return self.units[self.scope].name if self.scope in self.units else self.scope

    def find_unit(self, text: str, *, near: str | None = None) -> Unit | Problem:
        """The unit a row names (by its names, or by its path); among several of that name, the
        one within `near` (a card's member's community)."""
        if (text, near) not in self._found:
            self._found[text, near] = self._find(text.strip(), near)
        return self._found[text, near]

    def _find(self, text: str, near: str | None) -> Unit | Problem:
        path = text.strip("/")
        if path in self.units:
            return self.units[path]
        names = tuple(unit_names(text))
        found = [
            u for u in self._by_name.get(names[-1] if names else "", []) if u.names[-len(names) :] == names
        ]
        if near is not None and len(found) > 1:
            found = [u for u in found if u.within(near)] or found
        if len(found) == 1:
            return found[0]
        if found:
            example = "/".join(found[0].names[-len(names) - 1 :])
            return Problem("unit_ambiguous", {"count": len(found), "unit": text, "example": example})
        if self._leaves_scope(path, names):
            return Problem("unit_outside", {"unit": text, "scope": self.scope_name})
        return Problem("unit_unknown", {"unit": text, "scope": self.scope_name})

    def _leaves_scope(self, path: str, names: tuple[str, ...]) -> bool:
        """Whether a row's unit lies outside the scope: a path not under it, or names that start
        at a unit above the scope and turn away before reaching it."""
        if UNIT_PATH.match(path) and "/" in path:
            return not (path == self.scope or path.startswith(self.scope + "/"))
        above = self.units[self.scope].names if self.scope in self.units else ()
        if not names or names[0] not in above[:-1]:
            return False
        start = above.index(names[0])
        return any(a != b for a, b in zip(above[start:], names, strict=False))

    def member(self, key: MemberKey) -> Known | None:
        """A registered member by natural key."""
        return self.members.get(key)


def member_key(unit: str, name: str, phone: str) -> MemberKey:
    """A member's natural key, as rows and the service's answers both make it."""
    return unit, name.strip(), phone_digits(phone)


def household_key(unit: str, unit_no: str, room: str) -> HouseholdKey:
    """A household's natural key, as rows and the service's answers both make it."""
    return unit, unit_number(unit_no), room_number(room)


async def read_directory(read: Reader, scope: str, *, records: bool = True) -> Directory:
    """The reader's scope as the members service answers it to them (its units only, without
    `records`: what a template lists)."""
    scope = scope.strip("/")
    listed = await read("/org-units", {"unit": scope})
    above = _above(scope)
    names = {u["path"]: u["name"] for u in await read("/names/units", {"paths": above})} if above else {}
    names.update({u["path"]: u["name"] for u in listed})
    units = {u["path"]: Unit(u["path"], u["level"], _names(u["path"], names)) for u in listed}
    directory = Directory(scope, units)
    if not records:
        return directory
    roots = [u.path for u in units.values() if u.level in CONTACT_ROOTS] or [scope]
    gate = asyncio.Semaphore(AT_ONCE)
    members, households, enterprises = await asyncio.gather(
        _every(read, "/members", [scope], gate),
        _every(read, "/households", roots, gate),
        _every(read, "/enterprises", roots, gate),
    )
    directory.members = {
        member_key(m["org_unit"], m["name"], m["public_phone"]): Known(
            m["member_id"], m["org_unit"], card_id=m.get("card_id"), capacity=m.get("capacity")
        )
        for m in members
        if m.get("name") and m.get("public_phone")  # an erased member is nobody's key
    }
    directory.households = {
        household_key(h["org_unit"], h["unit_no"], h["room"]): Known(
            h["household_id"], h["org_unit"], member_id=h.get("member_id")
        )
        for h in households
    }
    directory.enterprises = {
        e["credit_code"]: Known(e["enterprise_id"], e["org_unit"], member_id=e.get("member_id"))
        for e in enterprises
    }
    return directory


def _above(scope: str) -> list[str]:
    parts = scope.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _names(path: str, names: dict[str, str]) -> tuple[str, ...]:
    parts = path.split("/")
    prefixes = ("/".join(parts[: i + 1]) for i in range(len(parts)))
    return tuple(names[p] for p in prefixes if p in names)


async def _every(
    read: Reader, path: str, roots: Iterable[str], gate: asyncio.Semaphore
) -> list[dict[str, Any]]:
    """Every row of a list under each root, page by page."""

    async def under(root: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            async with gate:
                page = await read(path, {"unit": root, "limit": PAGE, "offset": len(rows)})
            rows += page["items"]
            if len(page["items"]) < PAGE or len(rows) >= page["total"]:
                return rows

    found = await asyncio.gather(*(under(root) for root in roots))
    return [row for rows in found for row in rows]
