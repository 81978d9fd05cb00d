"""The one place the console turns what the services answer — org-unit paths, member ids,
household ids, category codes — into what people call them: 星河社区, 3幢, 吴宇霞, 3幢 1单元 102室,
维修协调.

A page names what it holds (`Wanted`), and `labels_for` asks the members service once per kind
with the reader's token, so the answer holds only what the reader may see: anything else reads as
a neutral word (其他社区, 另一名党员), never as its code. Answers are kept a minute per reader, so
moving between pages does not ask again."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from fourlinks_console.i18n import Language
from fourlinks_console.names import N_
from fourlinks_console.people import Person
from fourlinks_console.services import ServiceRefused, Services
from fourlinks_console.web import pages_of
from fourlinks_contracts.service_matters import matter_label
from fourlinks_runtime.edge import ENTITY_ID_PATTERN, UNIT_PATH_PATTERN

KEPT_SECONDS = 60.0
KEPT_MOST = 50_000
AT_ONCE = 200
"""How many names one request to the members service asks for (its limit)."""
ENTITY_ID = re.compile(ENTITY_ID_PATTERN)
UNIT_PATH = re.compile(UNIT_PATH_PATTERN)
OTHER_UNIT = {1: N_("another district"), 2: N_("another street"), 3: N_("another community")}
OTHER_BUILDING = N_("another building")
ANOTHER_MEMBER = N_("another party member")
ERASED = N_("(erased)")
THE_SYSTEM = N_("the system")
HOUSEHOLD_PLACE = N_("%(building)s unit %(unit_no)s room %(room)s")
ROOM_ONLY = N_("%(building)s room %(room)s")
SYSTEM_ACTORS = ("policy:", "service:", "system")


@dataclass
class Wanted:
    """What one page will name: unit paths, member ids, household ids."""

    units: set[str] = field(default_factory=set)
    members: set[str] = field(default_factory=set)
    households: set[str] = field(default_factory=set)

    def unit(self, *paths: str | None) -> Wanted:
        """These units (a path and nothing above it)."""
        self.units.update(p.strip("/") for p in paths if p)
        return self

    def trail(self, *paths: str | None) -> Wanted:
        """These units and every unit above each (a page's breadcrumbs)."""
        for path in paths:
            parts = (path or "").strip("/").split("/")
            self.unit(*("/".join(parts[: i + 1]) for i in range(len(parts)) if parts[0]))
        return self

    def member(self, *ids: str | None) -> Wanted:
        """These members."""
        self.members.update(i for i in ids if i)
        return self

    def household(self, *ids: str | None) -> Wanted:
        """These households."""
        self.households.update(i for i in ids if i)
        return self

    def task(self, task: Mapping[str, Any]) -> Wanted:
        """What a task names: its units, its assignee, helpers and suggested member, its household."""
        self.unit(task.get("org_unit"), task.get("origin_unit"))
        self.member(task.get("assignee"), task.get("suggested_member"), *(task.get("helpers") or []))
        return self.household(task.get("household_id"))


@dataclass(frozen=True)
class Place:
    """Where a household lives, as the members service answers it."""

    building: str | None
    unit_no: str
    room: str


@dataclass(frozen=True)
class Labels:
    """Names for one page, in the reader's language: what the reader may see by its name, anything
    else by a neutral word."""

    language: Language
    reader: Person | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, str | None] = field(default_factory=dict)  # None: erased
    households: Mapping[str, Place] = field(default_factory=dict)

    def say(self, message: str, **values: Any) -> str:
        """A message of the catalogue in the reader's language, its placeholders filled."""
        words = self.language.gettext(message)
        return words % values if values else words

    def unit(self, path: str | None) -> str:
        """A unit's name; one the reader may not see by its level (其他社区), never its path."""
        if not path:
            return "—"
        path = path.strip("/")
        found = self.units.get(path)
        if found:
            return found
        return self.say(OTHER_UNIT.get(path.count("/") + 1, OTHER_BUILDING))

    def trail(self, path: str) -> list[tuple[str, str]]:
        """Each unit from the top down to this one: (path, name), for breadcrumbs."""
        parts = path.strip("/").split("/")
        return [("/".join(parts[: i + 1]), self.unit("/".join(parts[: i + 1]))) for i in range(len(parts))]

    def member(self, member_id: str | None) -> str:
        """A member's name: erased reads as such; one the reader may not see as "another member"."""
        if not member_id:
            return "—"
        if member_id in self.members:
            return self.members[member_id] or self.say(ERASED)
        if self.reader is not None and member_id == self.reader.id:
            return self.reader.name
        return self.say(ANOTHER_MEMBER)

    def household(self, household_id: str | None) -> str | None:
        """A household's address (3幢 1单元 102室), or None when the reader may not see it."""
        place = self.households.get(household_id or "")
        return None if place is None else self.address(place)

    def address(self, place: Place) -> str:
        """A household's address from its parts: building name, unit number, room."""
        building = place.building or self.say(OTHER_BUILDING)
        if not place.unit_no:
            return self.say(ROOM_ONLY, building=building, room=place.room)
        return self.say(HOUSEHOLD_PLACE, building=building, unit_no=place.unit_no, room=place.room)

    def category(self, code: str | None) -> str:
        """A task's category or a service matter by its label (free text reads as "other")."""
        return matter_label(code or "", self.language.locale) if code else "—"

    def actor(self, actor_id: str | None, role: str | None = None) -> str:
        """Who did something: the system, a member by name, the reader (their role and name), or
        else the role that may do it (书记) — never an account's id."""
        if not actor_id:
            return "—"
        if actor_id.startswith(SYSTEM_ACTORS):
            return self.say(THE_SYSTEM)
        if actor_id in self.members:
            return self.member(actor_id)
        reader = self.reader
        if reader is not None and actor_id == reader.id:
            return f"{self.say(reader.roles[0])} {reader.name}" if reader.roles else reader.name
        return self.say(role) if role else self.say(ANOTHER_MEMBER)

    def group(self, group: str | None) -> str:
        """A KPI group: a member (by id) or a unit (by path)."""
        if group and ENTITY_ID.match(group):
            return self.member(group)
        return self.unit(group)


