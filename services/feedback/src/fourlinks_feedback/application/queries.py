"""Queries of the feedback service: who may see what, and the three rates."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_contracts import visibility
from fourlinks_contracts.members import building_or_above, group_in, grouped_at_or_above_community
from fourlinks_contracts.service_matters import matter_code
from fourlinks_directory.members_directory import contact_members, known_contacts, known_members
from fourlinks_feedback.projections.feedback import (
    callbacks,
    feedback_counts,
    history,
    items,
    photos,
    ratings,
)
from fourlinks_feedback.projections.rate_counters import (
    STATE,
    RateFigures,
    answer_now,
    awaiting_response,
    basis_of,
    counts_of,
    responded,
    response_due_at,
)
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotFound
from fourlinks_kernel.instants import as_utc
from fourlinks_kernel.rows import under
from fourlinks_runtime.figures import Asked, category_counts, month_of, month_range


async def item(conn: AsyncConnection, feedback_id: str) -> dict[str, Any]:
    """One feedback item with its photos, or NotFound."""
    row = (await conn.execute(select(items).where(items.c.feedback_id == feedback_id))).mappings().first()
    if row is None:
        raise NotFound(f"feedback {feedback_id} does not exist")
    return (await with_photos(conn, [dict(row)]))[0]


async def with_photos(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items, each with the photos sent with it (one query for them all)."""
    ids = [r["feedback_id"] for r in rows]
    sent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        query = (
            select(photos)
            .where(photos.c.feedback_id.in_(ids))
            .order_by(photos.c.feedback_id, photos.c.number)
        )
        for photo in (await conn.execute(query)).mappings():
            sent[photo["feedback_id"]].append(
                {"sha256": photo["sha256"], "media_type": photo["media_type"], "size": photo["size"]}
            )
    return [{**r, "photos": sent[r["feedback_id"]]} for r in rows]


async def by_reference(conn: AsyncConnection, reference: str) -> dict[str, Any]:
    """One feedback item by the reference the resident was given."""
    row = (await conn.execute(select(items).where(items.c.reference == reference))).mappings().first()
    if row is None:
        raise NotFound(f"no feedback has the reference {reference}")
    return dict(row)


async def follow_up(conn: AsyncConnection, row: dict[str, Any]) -> dict[str, Any]:
    """The resident's follow-up view: state and history, nobody else's personal data; the category
    as its code of the catalogue (old free text reads as "other", never as itself)."""
    query = select(history.c.what, history.c.at, history.c.detail).where(
        history.c.feedback_id == row["feedback_id"]
    )
    lines = (await conn.execute(query.order_by(history.c.position))).mappings().all()
    return {
        "reference": row["reference"],
        "category": matter_code(row["category"]),
        "state": row["state"],
        "task_state": row["task_state"],
        "submitted_at": row["submitted_at"],
        "history": [dict(line) for line in lines],
    }


async def task_feedback(conn: AsyncConnection, task_id: str) -> str | None:
    """The feedback a task was raised from, if any."""
    feedback_id: str | None = await conn.scalar(select(items.c.feedback_id).where(items.c.task_id == task_id))
    return feedback_id


async def overdue_callbacks(conn: AsyncConnection, now: datetime) -> list[str]:
    """Feedback whose call-back passed its answer time unanswered."""
    query = select(callbacks.c.feedback_id).where(
        callbacks.c.answered_at.is_(None), callbacks.c.not_reached.is_(False), callbacks.c.answer_by <= now
    )
    return sorted(set(await conn.scalars(query)))


