"""Search (查找): the box in every page's header finds, in the reader's scope, residents and members
by name or phone, households by building and room, enterprises by name or credit code, tasks and
feedback by reference or words — each service searches its own read models as far as the reader
may see them; the console asks the three at once and groups what they answer.

The same search picks an id for a form that asks for one (a household for a sign-in link, a
member to assign, a task it duplicates): as the person types, the form's list offers what the
search finds (`/search/options`, htmx); without scripts, or when what was typed is not an id, the
search page lists the hits, each with a "choose" link back to the form with the id filled in."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import may_open, opening
from fourlinks_console.labels import Labels, Place, Wanted, labels_for
from fourlinks_console.names import N_
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services
from fourlinks_console.web import local_path, pages_of, query, see_other
from fourlinks_runtime.edge import ENTITY_ID_PATTERN

router = APIRouter()
ENTITY_ID = re.compile(ENTITY_ID_PATTERN)
SHOWN = 10
"""Hits a group shows on the search page."""
OFFERED = 8
"""Hits a form's list offers as the person types."""
SHORTEST = 2
"""The fewest characters a search looks for."""
GROUPS = ("residents", "households", "members", "enterprises", "tasks", "feedback")
PICKS: dict[str, tuple[str, ...]] = {
    "household": ("residents", "households"),  # a resident found picks their household
    "member": ("members",),
    "enterprise": ("enterprises",),
    "task": ("tasks",),
    "feedback": ("feedback",),
}
"""What a form may ask to pick, and the groups that offer it."""
HINTS = {
    "household": N_("Name, phone or room"),
    "member": N_("Member's name or phone"),
    "enterprise": N_("Enterprise's name or credit code"),
    "task": N_("Task number or words"),
    "feedback": N_("Reference or words"),
}
GROUP_TITLES = {
    "residents": N_("Residents"),
    "households": N_("Households"),
    "members": N_("Members"),
    "enterprises": N_("Enterprises"),
    "tasks": N_("The tasks"),
    "feedback": N_("Feedback"),
}
PHONE_TAIL = N_("phone ending %(digits)s")


@dataclass(frozen=True)
class Hit:
    """One thing found, as a page lists it: its words, where it opens, and the id a form takes."""

    id: str
    title: str
    detail: str
    href: str | None


@dataclass(frozen=True)
class Asked:
    """A search: what was typed and, for a form, what it picks and where the choice goes back to."""

    q: str
    pick: str | None = None
    back: str | None = None
    field: str | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups searched: all, or those offering what the form picks."""
        return PICKS.get(self.pick or "", GROUPS)

    def chosen(self, hit: Hit) -> str | None:
        """The form's address with the hit's id filled in (None: not picking)."""
        if not self.pick or not self.field:
            return None
        back, _, anchor = local_path(self.back, "/").partition("#")
        joined = back + ("&" if "?" in back else "?") + query(**{self.field: hit.id})[1:]
        return joined + (f"#{anchor}" if anchor else "")


def is_id(value: str | None) -> bool:
    """Whether a form's value is an id (else it is words to search for)."""
    return bool(value and ENTITY_ID.fullmatch(value.strip()))


def picked(sent: Mapping[str, str], field: str) -> tuple[str, str]:
    """What a picker sent: the id chosen (a link's, or one typed whole), else the words typed to
    search for."""
    value, words = (sent.get(field) or "").strip(), (sent.get(f"{field}_words") or "").strip()
    if value or is_id(words):
        return value or words, ""
    return "", words


def to_pick(request: Request, pick: str, typed: str, *, back: str, field: str) -> Response:
    """A form sent words where it needed an id: the search page lists what they find, each with
    a link back to the form with its id (the same page works without scripts; a request htmx
    made goes there whole, not into the part of the page it would have replaced)."""
    target = "/search" + query(q=typed.strip()[:100], pick=pick, back=back, field=field)
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return see_other(target)


@router.get("/search", name="search", dependencies=[opening("search")])
async def search_page(
    request: Request,
    person: CurrentPerson,
    *,
    q: str = Query(default="", max_length=100),
    pick: str | None = Query(default=None, pattern="^(household|member|enterprise|task|feedback)$"),
    back: str | None = Query(default=None, max_length=500),
    field: str | None = Query(default=None, pattern=r"^[a-z_]{1,40}$"),
) -> Response:
    asked = Asked(q.strip(), pick, local_path(back, "/") if back else None, field)
    found = await hits(request, person, asked.q, asked.groups, SHOWN) if len(asked.q) >= SHORTEST else None
    return pages_of(request).render(
        request,
        "search.html",
        {
            "asked": asked,
            "found": found,
            "titles": GROUP_TITLES,
            "hint": HINTS.get(pick or "", N_("Name, phone, room, enterprise, task number or reference")),
            "labels": await labels_for(request, person),
        },
    )


