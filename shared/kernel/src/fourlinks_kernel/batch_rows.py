"""Rows a projection reads while it applies a micro-batch, kept in hand: read in one query when the
batch starts, then kept as the batch changes them. A read in the middle of a batch would first send
every write the batch holds (one round trip to PostgreSQL each time, and no long runs of one
statement); with the rows in hand, the batch's writes go at its end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from fourlinks_kernel.rows import folded_row, select_rows_by

CHUNK = 500
"""Keys per read (well under any database's limit on bound parameters)."""


class BatchRows:
    """Some columns of one table's rows, by key, for the batch being applied (`begin` .. `end`);
    outside a batch every `get` reads the row."""

    def __init__(self, table: Table, columns: Sequence[str], key: str) -> None:
        self.table, self.key = table, key
        self.columns = tuple(dict.fromkeys((key, *columns)))
        self.rows: dict[Any, dict[str, Any] | None] | None = None

    def begin(self, conn: Connection, keys: Iterable[Any]) -> None:
        """The batch starts: read the rows it will ask for (a key with no row is remembered too)."""
        wanted = sorted(set(keys))
        self.rows = dict.fromkeys(wanted)
        for start in range(0, len(wanted), CHUNK):
            found = select_rows_by(conn, self.table, self.columns, self.key, wanted[start : start + CHUNK])
            self.rows.update(found)

    @property
    def in_batch(self) -> bool:
        """Between `begin` and `end`."""
        return self.rows is not None

    def end(self) -> None:
        """The batch is over (or failed): nothing in hand outlives it."""
        self.rows = None

    def get(self, conn: Connection, key: Any) -> dict[str, Any] | None:
        """The row as it stands now (None: no such row)."""
        if self.rows is not None and key in self.rows:
            return self.rows[key]
        row = select_rows_by(conn, self.table, self.columns, self.key, [key]).get(key)
        if self.rows is not None:
            self.rows[key] = row
        return row

    def put(self, row: dict[str, Any]) -> None:
        """The batch wrote this row whole (an insert or an upsert)."""
        if self.rows is not None:
            self.rows[row[self.key]] = {column: row.get(column) for column in self.columns}

    def change(self, key: Any, changes: dict[str, Any]) -> None:
        """The batch updated the row with `update_rows(.., changes)`."""
        if self.rows is not None:
            row = self.rows.get(key)
            if row is not None:
                self.rows[key] = folded_row(row, {c: v for c, v in changes.items() if c in self.columns})
