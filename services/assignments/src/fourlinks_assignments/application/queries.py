"""Queries of the assignments service, from its read models: boards, timelines and KPIs."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_assignments.application.handlers import MemberInfo
from fourlinks_assignments.domain.tasks import DeadlinePolicy, DeadlineStanding
from fourlinks_assignments.projections.task_figures import (
    STATE,
    GroupFigures,
    close_hours,
    counted,
    counts_of,
    overdue_open,
)
from fourlinks_assignments.projections.tasks import (
    party_days,
    task_as_of,
    task_close_hours,
    task_counts,
    tasks,
    timeline,
)
from fourlinks_contracts.assignments import OPEN_TASK_STATES, TaskState
from fourlinks_contracts.members import building_or_above, group_in, grouped_at_or_above_community
from fourlinks_contracts.service_matters import matter_code
from fourlinks_directory.members_directory import (
    contact_members,
    known_contacts,
    known_members,
    team_helpers,
)
from fourlinks_kernel.errors import NotFound
from fourlinks_kernel.instants import as_utc
from fourlinks_kernel.rows import under
from fourlinks_runtime.figures import Asked, category_counts, month_of, month_range

OPEN_STATES = tuple(sorted(state.value for state in OPEN_TASK_STATES))


class SqlDirectory:
    """The Directory port over the service's read model of the members' events."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def member(self, member_id: str) -> MemberInfo | None:
        row = (
            await self.conn.execute(select(known_members).where(known_members.c.member_id == member_id))
        ).first()
        if row is None:
            return None
        helpers = await self.conn.scalars(
            select(team_helpers.c.helper_id).where(team_helpers.c.member_id == member_id)
        )
        return MemberInfo(member_id, row.org_unit, bool(row.active), frozenset(helpers))

    async def member_of_contact(self, contact_id: str) -> str | None:
        query = select(contact_members.c.member_id).where(contact_members.c.contact_id == contact_id)
        member_id: str | None = await self.conn.scalar(query)
        return member_id

    async def contact_kind(self, contact_id: str) -> str | None:
        query = select(known_contacts.c.kind).where(known_contacts.c.contact_id == contact_id)
        kind: str | None = await self.conn.scalar(query)
        return kind