async def callbacks_due(conn: AsyncConnection, unit: str, now: datetime) -> list[dict[str, Any]]:
    """Call-backs to make now: due, not answered, not yet given up (with what the resident asked of
    the item, for `access.contact_shown`)."""
    contact = (items.c.household_id, items.c.enterprise_id, items.c.anonymous, items.c.confidential)
    query = (
        select(callbacks, items.c.reference, items.c.org_unit, *contact)
        .join(items, items.c.feedback_id == callbacks.c.feedback_id)
        .where(*_due(unit, now))
        .order_by(callbacks.c.due_at)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def callbacks_due_count(conn: AsyncConnection, unit: str, now: datetime) -> int:
    """How many call-backs are to be made now (those `callbacks_due` lists)."""
    query = (
        select(func.count())
        .select_from(callbacks.join(items, items.c.feedback_id == callbacks.c.feedback_id))
        .where(*_due(unit, now))
    )
    return int(await conn.scalar(query) or 0)


def _due(unit: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A call-back to make now: its item under the unit, due, not answered, not given up."""
    return (
        under(items.c.org_unit, unit),
        callbacks.c.answered_at.is_(None),
        callbacks.c.not_reached.is_(False),
        callbacks.c.due_at <= now,
    )


# -- the three rates -------------------------------------------------------------------------------
async def rates(
    conn: AsyncConnection,
    *,
    unit: str,
    by: str,
    month: str | None,
    zone: tzinfo,
    as_of: datetime,
    response_limit: timedelta,
    now: bool = False,
) -> list[dict[str, Any]]:
    """Response, resolution and satisfaction rates per group and month, as the history stood at `as_of`.

    Response: acknowledged and assigned (worked as a task) or answered (anything else) within the limit.
    Resolution and satisfaction: from each item's latest call-back answered by `as_of`; a call-back
    nobody answered counts as not reached, in neither numerator nor denominator.

    `now`: `as_of` is the present, so everything the read model holds happened by then. Per unit,
    the projection's counters answer then (a dozen rows per community). Otherwise each item's row
    answers (it carries its latest answer); only when an item's call-backs changed after `as_of` are
    the call-backs' own rows read to see them as they stood then.
    """
    asked = Asked(unit, by, month, zone, as_of)
    basis = basis_of(getattr(zone, "key", ""), response_limit)
    if (
        now
        and by != "member"
        and grouped_at_or_above_community(unit, by)  # counted per community, not below
        and await _counted_in(conn, basis)
    ):
        groups = await _rates_from_counters(conn, asked, basis)
    else:
        groups = await _rates_from_rows(conn, asked, response_limit)
    return [group.figures(key, period) for (key, period), group in sorted(groups.items())]


_Groups = defaultdict[tuple[str, str], RateFigures]


async def _counted_in(conn: AsyncConnection, basis: str) -> bool:
    """The counters were kept under these settings (none under others: a changed setting counts
    rows until the read model is rebuilt)."""
    query = select(feedback_counts.c.basis).where(feedback_counts.c.basis != basis).limit(1)
    return await conn.scalar(query) is None


async def _rates_from_counters(conn: AsyncConnection, asked: Asked, basis: str) -> _Groups:
    query = select(feedback_counts).where(
        feedback_counts.c.basis == basis, under(feedback_counts.c.unit, asked.unit)
    )
    if asked.month is not None:
        query = query.where(feedback_counts.c.month == asked.month)
    groups: _Groups = defaultdict(RateFigures)
    for row in (await conn.execute(query)).mappings():
        key = group_in(row["unit"], by=asked.by, root=asked.unit)
        if key is not None and row["feedback"]:
            groups[(key, row["month"])].add(dict(row))
    return groups


async def _rates_from_rows(conn: AsyncConnection, asked: Asked, limit: timedelta) -> _Groups:
    query = select(*_RATE_COLUMNS).where(
        under(items.c.org_unit, asked.unit), items.c.submitted_at <= asked.as_of
    )
    if asked.month is not None:
        query = query.where(*_within_month(asked.month, asked.zone))
    rows: list[Any] = list((await conn.execute(query)).mappings())
    changed_later = any(
        row["callbacks_changed_at"] is not None and as_utc(row["callbacks_changed_at"]) > asked.as_of
        for row in rows
    )
    callbacks_then = await _callbacks_as_of(conn, asked.unit, asked.as_of) if changed_later else None
    groups: _Groups = defaultdict(RateFigures)
    for row in rows:
        key = _group(row, asked)
        if not key:
            continue
        if callbacks_then is None:
            answer, unreached = answer_now(row), bool(row["callback_not_reached"])
        else:
            answer, unreached = callbacks_then.answer(row), callbacks_then.not_reached(row)
        counts = counts_of(responded=responded(row, limit, asked.as_of), answer=answer, not_reached=unreached)
        groups[(key, month_of(row["submitted_at"], asked.zone))].add(counts)
    return groups


_RATE_COLUMNS = [items.c[c] for c in (*STATE, "member_id", "task_assignee", "callbacks_changed_at")]


def _within_month(month: str, zone: tzinfo) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Submitted within a calendar month of the district's time zone (the index does the rest)."""
    start, end = month_range(month, zone)
    return items.c.submitted_at >= start, items.c.submitted_at < end


@dataclass(frozen=True)
class _CallbacksThen:
    """The call-backs of a unit's items as they stood at a past moment."""

    answers: dict[str, dict[str, Any]]
    unreached: set[str]

    def answer(self, row: Any) -> dict[str, Any] | None:
        return self.answers.get(row["feedback_id"])

    def not_reached(self, row: Any) -> bool:
        return row["feedback_id"] in self.unreached


async def _callbacks_as_of(conn: AsyncConnection, unit: str, as_of: datetime) -> _CallbacksThen:
    return _CallbacksThen(await _latest_answers(conn, unit, as_of), await _not_reached(conn, unit, as_of))


def _callbacks_under(unit: str, *columns: Any) -> Select[Any]:
    """Call-backs of the feedback under a unit (not the whole district's)."""
    joined = callbacks.join(items, items.c.feedback_id == callbacks.c.feedback_id)
    return select(*columns).select_from(joined).where(under(items.c.org_unit, unit))


async def _latest_answers(conn: AsyncConnection, unit: str, as_of: datetime) -> dict[str, dict[str, Any]]:
    """Each item's latest call-back answered by `as_of` (the database picks it: a community has
    several call-backs per item, and only the last answer counts)."""
    latest_first = func.row_number().over(
        partition_by=callbacks.c.feedback_id,
        order_by=(callbacks.c.answered_at.desc(), callbacks.c.round.desc()),
    )
    columns = [callbacks.c[c] for c in ("feedback_id", "answered_at", "resolved", "satisfaction")]
    ranked = (
        _callbacks_under(unit, *columns, latest_first.label("rank"))
        .where(callbacks.c.answered_at.is_not(None), callbacks.c.answered_at <= as_of)
        .subquery()
    )
    query = select(ranked.c.feedback_id, ranked.c.resolved, ranked.c.satisfaction).where(ranked.c.rank == 1)
    return {
        feedback_id: {"resolved": resolved, "satisfaction": satisfaction}
        for feedback_id, resolved, satisfaction in (await conn.execute(query)).all()
    }


async def _not_reached(conn: AsyncConnection, unit: str, as_of: datetime) -> set[str]:
    query = _callbacks_under(unit, callbacks.c.feedback_id, callbacks.c.answer_by).where(
        callbacks.c.not_reached.is_(True)
    )
    return {f for f, answer_by in (await conn.execute(query)).all() if as_utc(answer_by) <= as_of}


def _group(row: Any, asked: Asked) -> str | None:
    if asked.by == "member":
        member: str | None = row["task_assignee"] or row["member_id"]
        return member
    return group_in(row["org_unit"], by=asked.by, root=asked.unit)


@dataclass(frozen=True)
class ItemFilter:
    """Which feedback a list shows: a unit's (staff), a member's contacts' (not anonymous), or a
    household's or enterprise's own."""

    actor: Actor
    unit: str | None
    state: str | None = None
    waiting: bool | None = None  # only those waiting for a response (True), or only the others
    category: str | None = None
    contact: str | None = None  # only those about this household or enterprise


async def items_page(conn: AsyncConnection, wanted: ItemFilter, *, limit: int, offset: int) -> dict[str, Any]:
    """One page of feedback items, oldest first (those waiting: the least time left first)."""
    query = select(items)
    if wanted.unit is not None:
        query = query.where(under(items.c.org_unit, wanted.unit))
    elif Role.MEMBER in wanted.actor.roles:
        query = query.where(items.c.member_id == wanted.actor.id, items.c.anonymous.is_(False))
    else:
        query = query.where(
            (items.c.household_id == wanted.actor.id) | (items.c.enterprise_id == wanted.actor.id)
        )
    if wanted.state:
        query = query.where(items.c.state == wanted.state)
    if wanted.waiting is not None:
        waiting = awaiting_response(items)
        query = query.where(waiting if wanted.waiting else ~waiting)
    if wanted.category:
        query = query.where(items.c.category == wanted.category)
    if wanted.contact:
        about = (items.c.household_id == wanted.contact) | (items.c.enterprise_id == wanted.contact)
        query = query.where(about, _named_to(visibility.guarded_scope(wanted.actor)))
    total = await conn.scalar(select(func.count()).select_from(query.subquery()))
    rows = (await conn.execute(query.order_by(items.c.submitted_at).limit(limit).offset(offset))).mappings()
    listed = await with_photos(conn, [dict(r) for r in rows])
    return {"items": listed, "total": total or 0, "limit": limit, "offset": offset}


def with_response_due(row: dict[str, Any], *, limit: timedelta, now: datetime) -> dict[str, Any]:
    """An item with when its response falls due and the seconds left until then (negative: past
    it), both None once it was responded to."""
    due = response_due_at(row, limit)
    left = None if due is None else int((due - now).total_seconds())
    return {**row, "response_due_at": due, "response_seconds_left": left}


async def inbox_summary(conn: AsyncConnection, unit: str, *, overdue_since: datetime) -> dict[str, Any]:
    """A unit's items by state, how many wait for a response, and how many of those were submitted
    before `overdue_since` (now less the response limit: past it)."""
    under_unit = under(items.c.org_unit, unit)
    by_state = select(items.c.state, func.count()).where(under_unit).group_by(items.c.state)
    counted = {state: int(n) for state, n in (await conn.execute(by_state)).all()}
    waiting = select(func.count()).select_from(items).where(under_unit, awaiting_response(items))
    overdue = waiting.where(items.c.submitted_at < overdue_since)
    return {
        "unit": unit,
        "states": [{"state": state, "count": counted[state]} for state in sorted(counted)],
        "total": sum(counted.values()),
        "waiting": int(await conn.scalar(waiting) or 0),
        "overdue": int(await conn.scalar(overdue) or 0),
    }


async def by_category(
    conn: AsyncConnection, *, unit: str, month: str, zone: tzinfo, by: str
) -> list[dict[str, Any]]:
    """The month's items under a unit counted by category (`by` "category"), or by building and
    category ("building": an item above any building counts in its community), the most first.
    Old free-text categories count as "other"."""
    place = [items.c.org_unit] if by == "building" else []
    query = (
        select(items.c.category, *place, func.count().label("n"))
        .where(under(items.c.org_unit, unit), *_within_month(month, zone))
        .group_by(items.c.category, *place)
    )
    counted: Counter[tuple[str | None, str]] = Counter()
    for row in (await conn.execute(query)).mappings():
        building = building_or_above(row["org_unit"]) if place else None
        counted[(building, matter_code(row["category"]))] += int(row["n"])
    return category_counts(counted)


async def member_ratings(conn: AsyncConnection, member_id: str) -> dict[str, Any]:
    """A member's ratings by period: how many, and their average."""
    query = (
        select(ratings.c.period, func.count(), func.avg(ratings.c.score))
        .where(ratings.c.member_id == member_id)
        .group_by(ratings.c.period)
        .order_by(ratings.c.period)
    )
    rows = (await conn.execute(query)).all()
    return {
        "member_id": member_id,
        "periods": [{"period": p, "ratings": n, "average": round(float(a), 2)} for p, n, a in rows],
    }


async def card_link(conn: AsyncConnection, contact_id: str) -> tuple[str, str] | None:
    """The member and card covering a contact, if any."""
    row = (
        await conn.execute(
            select(contact_members.c.member_id, contact_members.c.card_id).where(
                contact_members.c.contact_id == contact_id
            )
        )
    ).first()
    return (str(row.member_id), str(row.card_id)) if row else None


async def member_unit(conn: AsyncConnection, member_id: str) -> str | None:
    """A known member's org unit, if any."""
    query = select(known_members.c.org_unit).where(known_members.c.member_id == member_id)
    unit = (await conn.execute(query)).scalar()
    return None if unit is None else str(unit)


async def known_contact(conn: AsyncConnection, contact_id: str) -> tuple[str, str] | None:
    """A registered contact's org unit and kind ("household" or "enterprise"), if any."""
    query = select(known_contacts.c.org_unit, known_contacts.c.kind).where(
        known_contacts.c.contact_id == contact_id
    )
    row = (await conn.execute(query)).first()
    return (str(row.org_unit), str(row.kind)) if row else None


# -- search ----------------------------------------------------------------------------------
def _named_to(guarded_scope: str | None) -> Any:
    """Items whose household or enterprise the reader may read (`fourlinks_contracts.visibility`):
    any not anonymous, and anonymous ones under the scope where the reader reads guarded fields
    (a filter on the household must not tell who sent an anonymous item)."""
    shown = items.c.anonymous.is_(False)
    return shown if guarded_scope is None else or_(shown, under(items.c.org_unit, guarded_scope))


def _readable_words(guarded_scope: str | None) -> Any:
    """Items whose words the reader may read: any not confidential, and confidential ones under the
    scope where the reader reads guarded fields (a search must not find by words it could not show)."""
    shown = items.c.confidential.is_(False)
    return shown if guarded_scope is None else or_(shown, under(items.c.org_unit, guarded_scope))


@dataclass(frozen=True)
class ItemSearch:
    """A search of a unit's feedback: by reference (whole, or its start), or by words (of what was
    sent and answered, where readable, or of its category)."""

    unit: str
    guarded_scope: str | None
    reference: str | None = None
    words: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the codes of the categories whose labels hold the words
    limit: int = 10


async def search_items(conn: AsyncConnection, wanted: ItemSearch) -> list[dict[str, Any]]:
    """The items found, the latest submitted first."""
    query = select(items).where(under(items.c.org_unit, wanted.unit))
    if wanted.reference is not None:
        ref = wanted.reference
        query = query.where(items.c.reference >= ref, items.c.reference < ref + "\uffff")
    else:
        said = [
            or_(items.c.description.contains(w, autoescape=True), items.c.answer.contains(w, autoescape=True))
            for w in wanted.words
        ]
        readable = (*said, _readable_words(wanted.guarded_scope))
        of_kind = items.c.category.in_(wanted.categories) if wanted.categories else false()
        query = query.where(or_(and_(*readable), of_kind))
    query = query.order_by(items.c.submitted_at.desc(), items.c.feedback_id).limit(wanted.limit)
    return await with_photos(conn, [dict(r) for r in (await conn.execute(query)).mappings()])


async def warm_up(conn: AsyncConnection, *, zone: tzinfo, now: datetime, response_limit: timedelta) -> None:
    """The feedback rates of a district's communities, asked once: their SQL is compiled at start."""
    unit = await conn.scalar(select(feedback_counts.c.unit).limit(1))
    if unit is not None:
        district = unit.split("/")[0]
        await rates(
            conn,
            unit=district,
            by="community",
            month=None,
            zone=zone,
            as_of=now,
            response_limit=response_limit,
            now=True,
        )
