"""The province's read model: the latest statement of each district's figures per kind, month and
community, and each district's latest checkpoint — built from FOURLINKS_PROVINCE alone, so it can be
dropped and rebuilt by replay at any time.

A statement replaces the one before it on its subject (figures are restated, never added). The
district a statement belongs to is the one the province's subject transform named, never the one
the statement names itself: a statement that names another district, or a kind, month or unit
other than its subject's, is refused, recorded against its district and skipped (one district's
fault never stops the others).

A micro-batch is first read and decided in memory (`decide`: the latest statement per row wins),
then written with one upsert per table (`write`). Counts are columns, one per count name of
`fourlinks_contracts.figures.COUNTS`, so the queries sum them in SQL; a community's categories are
rows of their own (the set of categories changes from month to month)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, String, Table, Text, and_, bindparam

from fourlinks_contracts.figures import COUNTS, CheckpointStatement, Figures, Place, parse_subject
from fourlinks_kernel.rows import insert_row, upsert_row

NAME = "province_figures"
VERSION = 2
"""Raise when the tables or what they hold change: the read model is then rebuilt from the stream.
2: counts as columns (were JSON), categories in rows of their own, indexes by kind and month."""

COUNT_COLUMNS = tuple(dict.fromkeys(name for kind in COUNTS for name in COUNTS[kind]))
"""Every count a statement of tasks, feedback or coverage carries (a column each; NULL on the rows
of other kinds, which SQL's sum skips)."""
FIGURES_KEY = ("district", "kind", "month", "unit")

metadata = MetaData()
figures = Table(
    "district_figures",
    metadata,
    Column("district", String(6), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("unit", String(300), primary_key=True),
    Column("street", String(300), nullable=False),
    Column("unit_name", String(200), nullable=False),
    Column("street_name", String(200), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    *(Column(name, BigInteger, nullable=True) for name in COUNT_COLUMNS),
    # Every query asks for a kind and a month (or a few): the sums read only those rows.
    Index("district_figures_by_kind_and_month", "kind", "month"),
    # /districts: each district's latest position and time, one index seek each.
    Index("district_figures_latest_position", "district", "position"),
    Index("district_figures_latest_time", "district", "published_at"),
)
category_counts = Table(
    "district_category_counts",
    metadata,
    Column("district", String(6), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("unit", String(300), primary_key=True),
    Column("category", String(100), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Index("district_category_counts_by_month", "month"),
)
"""A community's tasks raised in a month by category (its latest categories statement)."""
district_checkpoints = Table(
    "district_checkpoints",
    metadata,
    Column("district", String(6), primary_key=True),
    Column("origin", String(300), nullable=False),
    Column("note", Text, nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("sequence", BigInteger, nullable=False),
)
refused = Table(
    "refused_statements",
    metadata,
    Column("district", String(6), primary_key=True),
    Column("subject", String(400), nullable=False),
    Column("reason", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
)
"""The latest statement refused per district, and why (shown on /districts)."""

_FORGET_CATEGORIES = category_counts.delete().where(
    and_(*(category_counts.c[c] == bindparam(f"w_{c}") for c in ("district", "month", "unit")))
)


@dataclass(frozen=True)
class Statement:
    """One message of FOURLINKS_PROVINCE: its subject, stream sequence and body."""

    subject: str
    sequence: int
    data: bytes


class StatementRefused(ValueError):
    """A statement the province does not take (its district is kept, to say so)."""

    def __init__(self, district: str | None, reason: str) -> None:
        super().__init__(reason)
        self.district = district


@dataclass
class Changes:
    """What a micro-batch leaves in the read model: per row, the latest statement's row."""

    figures: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    categories: dict[tuple[str, ...], dict[str, int]] = field(default_factory=dict)
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    refusals: dict[str, dict[str, Any]] = field(default_factory=dict)


def decide(batch: list[Statement]) -> Changes:
    """The rows a micro-batch writes, its statements taken in order (a later one replaces an
    earlier one on the same row), refusals included."""
    changes = Changes()
    for statement in batch:
        _take(changes, statement)
    return changes


def _take(changes: Changes, statement: Statement) -> None:
    try:
        _, body = _read(statement)
    except StatementRefused as exc:
        if exc.district is not None:
            changes.refusals[exc.district] = _refusal_row(exc.district, statement, str(exc))
        return
    if isinstance(body, CheckpointStatement):
        changes.checkpoints[body.district] = _checkpoint_row(body, statement)
        return
    row = _figures_row(body, statement)
    key = tuple(row[c] for c in FIGURES_KEY)
    changes.figures[key] = row
    if body.kind == "categories":
        changes.categories[(row["district"], body.month, body.unit)] = body.counts


def write(conn: Connection, changes: Changes) -> None:
    """Write a micro-batch's rows: one upsert per table (in `batched_writes`, one run each)."""
    if changes.categories:  # a restatement's categories replace the earlier ones, dropped ones too
        forget = [{"w_district": d, "w_month": m, "w_unit": u} for d, m, u in changes.categories]
        conn.execute(_FORGET_CATEGORIES, forget)
    for row in changes.figures.values():
        upsert_row(conn, figures, row, FIGURES_KEY)
    for (district, month, unit), counted in changes.categories.items():
        for category, count in counted.items():
            place = {"district": district, "month": month, "unit": unit}
            insert_row(conn, category_counts, {**place, "category": category, "count": count})
    for row in changes.checkpoints.values():
        upsert_row(conn, district_checkpoints, row, ("district",))
    for row in changes.refusals.values():
        upsert_row(conn, refused, row, ("district",))


def _read(statement: Statement) -> tuple[Place, Figures | CheckpointStatement]:
    try:
        place = parse_subject(statement.subject)
    except ValueError as exc:
        raise StatementRefused(None, str(exc)) from exc
    if place.district is None:
        raise StatementRefused(None, "a statement without its district's code in front")
    try:
        raw = json.loads(statement.data)
        body: Figures | CheckpointStatement = (
            CheckpointStatement.model_validate(raw)
            if place.kind == "checkpoint"
            else Figures.model_validate(raw)
        )
    except (ValueError, ValidationError) as exc:
        raise StatementRefused(place.district, f"unreadable statement: {str(exc)[:300]}") from exc
    _check_matches(place, body)
    return place, body


def _check_matches(place: Place, body: Figures | CheckpointStatement) -> None:
    if body.district != place.district:
        raise StatementRefused(
            place.district, f"a statement of {place.district} names district {body.district}"
        )
    if isinstance(body, Figures) and (body.kind, body.month, body.unit) != (
        place.kind,
        place.month,
        place.unit,
    ):
        raise StatementRefused(place.district, "the statement's kind, month or unit is not its subject's")


def _figures_row(body: Figures, statement: Statement) -> dict[str, Any]:
    # Every count column is named, NULL where the kind has none: a restatement replaces the row
    # whole, and one upsert shape serves the whole batch.
    counts = {} if body.kind == "categories" else body.counts
    return {
        "district": body.district,
        "kind": body.kind,
        "month": body.month,
        "unit": body.unit,
        "street": body.street,
        "unit_name": body.unit_name,
        "street_name": body.street_name,
        "position": body.position,
        "published_at": body.published_at,
        "sequence": statement.sequence,
        **dict.fromkeys(COUNT_COLUMNS),
        **counts,
    }


def _checkpoint_row(body: CheckpointStatement, statement: Statement) -> dict[str, Any]:
    return {
        "district": body.district,
        "origin": body.origin,
        "note": body.note,
        "published_at": body.published_at,
        "sequence": statement.sequence,
    }


def _refusal_row(district: str, statement: Statement, reason: str) -> dict[str, Any]:
    return {
        "district": district,
        "subject": statement.subject[:400],
        "reason": reason,
        "sequence": statement.sequence,
    }
