"""Counters a projection keeps beside its rows, so that a query reads a group's few counter rows
instead of counting the group's rows: what a row adds to its group's counters is taken back as the
row was and added as the row is now, summed over a micro-batch, and written once per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table

from fourlinks_kernel.rows import add_to_row

GROUP = ("basis", "unit", "month")
"""A counter row's key: the settings it was counted under, its unit (a community, or a unit above
one), its month."""
Share = tuple[tuple[Any, ...], Mapping[str, int]]
"""What one row adds: its group's key (the counter table's key columns, in order) and its counts."""


def group_columns() -> list[Column[Any]]:
    """The key columns of a table of counters (GROUP)."""
    return [
        Column("basis", String(64), primary_key=True),
        Column("unit", String(512), primary_key=True),
        Column("month", String(7), primary_key=True),
    ]


def counter_columns(names: Sequence[str]) -> list[Column[Any]]:
    """One whole-number column per counter, from zero."""
    return [Column(name, Integer, nullable=False, default=0) for name in names]


class Tally:
    """The counters' changes of one micro-batch, per group."""

    def __init__(self, table: Table, keys: Sequence[str]) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.counters = tuple(c.name for c in table.columns if c.name not in self.keys)
        self._changes: dict[tuple[Any, ...], dict[str, int]] = {}

    def move(self, before: Share | None, after: Share | None) -> None:
        """A row changed: its old share leaves its group, its new one joins (maybe another) group."""
        if before == after:
            return
        if before is not None:
            self._add(before, -1)
        if after is not None:
            self._add(after, 1)

    def _add(self, share: Share, sign: int) -> None:
        key, counts = share
        change = self._changes.setdefault(key, dict.fromkeys(self.counters, 0))
        for name, count in counts.items():
            change[name] += sign * count

    def write(self, conn: Connection) -> None:
        """The batch's changes, one upsert per group that changed (in the batch's transaction)."""
        changes, self._changes = self._changes, {}
        for key, change in changes.items():
            if any(change.values()):
                add_to_row(conn, self.table, dict(zip(self.keys, key, strict=True)), change)

    def forget(self) -> None:
        """Drop what is not written (a batch starting again after a rollback)."""
        self._changes = {}