@router.get("/search/options", name="search_options", dependencies=[opening("search")])
async def search_options(
    request: Request,
    person: CurrentPerson,
    pick: str | None = Query(default=None, pattern="^(household|member|enterprise|task|feedback)$"),
    field: str = Query(default="q", pattern=r"^[a-z_]{1,40}$"),
) -> Response:
    """What a form's list offers for what was typed in its field (htmx sends the field by its name;
    a form whose kind is chosen beside the field sends that choice as `kind`)."""
    typed = (request.query_params.get(field) or request.query_params.get("q") or "").strip()[:100]
    groups = PICKS.get(pick or request.query_params.get("kind", ""), ())
    found = await hits(request, person, typed, groups, OFFERED) if len(typed) >= SHORTEST and groups else {}
    offered = [hit for group in groups for hit in found.get(group, [])]
    unique: dict[str, Hit] = {}
    for hit in offered:  # the first of a household's hits: the resident typed for, then the household
        unique.setdefault(hit.id, hit)
    return pages_of(request).render(request, "_options.html", {"offered": list(unique.values())[:OFFERED]})


async def hits(
    request: Request, person: Person, q: str, groups: tuple[str, ...], limit: int
) -> dict[str, list[Hit]]:
    """What the services find for the reader, by group, in words."""
    services: Services = request.app.state.services
    wanted = {"q": q, "limit": limit}
    directory, tasks, feedback = await asyncio.gather(
        _asked(
            services,
            person,
            "members",
            wanted,
            set(groups) & {"residents", "households", "members", "enterprises"},
        ),
        _asked(services, person, "assignments", wanted, set(groups) & {"tasks"}),
        _asked(services, person, "feedback", wanted, set(groups) & {"feedback"}),
    )
    answers = {**directory, "tasks": tasks.get("tasks", []), "feedback": feedback.get("items", [])}
    labels = await labels_for(request, person, _named(answers))
    said = {
        "residents": [_resident(r, labels) for r in answers.get("residents", [])],
        "households": [_household(h, labels) for h in answers.get("households", [])],
        "members": [_member(m, labels, person) for m in answers.get("members", [])],
        "enterprises": [_enterprise(e, labels) for e in answers.get("enterprises", [])],
        "tasks": [_task(t, labels) for t in answers["tasks"]],
        "feedback": [_feedback(f, labels) for f in answers["feedback"]],
    }
    return {group: said[group] for group in groups}


async def _asked(
    services: Services, person: Person, service: Any, wanted: dict[str, Any], groups: set[str]
) -> dict[str, Any]:
    """One service's search, when a group it answers is wanted; what it refuses finds nothing
    (a role it searches nothing for, words too short for it)."""
    if not groups:
        return {}
    try:
        found: dict[str, Any] = await services.get(person.token, service, "/search", wanted)
    except ServiceRefused:
        return {}
    return found


def _named(answers: dict[str, Any]) -> Wanted:
    """The units and members the hits name."""
    named = Wanted()
    for group in GROUPS:
        for hit in answers.get(group, []):
            named.unit(hit.get("org_unit")).member(hit.get("member_id"), hit.get("assignee"))
    return named


def _place(row: dict[str, Any], labels: Labels) -> str:
    return labels.address(Place(labels.unit(row["org_unit"]), row.get("unit_no") or "", row["room"]))


def _resident(row: dict[str, Any], labels: Labels) -> Hit:
    tail = labels.say(PHONE_TAIL, digits=row["phone_tail"]) if row.get("phone_tail") else ""
    detail = " · ".join(part for part in (_place(row, labels), tail) if part)
    return Hit(
        row["household_id"],
        row.get("name") or labels.say(N_("(erased)")),
        detail,
        _contact("households", row["household_id"]),
    )


def _household(row: dict[str, Any], labels: Labels) -> Hit:
    people = "、".join(name for name in row.get("residents", []) if name)
    return Hit(row["household_id"], _place(row, labels), people, _contact("households", row["household_id"]))


def _member(row: dict[str, Any], labels: Labels, person: Person) -> Hit:
    detail = " · ".join((labels.unit(row["org_unit"]), labels.say(row["status"])))
    href = f"/members/{row['member_id']}" if may_open(person, "member") else None
    return Hit(row["member_id"], row.get("name") or labels.say(N_("(erased)")), detail, href)


def _enterprise(row: dict[str, Any], labels: Labels) -> Hit:
    detail = " · ".join((labels.unit(row["org_unit"]), row["address"], row["credit_code"]))
    return Hit(row["enterprise_id"], row["name"], detail, _contact("enterprises", row["enterprise_id"]))


def _task(row: dict[str, Any], labels: Labels) -> Hit:
    detail = " · ".join(
        (
            labels.say(row["state"]),
            labels.unit(row.get("origin_unit") or row["org_unit"]),
            labels.language.short(row["raised_at"]),
        )
    )
    return Hit(row["task_id"], labels.category(row["category"]), detail, f"/tasks/{row['task_id']}")


def _feedback(row: dict[str, Any], labels: Labels) -> Hit:
    detail = " · ".join(
        (
            labels.say(row["kind"]),
            labels.category(row["category"]),
            labels.say(row["state"]),
            labels.language.short(row["submitted_at"]),
        )
    )
    href = f"/tasks/{row['task_id']}" if row.get("task_id") else None
    return Hit(row["feedback_id"], row["reference"], detail, href)


def _contact(kind: str, contact_id: str) -> str:
    return f"/{kind}/{contact_id}"