class Kept:
    """Names answered lately, per reader and kind, for `KEPT_SECONDS` (a bounded dictionary)."""

    def __init__(self, seconds: float = KEPT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[tuple[str, str, str], tuple[float, Any]] = {}

    def known(self, reader: str, kind: str, keys: Iterable[str]) -> tuple[dict[str, Any], set[str]]:
        """What is kept of these keys (a None value: not the reader's to see), and what is not."""
        now, found, missing = self._clock(), {}, set()
        for key in keys:
            kept = self._kept.get((reader, kind, key))
            if kept is not None and kept[0] > now:
                found[key] = kept[1]
            else:
                missing.add(key)
        return found, missing

    def keep(self, reader: str, kind: str, answered: Mapping[str, Any]) -> None:
        """Keep what was answered (expired entries go first when the dictionary is full)."""
        now = self._clock()
        if len(self._kept) + len(answered) > KEPT_MOST:
            self._kept = {k: v for k, v in self._kept.items() if v[0] > now}
            if len(self._kept) + len(answered) > KEPT_MOST:
                self._kept.clear()
        for key, value in answered.items():
            self._kept[(reader, kind, key)] = (now + self._seconds, value)


Ask = Callable[[list[str]], Awaitable[dict[str, Any]]]


async def labels_for(request: Request, person: Person | None, wanted: Wanted | None = None) -> Labels:
    """The names a page shows, asked once per kind with the reader's token (the reader's own
    scope among them: the header names it)."""
    language = pages_of(request).language(request)
    if person is None:
        return Labels(language)
    wanted = (wanted or Wanted()).trail(person.scope)
    services: Services = request.app.state.services
    kept = _kept(request)
    reader = hashlib.sha256(person.token.encode()).hexdigest()

    async def names(kind: str, keys: set[str], ask: Ask) -> dict[str, Any]:
        found, missing = kept.known(reader, kind, keys)
        if missing:
            answered = await _asked(sorted(missing), ask)
            kept.keep(reader, kind, answered)
            found.update(answered)
        return {k: v for k, v in found.items() if v is not None}

    units, members, households = await asyncio.gather(
        names("units", {p for p in wanted.units if UNIT_PATH.match(p)}, _units(services, person.token)),
        names("members", {i for i in wanted.members if ENTITY_ID.match(i)}, _members(services, person.token)),
        names(
            "households",
            {i for i in wanted.households if ENTITY_ID.match(i)},
            _households(services, person.token),
        ),
    )
    return Labels(language, person, units, {k: v[0] for k, v in members.items()}, households)


async def _asked(keys: list[str], ask: Ask) -> dict[str, Any]:
    """Every key answered: by the service where it may be seen, else None (kept as such)."""
    chunks = [keys[i : i + AT_ONCE] for i in range(0, len(keys), AT_ONCE)]
    answered: dict[str, Any] = dict.fromkeys(keys)
    for found in await asyncio.gather(*(ask(chunk) for chunk in chunks)):
        answered.update(found)
    return answered


def _units(services: Services, token: str) -> Ask:
    async def ask(paths: list[str]) -> dict[str, Any]:
        found = await _names(services, token, "/names/units", {"paths": paths})
        return {u["path"]: u["name"] for u in found}

    return ask


def _members(services: Services, token: str) -> Ask:
    async def ask(ids: list[str]) -> dict[str, Any]:
        found = await _names(services, token, "/names/members", {"ids": ids})
        return {m["member_id"]: (m["name"],) for m in found}  # a tuple: an erased name is (None,)

    return ask


def _households(services: Services, token: str) -> Ask:
    async def ask(ids: list[str]) -> dict[str, Any]:
        found = await _names(services, token, "/names/households", {"ids": ids})
        return {h["household_id"]: Place(h.get("unit_name"), h["unit_no"], h["room"]) for h in found}

    return ask


async def _names(services: Services, token: str, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The members service's answer; a refusal (a role it names nothing for) names nothing."""
    try:
        found: list[dict[str, Any]] = await services.get(token, "members", path, params)
    except ServiceRefused:
        return []
    return found


def _kept(request: Request) -> Kept:
    """The app's names kept lately (made on first use)."""
    kept: Kept | None = getattr(request.app.state, "names_kept", None)
    if kept is None:
        kept = Kept()
        request.app.state.names_kept = kept
    return kept
