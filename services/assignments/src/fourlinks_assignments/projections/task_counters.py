"""The task KPIs' counters, kept by the tasks projection: per community (or the unit above one a
task was raised in) and month, what its tasks count (`task_counts`), and per category the hours
each closed task took, sorted (`task_close_hours`: the median needs the values). A community's
KPIs then read a dozen rows of each instead of its tasks.

Both tables say in `basis` which time zone's months they count (a query in another zone counts
rows). A task's community, month and category never change, so a change to a task moves its share
within one group. Within a micro-batch the groups' changes are summed, and the hours lists read
once and written once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Connection, MetaData, String, Table, Text

from fourlinks_assignments.projections.task_figures import (
    COUNTERS,
    close_hours,
    counted,
    counts_of,
)
from fourlinks_contracts.members import community_or_above
from fourlinks_kernel.rows import select_row, upsert_row
from fourlinks_kernel.tally import GROUP, Tally, counter_columns, group_columns
from fourlinks_runtime.figures import month_of


def counters_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The two tables, in the tasks projection's metadata (dropped and rebuilt with it)."""
    counts = Table("task_counts", metadata, *group_columns(), *counter_columns(COUNTERS))
    hours = Table(
        "task_close_hours",
        metadata,
        *group_columns(),
        Column("category", String(60), primary_key=True),
        Column("hours", Text, nullable=False),  # a JSON list of numbers, sorted
    )
    return counts, hours


class TaskCounters:
    """One projection's counters; a micro-batch at a time (`begin`, `moved` per change, `end`)."""

    def __init__(self, counts: Table, hours: Table, zone: str) -> None:
        self.basis, self.zone = zone, ZoneInfo(zone)
        self.counts, self.hours = counts, hours
        self.tally = Tally(counts, GROUP)
        self._lists: dict[tuple[str, ...], list[float]] = {}
        self._changed: set[tuple[str, ...]] = set()

    def begin(self, conn: Connection, closing: Iterable[dict[str, Any]]) -> None:
        """A batch starts: forget what a failed one left; read the hours lists of the groups of the
        tasks it closes or reopens."""
        self.tally.forget()
        self._lists, self._changed = {}, set()
        self._read_lists(conn, {self._list_key(task) for task in closing})

    def moved(self, conn: Connection, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """A task changed (`before` None: it was raised)."""
        group = (
            self.basis,
            community_or_above(after["origin_unit"]),
            month_of(after["raised_at"], self.zone),
        )
        share_before = (group, counts_of(before)) if before is not None and counted(before) else None
        self.tally.move(share_before, (group, counts_of(after)) if counted(after) else None)
        hours_before = close_hours(before) if before is not None and counted(before) else None
        hours_after = close_hours(after) if counted(after) else None
        if hours_before != hours_after:
            key = self._list_key(after)
            self._read_lists(conn, {key})
            values = self._lists.setdefault(key, [])
            if hours_before is not None and hours_before in values:
                values.remove(hours_before)
            if hours_after is not None:
                values.append(hours_after)
            self._changed.add(key)

    def end(self, conn: Connection) -> None:
        """Write the batch's changes: one upsert per group."""
        self.tally.write(conn)
        for key in sorted(self._changed):
            basis, unit, month, category = key
            row = {"basis": basis, "unit": unit, "month": month, "category": category}
            upsert_row(conn, self.hours, row | {"hours": json.dumps(sorted(self._lists[key]))}, list(row))
        self._lists, self._changed = {}, set()

    def _list_key(self, task: dict[str, Any]) -> tuple[str, ...]:
        unit, month = community_or_above(task["origin_unit"]), month_of(task["raised_at"], self.zone)
        return self.basis, unit, month, task["category"]

    def _read_lists(self, conn: Connection, keys: set[tuple[str, ...]]) -> None:
        """The hours lists of these groups not read yet (one query per group: a batch touches a few)."""
        for key in sorted(keys - self._lists.keys()):
            where = dict(zip(("basis", "unit", "month", "category"), key, strict=True))
            found = select_row(conn, self.hours, ["hours"], where)
            self._lists[key] = json.loads(found.hours) if found is not None else []
