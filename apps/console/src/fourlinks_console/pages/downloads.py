"""Every list as a file, `/export/{list}.xlsx` or `.csv`, with the list's own filters, in the
reader's words: units, members and households by name (`labels.py`), states and categories by
their words, moments in the district's time zone. And the two sheets a secretary hands in each
month: the KPI sheet (`/export/kpis.xlsx?month=`: the services' figures of each unit right below
and of the unit as a whole) and the visit ledger (`/export/visits.xlsx?month=`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response

from fourlinks_console.exports import Column, Table, csv_file, xlsx_file
from fourlinks_console.figures import today_in
from fourlinks_console.labels import ERASED, Labels, Wanted, labels_for
from fourlinks_console.names import N_
from fourlinks_console.pages.tasks import place_of
from fourlinks_console.people import CurrentPerson, Person
from fourlinks_console.services import Service, Services
from fourlinks_console.timeline import withheld_words

router = APIRouter()
PAGE = 500
MOST_ROWS = 50_000
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"
WRITERS: dict[str, Callable[[Table], Response]] = {"xlsx": xlsx_file, "csv": csv_file}
Row = dict[str, Any]
NONE_FOUND = N_("None found")


@dataclass(frozen=True)
class Listing:
    """One list as a file: what it is (a message id) and its ASCII name, where its rows come from,
    its columns (headers as message ids), what its rows name, and how a row reads."""

    title: str
    slug: str
    service: Service
    path: str
    columns: tuple[Column, ...]
    names: Callable[[Wanted, Row], object]
    reads: Callable[[Labels, Row], Row]


def _words(labels: Labels, code: str | None) -> str | None:
    """A code (a state, an urgency, a reason) in the reader's words."""
    return labels.say(code) if code else None


def _member_row(labels: Labels, row: Row) -> Row:
    return {
        **row,
        "name": row.get("name") or labels.say(ERASED),
        "unit": labels.unit(row.get("org_unit")),
        "status": _words(labels, row.get("status")),
    }


def _task_row(labels: Labels, row: Row) -> Row:
    return {
        **row,
        "category": labels.category(row.get("category")),
        "description": _description(labels, row),
        "place": place_of(row, labels),
        "unit": labels.unit(row.get("org_unit")),
        "state": _words(labels, row.get("state")),
        "urgency": _words(labels, row.get("urgency")),
        "source": _words(labels, row.get("source")),
        "assignee": labels.member(row["assignee"]) if row.get("assignee") else None,
        "helpers": [labels.member(h) for h in row.get("helpers") or []],
        "close_reason": _words(labels, row.get("close_reason")),
    }


def _description(labels: Labels, row: Row) -> str | None:
    """A task's description, or why it is not shown (the resident asked for confidentiality)."""
    if "description" in (row.get("withheld") or []):
        return labels.say(withheld_words("description"))
    return row.get("description")


def _uncovered_row(labels: Labels, row: Row) -> Row:
    contact = row.get("name") or labels.household(row.get("household_id")) or row.get("room")
    return {
        "unit": labels.unit(row.get("org_unit")),
        "contact": contact,
        "suggested": [labels.member(m["member_id"]) for m in row.get("suggested_members") or []],
    }


def _callback_row(labels: Labels, row: Row) -> Row:
    return {**row, "place": place_of(row, labels), "kind": _words(labels, row.get("kind"))}


def _visit_row(labels: Labels, row: Row) -> Row:
    if row.get("contact_kind") == "enterprise":
        contact = " ".join(filter(None, (row.get("enterprise_name"), row.get("enterprise_address"))))
    else:
        contact = labels.household(row.get("contact_id")) or labels.unit(row.get("org_unit"))
    found = row.get("problem_found")
    return {
        "visited_on": row.get("visited_on"),
        "member": labels.member(row.get("member_id")),
        "unit": labels.unit(row.get("org_unit")),
        "contact": contact,
        "problem": _problem(labels, row),
        "category": labels.category(row.get("problem_category")) if found else None,
    }


def _problem(labels: Labels, row: Row) -> str:
    """The problem a visit found in the member's words ("erased" with the household), or none."""
    if not row.get("problem_found"):
        return labels.say(NONE_FOUND)
    return row.get("problem_description") or labels.say(ERASED)


