"""Coverage's counters, kept by the directory projection: per org unit, how many households and
enterprises lie under it and how many of them are in an active card's scope, how many active
members it has and how many of them hold more contacts than their capacity. A unit's coverage then
reads one row instead of counting its contacts and members.

A row counts in every unit on its path (district, street, community, building): `under(unit)`
matches a path exactly when the unit is one of those, so the counter row of any unit asked for
holds what counting the rows under it gives. A row's share moves when its unit, its card or (a
member's) status, capacity or contact count changes; within a micro-batch the changes are summed
and each unit's row written once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table

from fourlinks_kernel.batch_rows import BatchRows
from fourlinks_kernel.rows import folded_row
from fourlinks_kernel.tally import Share, Tally, counter_columns

COUNTERS = (
    "households",
    "households_covered",
    "enterprises",
    "enterprises_covered",
    "members_active",
    "members_over_capacity",
)
MEMBER_COLUMNS = ("org_unit", "status", "capacity", "contact_count")
CONTACT_COLUMNS = ("org_unit", "card_id")
Counts = Callable[[Mapping[str, Any]], dict[str, int]]
"""What one row adds to the counters of each unit it counts in."""


def coverage_table(metadata: MetaData) -> Table:
    """The counters, in the directory's metadata (dropped and rebuilt with it)."""
    return Table(
        "coverage_counts", metadata, Column("unit", String(512), primary_key=True), *counter_columns(COUNTERS)
    )


def units_of(path: str) -> list[str]:
    """The path and every unit above it: the units whose coverage counts a row at `path`."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


def household_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A household: one, covered while a card holds it."""
    return {"households": 1, "households_covered": int(row["card_id"] is not None)}


def enterprise_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """An enterprise: one, covered while a card holds it."""
    return {"enterprises": 1, "enterprises_covered": int(row["card_id"] is not None)}


def member_counts(row: Mapping[str, Any]) -> dict[str, int]:
    """A member counts while active; over capacity when holding more contacts than it allows."""
    active = row["status"] == "active"
    return {
        "members_active": int(active),
        "members_over_capacity": int(active and row["contact_count"] > row["capacity"]),
    }


class CoverageCounters:
    """The counters' changes of one micro-batch (`begin`, `moved` per row change, `end`)."""

    def __init__(self, table: Table) -> None:
        self.tally = Tally(table, ("unit",))

    def begin(self) -> None:
        """A batch starts: forget what a failed one left."""
        self.tally.forget()

    def moved(
        self, counts: Counts, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> None:
        """A row changed (`before` None: it was added): its share leaves the units it counted in
        and joins those it counts in now."""
        leaving, joining = _shares(counts, before), _shares(counts, after)
        if leaving == joining:
            return
        for share in leaving:
            self.tally.move(share, None)
        for share in joining:
            self.tally.move(None, share)

    def changed(
        self, conn: Connection, rows: BatchRows, counts: Counts, key: str, changes: dict[str, Any]
    ) -> None:
        """`update_rows(.., changes)` is about to run on the row `key` of `rows` (called first, so
        that a row read outside a micro-batch is read as it was): its share follows. A row the read
        model does not hold changes nothing."""
        before = rows.get(conn, key)
        if before is None:
            return
        after = folded_row(before, {c: v for c, v in changes.items() if c in rows.columns})
        rows.change(key, changes)
        self.moved(counts, before, after)

    def end(self, conn: Connection) -> None:
        """Write the batch's changes: one upsert per unit that changed."""
        self.tally.write(conn)


def _shares(counts: Counts, row: Mapping[str, Any] | None) -> list[Share]:
    if row is None:
        return []
    adds = counts(row)
    return [((unit,), adds) for unit in units_of(row["org_unit"])]