async def page(conn: AsyncConnection, query: Select[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """One page of a query, with the total count."""
    total = await conn.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return {"items": [_task_view(r) for r in rows], "total": total or 0, "limit": limit, "offset": offset}


def _task_view(row: Any) -> dict[str, Any]:
    view = dict(row)
    if "helpers" in view:
        view["helpers"] = json.loads(view["helpers"] or "[]")
    return view


async def task_row(conn: AsyncConnection, task_id: str) -> dict[str, Any]:
    """One task, or NotFound."""
    row = (await conn.execute(select(tasks).where(tasks.c.task_id == task_id))).mappings().first()
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return _task_view(row)


async def task_timeline(conn: AsyncConnection, task_id: str) -> list[dict[str, Any]]:
    """Every event of a task in order: who, when, what."""
    query = select(timeline).where(timeline.c.task_id == task_id).order_by(timeline.c.position)
    return [{**dict(r), "details": json.loads(r["details"])} for r in (await conn.execute(query)).mappings()]


async def board(conn: AsyncConnection, unit: str) -> dict[str, int]:
    """How many tasks of a unit are in each state."""
    query = select(tasks.c.state, func.count()).where(under(tasks.c.org_unit, unit)).group_by(tasks.c.state)
    return {str(state): int(count) for state, count in (await conn.execute(query)).all()}


def overdue_filter(now: datetime) -> Any:
    """Open tasks past their deadline."""
    return and_(tasks.c.state.in_(OPEN_STATES), tasks.c.due_at < now)


async def due_deadlines(conn: AsyncConnection, *, now: datetime, policy: DeadlinePolicy) -> list[str]:
    """Open tasks whose reminder or miss `now` has reached and the read model has not seen yet:
    the scheduler loads only these (each decides again on its own state)."""
    query = select(tasks.c.task_id, tasks.c.triaged_at, tasks.c.due_at, tasks.c.reminded_for).where(
        tasks.c.state.in_(OPEN_STATES),
        tasks.c.due_at.is_not(None),
        tasks.c.triaged_at.is_not(None),
        tasks.c.missed.is_(False),
    )
    rows = (await conn.execute(query)).all()
    return [row.task_id for row in rows if _deadline_reached(row, now, policy)]


def _deadline_reached(row: Any, now: datetime, policy: DeadlinePolicy) -> bool:
    due_at, triaged_at = as_utc(row.due_at), as_utc(row.triaged_at)
    reminded = row.reminded_for is not None and as_utc(row.reminded_for) == due_at
    return now >= due_at or (not reminded and now >= policy.reminder_at(triaged_at, due_at))


def deadline_of(task: Mapping[str, Any], *, policy: DeadlinePolicy, now: datetime) -> DeadlineStanding | None:
    """Where a task stands against its deadline at `now` (an open, accepted task's only)."""
    if task["state"] not in OPEN_STATES or task["due_at"] is None or task["triaged_at"] is None:
        return None
    return policy.standing(triaged_at=as_utc(task["triaged_at"]), due_at=as_utc(task["due_at"]), now=now)


async def board_summary(
    conn: AsyncConnection, unit: str, *, policy: DeadlinePolicy, now: datetime
) -> dict[str, Any]:
    """A unit's tasks waiting for triage and open, and of the open ones how many are past their
    deadline or near it (as each task's page flags it)."""
    counts = await board(conn, unit)
    query = select(tasks.c.state, tasks.c.triaged_at, tasks.c.due_at).where(
        under(tasks.c.org_unit, unit), tasks.c.state.in_(OPEN_STATES), tasks.c.due_at.is_not(None)
    )
    standings = Counter(
        deadline_of(dict(row), policy=policy, now=now) for row in (await conn.execute(query)).mappings()
    )
    return {
        "unit": unit,
        "raised": counts.get(TaskState.RAISED.value, 0),
        "open": sum(counts.get(state, 0) for state in OPEN_STATES),
        "overdue": standings["overdue"],
        "approaching": standings["approaching"],
    }


async def recurring(conn: AsyncConnection, unit: str, *, since: datetime, times: int) -> list[dict[str, Any]]:
    """The places (the unit a task came from) and categories raised at least `times` times since
    then under a unit, the most raised first."""
    place = func.coalesce(tasks.c.origin_unit, tasks.c.org_unit).label("unit")
    raised = func.count().label("count")
    query = (
        select(place, tasks.c.category, raised)
        .where(under(tasks.c.org_unit, unit), tasks.c.raised_at >= since)
        .group_by(place, tasks.c.category)
        .having(func.count() >= times)
        .order_by(raised.desc(), place, tasks.c.category)
    )
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def by_category(
    conn: AsyncConnection, *, unit: str, month: str, zone: tzinfo, by: str
) -> list[dict[str, Any]]:
    """The tasks raised in a month from places under a unit (rejected ones aside), counted by
    category (`by` "category") or by the building they came from and category ("building": a task
    from above any building counts in its community), the most first."""
    start, end = month_range(month, zone)
    place = [tasks.c.origin_unit] if by == "building" else []
    query = (
        select(tasks.c.category, *place, func.count().label("n"))
        .where(
            under(tasks.c.origin_unit, unit),
            tasks.c.raised_at >= start,
            tasks.c.raised_at < end,
            tasks.c.state != TaskState.REJECTED.value,
        )
        .group_by(tasks.c.category, *place)
    )
    counted: Counter[tuple[str | None, str]] = Counter()
    for row in (await conn.execute(query)).mappings():
        building = building_or_above(row["origin_unit"]) if place else None
        counted[(building, matter_code(row["category"]))] += int(row["n"])
    return category_counts(counted)


async def open_tasks_of(conn: AsyncConnection, member_id: str) -> list[str]:
    """Ids of a member's open tasks."""
    query = select(tasks.c.task_id).where(tasks.c.assignee == member_id, tasks.c.state.in_(OPEN_STATES))
    return list(await conn.scalars(query))


async def party_day_summary(conn: AsyncConnection, session_id: str) -> dict[str, Any]:
    """What a session handed out, and what its community closed since the session before."""
    session = (
        (await conn.execute(select(party_days).where(party_days.c.session_id == session_id)))
        .mappings()
        .first()
    )
    if session is None:
        raise NotFound(f"themed party day {session_id} does not exist")
    previous = await conn.scalar(
        select(func.max(party_days.c.held_on)).where(
            party_days.c.community == session["community"], party_days.c.held_on < session["held_on"]
        )
    )
    handed_out = await conn.scalars(select(tasks.c.task_id).where(tasks.c.party_day_id == session_id))
    closed = select(tasks.c.task_id).where(
        under(tasks.c.org_unit, session["community"]), tasks.c.state == "closed"
    )
    if previous is not None:
        closed = closed.where(func.date(tasks.c.closed_at) > previous)
    closed = closed.where(func.date(tasks.c.closed_at) <= session["held_on"])
    summary: dict[str, Any] = {
        "session_id": session_id,
        "community": session["community"],
        "held_on": session["held_on"],
        "agenda": json.loads(session["agenda"]),
        "previous_session_on": previous,
        "handed_out": sorted(handed_out),
        "closed_since_previous": sorted(await conn.scalars(closed)),
    }
    summary["handed_out_count"] = len(summary["handed_out"])
    summary["closed_since_previous_count"] = len(summary["closed_since_previous"])
    return summary


# -- KPIs ------------------------------------------------------------------------------------------
def _group_key(row: Any, asked: Asked) -> str | None:
    if asked.by == "member":
        value: str | None = row["closed_assignee"] or row["assignee"]
        return value
    return group_in(row["origin_unit"], by=asked.by, root=asked.unit)


_KPI_COLUMNS = [tasks.c[c] for c in (*STATE, "assignee", "closed_assignee")]
_Groups = defaultdict[tuple[str, str], GroupFigures]


async def kpis(
    conn: AsyncConnection,
    *,
    unit: str,
    by: str,
    month: str | None,
    zone: tzinfo,
    as_of: datetime,
    from_history: bool = False,
) -> list[dict[str, Any]]:
    """Closure, on-time closure, resolved-at-level, rework and median time to close, per group.

    A task counts in the month it was raised (in the district's time zone). On-time closure rate
    is closed on time / (due − legitimately extended): tasks whose deadline was extended on approval
    leave the denominator. Resolved at level: closed without escalation. `from_history`: as the
    tasks stood at `as_of` — a task that changed since is its timeline up to then, folded.

    Per unit, now, the projection's counters answer (a few rows per unit and month) with the open
    tasks past their deadline; as of a past day, or per member, the tasks' rows are counted.
    """
    asked = Asked(unit, by, month, zone, as_of)
    basis = getattr(zone, "key", None)
    if (
        from_history
        or by == "member"
        or basis is None
        or not grouped_at_or_above_community(unit, by)  # counted per community, not below
        or not await _counted_in(conn, basis)
    ):
        groups = await _counted_from_rows(conn, asked, from_history=from_history)
    else:
        groups = await _counted_from_counters(conn, asked, basis)
    return [group.figures(key, period) for (key, period), group in sorted(groups.items())]


async def _counted_in(conn: AsyncConnection, basis: str) -> bool:
    """The counters were kept in this time zone's months (none in another: a changed setting
    counts rows until the read model is rebuilt)."""
    other = await conn.scalar(select(task_counts.c.basis).where(task_counts.c.basis != basis).limit(1))
    return other is None


async def _counted_from_rows(conn: AsyncConnection, asked: Asked, *, from_history: bool) -> _Groups:
    if from_history:
        rows = await _tasks_as_of(conn, asked.unit, asked.as_of)
    else:
        query = select(*_KPI_COLUMNS).where(
            under(tasks.c.origin_unit, asked.unit), tasks.c.triaged_at.is_not(None)
        )
        rows = list((await conn.execute(query)).mappings())
    groups: _Groups = defaultdict(GroupFigures)
    for row in rows:
        raised_month = month_of(row["raised_at"], asked.zone)
        key = _group_key(row, asked)
        if not counted(row) or key is None or not asked.wants(raised_month):
            continue
        group = groups[(key, raised_month)]
        group.add(counts_of(row))
        if overdue_open(row, asked.as_of):
            group.add_overdue(bool(row["extended"]))
        hours = close_hours(row)
        if hours is not None:
            group.add_hours(row["category"], [hours])
    return groups


async def _counted_from_counters(conn: AsyncConnection, asked: Asked, basis: str) -> _Groups:
    groups: _Groups = defaultdict(GroupFigures)
    counters = select(task_counts).where(task_counts.c.basis == basis, under(task_counts.c.unit, asked.unit))
    hours = select(*(task_close_hours.c[c] for c in ("unit", "month", "category", "hours"))).where(
        task_close_hours.c.basis == basis, under(task_close_hours.c.unit, asked.unit)
    )
    if asked.month is not None:
        counters = counters.where(task_counts.c.month == asked.month)
        hours = hours.where(task_close_hours.c.month == asked.month)
    for row in (await conn.execute(counters)).mappings():
        key = group_in(row["unit"], by=asked.by, root=asked.unit)
        if key is not None and row["tasks"]:
            groups[(key, row["month"])].add(dict(row))
    for origin_unit, raised_month, extended in await _overdue_open(conn, asked.unit, asked.zone, asked.as_of):
        key = group_in(origin_unit, by=asked.by, root=asked.unit)
        if key is not None and asked.wants(raised_month):
            groups[(key, raised_month)].add_overdue(extended)
    for unit, raised_month, category, values in (await conn.execute(hours)).all():
        key = group_in(unit, by=asked.by, root=asked.unit)
        if key is not None:
            groups[(key, raised_month)].add_hours(category, json.loads(values))
    return groups


async def _overdue_open(
    conn: AsyncConnection, unit: str, zone: tzinfo, as_of: datetime
) -> list[tuple[str, str, bool]]:
    """The unit's open tasks past their first deadline at `as_of` (origin, month raised, extended)."""
    query = select(tasks.c.origin_unit, tasks.c.raised_at, tasks.c.extended).where(
        under(tasks.c.origin_unit, unit),
        tasks.c.state.in_(OPEN_STATES),
        tasks.c.triaged_at.is_not(None),
        tasks.c.due_at.is_not(None),
        tasks.c.original_due_at <= as_of,
    )
    rows = (await conn.execute(query)).all()
    return [(origin, month_of(raised_at, zone), bool(extended)) for origin, raised_at, extended in rows]


async def _tasks_as_of(conn: AsyncConnection, unit: str, as_of: datetime) -> list[Any]:
    """The unit's tasks raised by `as_of`, each as it stood then."""
    raised = select(*_KPI_COLUMNS).where(under(tasks.c.origin_unit, unit), tasks.c.raised_at <= as_of)
    rows = {row["task_id"]: row for row in (await conn.execute(raised)).mappings()}
    changed_since = (
        select(timeline.c.task_id)
        .where(timeline.c.task_id.in_(raised.with_only_columns(tasks.c.task_id)), timeline.c.at > as_of)
        .distinct()
    )
    lines = (
        select(timeline.c.task_id, timeline.c.event_type, timeline.c.at, timeline.c.details)
        .where(timeline.c.task_id.in_(changed_since), timeline.c.at <= as_of)
        .order_by(timeline.c.task_id, timeline.c.position)
    )
    by_task: dict[str, list[tuple[str, datetime, str]]] = defaultdict(list)
    for task_id, event_type, at, details in (await conn.execute(lines)).all():
        by_task[task_id].append((event_type, at, details))
    return [
        task_as_of(task_id, by_task[task_id]) if task_id in by_task else row for task_id, row in rows.items()
    ]


async def party_days_under(conn: AsyncConnection, root: str) -> list[dict[str, Any]]:
    """Themed party days of the communities under `root`, the agenda a list as it was sent."""
    query = select(party_days).where(under(party_days.c.community, root)).order_by(party_days.c.held_on)
    return [{**row, "agenda": json.loads(row["agenda"])} for row in (await conn.execute(query)).mappings()]


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks of a unit a list shows."""

    unit: str
    state: str | None = None
    assignee: str | None = None
    overdue_at: datetime | None = None
    needs_reassignment: bool = False
    category: str | None = None
    urgency: str | None = None
    source: str | None = None
    raised_since: datetime | None = None
    checker: str | None = None  # only tasks this person may spot-check: not their work, nor help
    contact: str | None = None  # only those about this household or enterprise ...
    guarded_scope: str | None = None  # ... an anonymous one only where the reader reads who sent it


async def tasks_page(conn: AsyncConnection, wanted: TaskFilter, *, limit: int, offset: int) -> dict[str, Any]:
    """One page of a unit's tasks, oldest first."""
    query = _filtered(select(tasks), wanted)
    return await page(conn, query.order_by(tasks.c.raised_at, tasks.c.task_id), limit=limit, offset=offset)


async def board_columns(conn: AsyncConnection, wanted: TaskFilter, *, limit: int) -> dict[str, Any]:
    """A board in two queries: each state's count, and each state's oldest `limit` tasks."""
    counted = _filtered(select(tasks.c.state, func.count()), wanted).group_by(tasks.c.state)
    totals = {str(state): int(count) for state, count in (await conn.execute(counted)).all()}
    order = func.row_number().over(partition_by=tasks.c.state, order_by=(tasks.c.raised_at, tasks.c.task_id))
    ranked = _filtered(select(tasks, order.label("place_in_column")), wanted).subquery()
    query = select(ranked).where(ranked.c.place_in_column <= limit).order_by(ranked.c.place_in_column)
    columns: dict[str, Any] = {
        state.value: {"items": [], "total": totals.get(state.value, 0), "limit": limit, "offset": 0}
        for state in TaskState
    }
    for row in (await conn.execute(query)).mappings():
        view = _task_view(row)
        del view["place_in_column"]
        columns[view["state"]]["items"].append(view)
    return columns


def _filtered(query: Select[Any], wanted: TaskFilter) -> Select[Any]:
    query = query.where(under(tasks.c.org_unit, wanted.unit))
    if wanted.state:
        query = query.where(tasks.c.state == wanted.state)
    if wanted.assignee:
        query = query.where(tasks.c.assignee == wanted.assignee)
    if wanted.overdue_at is not None:
        query = query.where(overdue_filter(wanted.overdue_at))
    if wanted.needs_reassignment:
        query = query.where(tasks.c.needs_reassignment.is_(True))
    if wanted.raised_since is not None:
        query = query.where(tasks.c.raised_at >= wanted.raised_since)
    if wanted.checker is not None:
        query = query.where(*_not_worked_by(wanted.checker))
    if wanted.contact is not None:
        about = or_(tasks.c.household_id == wanted.contact, tasks.c.enterprise_id == wanted.contact)
        query = query.where(about, _named_to(wanted.guarded_scope))
    for column, value in (
        ("category", wanted.category),
        ("urgency", wanted.urgency),
        ("source", wanted.source),
    ):
        if value:
            query = query.where(tasks.c[column] == value)
    return query


def _named_to(guarded_scope: str | None) -> Any:
    """Tasks whose household or enterprise the reader may read (`fourlinks_contracts.visibility`):
    any not anonymous, and anonymous ones from under the scope where the reader reads guarded
    fields (a filter on the household must not tell who sent an anonymous item)."""
    shown = tasks.c.anonymous.is_(False)
    return shown if guarded_scope is None else or_(shown, under(tasks.c.origin_unit, guarded_scope))


def _readable_words(guarded_scope: str | None) -> Any:
    """Tasks whose description the reader may read: any not confidential, and confidential ones
    from under the scope where the reader reads guarded fields (a search must not find by words
    it could not show)."""
    shown = tasks.c.confidential.is_(False)
    return shown if guarded_scope is None else or_(shown, under(tasks.c.origin_unit, guarded_scope))


@dataclass(frozen=True)
class TaskSearch:
    """A search of a unit's tasks: by reference (a task's number or its start, or the feedback
    it was raised from), or by words (of its description, where readable, or of its category)."""

    unit: str
    guarded_scope: str | None
    reference: str | None = None
    words: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the codes of the categories whose labels hold the words
    limit: int = 10


async def search_tasks(conn: AsyncConnection, wanted: TaskSearch) -> list[dict[str, Any]]:
    """The tasks found, the latest raised first."""
    query = select(tasks).where(under(tasks.c.org_unit, wanted.unit))
    if wanted.reference is not None:
        ref = wanted.reference
        numbered = and_(tasks.c.task_id >= ref, tasks.c.task_id < ref + "\uffff")
        query = query.where(or_(numbered, tasks.c.source_ref == ref))
    else:
        said = and_(
            *(tasks.c.description.contains(w, autoescape=True) for w in wanted.words),
            _readable_words(wanted.guarded_scope),
        )
        of_kind = tasks.c.category.in_(wanted.categories) if wanted.categories else false()
        query = query.where(or_(said, of_kind))
    query = query.order_by(tasks.c.raised_at.desc(), tasks.c.task_id).limit(wanted.limit)
    return [_task_view(r) for r in (await conn.execute(query)).mappings()]


def _not_worked_by(person: str) -> tuple[Any, ...]:
    """Tasks the person neither was assigned nor helped with (the spot check's separation of duties)."""
    return (
        or_(tasks.c.assignee.is_(None), tasks.c.assignee != person),
        ~tasks.c.helpers.contains(json.dumps(person), autoescape=True),
    )


async def open_tasks_page(conn: AsyncConnection, member_id: str) -> dict[str, Any]:
    """A member's open tasks, the nearest deadline first."""
    query = select(tasks).where(tasks.c.assignee == member_id, tasks.c.state.in_(OPEN_STATES))
    return await page(conn, query.order_by(tasks.c.due_at), limit=500, offset=0)


async def warm_up(conn: AsyncConnection, *, zone: tzinfo, now: datetime) -> None:
    """The task KPIs of a district's communities, asked once: their SQL is compiled at start."""
    unit = await conn.scalar(select(task_counts.c.unit).limit(1))
    if unit is not None:
        await kpis(conn, unit=unit.split("/")[0], by="community", month=None, zone=zone, as_of=now)