LISTS: dict[str, Listing] = {
    "members": Listing(
        N_("Member list"),
        "members",
        "members",
        "/members",
        (
            Column("name", N_("Name")),
            Column("unit", N_("Unit")),
            Column("party_branch", N_("Party branch")),
            Column("public_phone", N_("Public phone")),
            Column("capacity", N_("Contact limit"), "number"),
            Column("contact_count", N_("Contacts served"), "number"),
            Column("status", N_("Status")),
        ),
        lambda wanted, row: wanted.unit(row.get("org_unit")),
        _member_row,
    ),
    "tasks": Listing(
        N_("Task list"),
        "tasks",
        "assignments",
        "/tasks",
        (
            Column("category", N_("Category")),
            Column("description", N_("Description")),
            Column("place", N_("Where")),
            Column("unit", N_("Unit")),
            Column("state", N_("Status")),
            Column("urgency", N_("Urgency")),
            Column("source", N_("Origin")),
            Column("assignee", N_("Assignee")),
            Column("helpers", N_("Helpers")),
            Column("raised_at", N_("Raised"), "moment"),
            Column("due_at", N_("Deadline"), "moment"),
            Column("closed_at", N_("Closed at"), "moment"),
            Column("close_reason", N_("Reason")),
        ),
        lambda wanted, row: wanted.task(row),
        _task_row,
    ),
    "uncovered": Listing(
        N_("Uncovered contacts"),
        "uncovered",
        "members",
        "/coverage/uncovered",
        (
            Column("unit", N_("Unit")),
            Column("contact", N_("Household or enterprise")),
            Column("suggested", N_("Suggested members")),
        ),
        lambda wanted, row: (
            wanted.unit(row.get("org_unit"))
            .household(row.get("household_id"))
            .member(*(m["member_id"] for m in row.get("suggested_members") or []))
        ),
        _uncovered_row,
    ),
    "callbacks": Listing(
        N_("Call-backs due"),
        "callbacks",
        "feedback",
        "/callbacks/due",
        (
            Column("reference", N_("Feedback reference")),
            Column("place", N_("Where")),
            Column("kind", N_("Call-back type")),
            Column("round", N_("Round"), "number"),
            Column("due_at", N_("Due since"), "moment"),
            Column("answer_by", N_("Answer by"), "moment"),
        ),
        lambda wanted, row: wanted.unit(row.get("org_unit")).household(row.get("household_id")),
        _callback_row,
    ),
    "visits": Listing(
        N_("Visit ledger"),
        "visits",
        "members",
        "/visits",
        (
            Column("visited_on", N_("Visited on"), "day"),
            Column("member", N_("Member")),
            Column("unit", N_("Unit")),
            Column("contact", N_("Household or enterprise")),
            Column("problem", N_("Problem found")),
            Column("category", N_("Category")),
        ),
        lambda wanted, row: (
            wanted.unit(row.get("org_unit"))
            .member(row.get("member_id"))
            .household(row.get("contact_id") if row.get("contact_kind") == "household" else None)
        ),
        _visit_row,
    ),
}
MONTHLY = frozenset({"visits", "kpis"})
"""The sheets about one month (their name carries the month, not the day)."""

KPI_TITLE = N_("Monthly KPI sheet")
IN_ALL = N_("%(unit)s in all")
KPI_COLUMNS: tuple[Column, ...] = (
    Column("unit", N_("Unit")),
    Column("tasks", N_("Tasks"), "number"),
    Column("closed", N_("Tasks closed"), "number"),
    Column("closure_rate", N_("closure_rate"), "rate"),
    Column("due", N_("Tasks due"), "number"),
    Column("extended", N_("Extended on approval"), "number"),
    Column("closed_on_time", N_("Closed on time"), "number"),
    Column("on_time_closure_rate", N_("on_time_closure_rate"), "rate"),
    Column("resolved_at_level_rate", N_("resolved_at_level_rate"), "rate"),
    Column("rework_count", N_("Rework"), "number"),
    Column("feedback", N_("Feedback items"), "number"),
    Column("responded", N_("Responded"), "number"),
    Column("response_rate", N_("response_rate"), "rate"),
    Column("callbacks_answered", N_("Answered call-backs"), "number"),
    Column("resolved", N_("Resolved"), "number"),
    Column("resolution_rate", N_("resolution_rate"), "rate"),
    Column("satisfied", N_("Satisfied"), "number"),
    Column("satisfaction_rate", N_("satisfaction_rate"), "rate"),
    Column("not_reached", N_("Not reached"), "number"),
)
"""The KPI sheet: each figure as the assignments and feedback services answer it."""


