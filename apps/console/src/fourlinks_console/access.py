"""Which roles may open which page, written once: a page's own guard reads this table, and so do
the menus and every link to the page, so that nothing leads a person to a page their role cannot
open. The roles are the services' own (`fourlinks_runtime.guards`): a page needs what the
services it reads need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends

from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import ServiceRefused
from fourlinks_runtime.guards import ONE_TASK_READERS, SECRETARIES, STAFF, TASK_READERS

INSPECTOR, MEMBER, HELPER, RESIDENT = "inspector", "member", "helper", "resident"
"""The roles no set of `fourlinks_runtime.guards` names alone (`fourlinks_kernel.access.Role`'s values)."""
CITY, PROVINCE = "city", "province"
ABOVE_DISTRICTS = (CITY, PROVINCE)
"""Those who read the figures the districts send up (the province service), no district's page."""
EVERYONE = (*STAFF, INSPECTOR, MEMBER, HELPER, RESIDENT, *ABOVE_DISTRICTS)
"""Whoever signs in: the home page sends each to their own start."""


@dataclass(frozen=True)
class Opens:
    """Who may open a page, and whose menu lists it (all of them unless narrower)."""

    roles: tuple[str, ...]
    menu: tuple[str, ...] | None = None

    def listed_for(self, person: Person) -> bool:
        """Whether the person's menu lists the page."""
        return may(person, self.menu if self.menu is not None else self.roles)


PAGES: dict[str, Opens] = {
    "home": Opens(EVERYONE),
    "coverage": Opens(STAFF),  # the members service's coverage: staff
    "members": Opens(STAFF),
    "member": Opens(STAFF),  # a member's card history: staff
    "household": Opens(STAFF, menu=()),  # the members service's contacts: staff (from search, lists)
    "enterprise": Opens(STAFF, menu=()),
    "search": Opens(TASK_READERS, menu=()),  # the header's box (an inspector finds the members)
    "board": Opens(TASK_READERS),
    "task": Opens(ONE_TASK_READERS),  # a member only their own (the service says which)
    "kpis": Opens(STAFF),  # the feedback service's rates: staff
    "callbacks": Opens(STAFF),
    "inbox": Opens(STAFF),  # the feedback service's items of a unit: staff (secretaries act on them)
    "categories": Opens(STAFF),  # the services' counts by category: staff
    "report": Opens(STAFF),  # the monthly street report: staff
    "party_days": Opens(STAFF),
    "party_day": Opens(STAFF),
    "notices": Opens(SECRETARIES),
    "cards": Opens(SECRETARIES, menu=()),  # printing service cards: from the member and coverage pages
    "checks": Opens(TASK_READERS, menu=(INSPECTOR,)),  # the inspector's queue
    "history": Opens(TASK_READERS),  # a task's history for whoever reads the unit's tasks
    "mine": Opens((MEMBER,)),
    "my_tasks": Opens((MEMBER,)),
    "new_visit": Opens((MEMBER, *SECRETARIES)),  # whoever may record a visit
    "my_feedback": Opens((RESIDENT,)),
    "imports": Opens(SECRETARIES),  # rosters from Excel, through the members service's commands
    "province": Opens(ABOVE_DISTRICTS),  # the province service's figures: a city's or province's staff
}
"""Each page (its route's name) and who may open it."""
HISTORY_OF: dict[str, tuple[str, ...]] = {
    "task": TASK_READERS,
    "card": STAFF,
    "member": STAFF,
    "household": STAFF,
}
"""Whose history the history page shows, and to whom: a task's to whoever reads the unit's tasks,
the directory's (cards, members, a household's member) to staff."""


def may(person: Person | None, roles: tuple[str, ...]) -> bool:
    """Whether the person holds one of the roles."""
    return person is not None and person.has(*roles)


def may_open(person: Person | None, page: str) -> bool:
    """Whether the person may open the page (pages' links and buttons ask this)."""
    return may(person, PAGES[page].roles)


def histories_for(person: Person | None) -> list[str]:
    """The kinds of history the person may ask the history page for."""
    return [kind for kind, roles in HISTORY_OF.items() if may(person, roles)]


def in_menu(person: Person | None, page: str) -> bool:
    """Whether the person's menu lists the page (the menus ask this)."""
    return person is not None and PAGES[page].listed_for(person)


def opening(page: str) -> Any:
    """A page's guard (`dependencies=[opening(name)]`): the signed-in person's role must open the
    page, else the services' own refusal (403, `role_needed`), said in the reader's language."""
    roles = PAGES[page].roles

    def check(person: CurrentPerson) -> None:
        if not may(person, roles):
            wanted = [str(role) for role in roles]
            refused = f"this needs one of the roles: {', '.join(wanted)}"
            raise ServiceRefused(403, refused, code="role_needed", params={"roles": wanted})

    return Depends(check)
