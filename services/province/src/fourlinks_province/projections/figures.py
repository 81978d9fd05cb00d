"""The province's read model: the latest statement of each district's figures per kind, month and
community, and each district's latest checkpoint — built from FOURLINKS_PROVINCE alone, so it can be
dropped and rebuilt by replay at any time.

A statement replaces the one before it on its subject (figures are restated, never added). The
district a statement belongs to is the one the province's subject transform named, never the one
the statement names itself: a statement that names another district, or a kind, month or unit
other than its subject's, is refused, recorded against its district and skipped (one district's
fault never stops the others)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, Text

from fourlinks_contracts.figures import CheckpointStatement, Figures, Place, parse_subject

NAME = "province_figures"
VERSION = 1
"""Raise when the tables or what they hold change: the read model is then rebuilt from the stream."""

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
    Column("counts", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
)
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


def apply(conn: Connection, statement: Statement) -> None:
    """Take one statement into the read model, or record why it was refused."""
    try:
        place, body = _read(statement)
    except StatementRefused as exc:
        if exc.district is not None:
            _record_refusal(conn, exc.district, statement, str(exc))
        return
    if isinstance(body, CheckpointStatement):
        _replace(conn, district_checkpoints, {"district": place.district}, _checkpoint_row(body, statement))
    else:
        key = {"district": place.district, "kind": body.kind, "month": body.month, "unit": body.unit}
        _replace(conn, figures, key, _figures_row(body, statement))


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
    return {
        "street": body.street,
        "unit_name": body.unit_name,
        "street_name": body.street_name,
        "position": body.position,
        "published_at": body.published_at,
        "counts": json.dumps(body.counts, sort_keys=True),
        "sequence": statement.sequence,
    }


def _checkpoint_row(body: CheckpointStatement, statement: Statement) -> dict[str, Any]:
    return {
        "origin": body.origin,
        "note": body.note,
        "published_at": body.published_at,
        "sequence": statement.sequence,
    }


def _record_refusal(conn: Connection, district: str, statement: Statement, reason: str) -> None:
    row = {"subject": statement.subject[:400], "reason": reason, "sequence": statement.sequence}
    _replace(conn, refused, {"district": district}, row)


def _replace(conn: Connection, table: Table, key: dict[str, Any], row: dict[str, Any]) -> None:
    """The row under `key` is this one now (whatever stood there before)."""
    where = [table.c[name] == value for name, value in key.items()]
    updated = conn.execute(table.update().where(*where).values(**row))
    if updated.rowcount == 0:
        conn.execute(table.insert().values(**key, **row))