@router.get("/export/{name}.{fmt}")
async def export(
    request: Request,
    person: CurrentPerson,
    name: str,
    fmt: str,
    *,
    unit: str | None = None,
    month: str | None = Query(default=None, pattern=MONTH),
) -> Response:
    if fmt not in WRITERS or (name not in LISTS and name != "kpis"):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "exports: members, tasks, uncovered, callbacks, visits or kpis, as .xlsx or .csv",
        )
    root = (unit or person.scope).strip("/")
    timezone: str = request.app.state.runtime.timezone
    period = (month or today_in(timezone).strftime("%Y-%m")) if name in MONTHLY else None
    taken_at = datetime.now(ZoneInfo(timezone))
    if name == "kpis":
        assert period is not None  # a monthly sheet
        labels, rows = await _kpi_rows(request, person, root, period)
        title, slug, columns = KPI_TITLE, "kpis", KPI_COLUMNS
    else:
        listing = LISTS[name]
        labels, rows = await _list_rows(request, person, listing, root, period)
        title, slug, columns = listing.title, listing.slug, listing.columns
    table = Table(
        title=labels.say(title),
        slug=slug,
        scope=labels.unit(root),
        taken_at=taken_at,
        zone=ZoneInfo(timezone),
        columns=[Column(c.key, labels.say(c.header), c.kind) for c in columns],
        rows=rows,
        period=period,
    )
    return WRITERS[fmt](table)


async def _list_rows(
    request: Request, person: Person, listing: Listing, root: str, month: str | None
) -> tuple[Labels, list[Row]]:
    """A list's rows with the list's filters, every one read in the reader's words."""
    filters = {k: v for k, v in request.query_params.items() if k not in ("unit", "month")}
    params = {**filters, "unit": root, "month": month}
    services: Services = request.app.state.services
    found = await _all_rows(services, person.token, listing.service, listing.path, params)
    wanted = Wanted().unit(root)
    for row in found:
        listing.names(wanted, row)
    labels = await labels_for(request, person, wanted)
    return labels, [listing.reads(labels, row) for row in found]


async def _kpi_rows(request: Request, person: Person, root: str, month: str) -> tuple[Labels, list[Row]]:
    """The month's figures of each unit right below, then of the unit as a whole: as the
    assignments and feedback services answer them."""
    services: Services = request.app.state.services
    tasks_below, feedback_below, tasks_whole, feedback_whole = await asyncio.gather(
        *(
            services.get(person.token, service, "/kpis", {"unit": root, "by": by, "month": month})
            for by in ("child", "unit")
            for service in ("assignments", "feedback")
        )
    )
    groups = _by_group(tasks_below, feedback_below)
    labels = await labels_for(request, person, Wanted().unit(root, *groups))
    rows = [{**row, "unit": labels.unit(group)} for group, row in groups.items()]
    whole = _by_group(tasks_whole, feedback_whole).values()
    rows += [{**row, "unit": labels.say(IN_ALL, unit=labels.unit(root))} for row in whole]
    return labels, rows


def _by_group(*answers: list[Row]) -> dict[str, Row]:
    """Each group's figures from both services in one row, in the order of the groups."""
    merged: dict[str, Row] = {}
    for answer in answers:
        for row in answer:
            merged.setdefault(row["group"], {}).update(row)
    return dict(sorted(merged.items()))


async def _all_rows(
    services: Services, token: str, service: Service, path: str, params: dict[str, Any]
) -> list[Row]:
    """Every page of a list (at most MOST_ROWS rows)."""
    rows: list[Row] = []
    while len(rows) < MOST_ROWS:
        page = await services.get(token, service, path, {**params, "limit": PAGE, "offset": len(rows)})
        if isinstance(page, list):  # a list the service answers whole
            return page[:MOST_ROWS]
        rows.extend(page["items"])
        if len(page["items"]) < PAGE or len(rows) >= page.get("total", 0):
            return rows
    return rows
