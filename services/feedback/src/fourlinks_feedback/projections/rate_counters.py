"""What a feedback item counts towards the three rates, from its row: the feedback projection keeps
these as counters per community (or the unit above one the item was submitted in) and month
(`feedback_counts`), so a community's rates read a dozen rows instead of its items; the rates query
sums the same shares when it counts rows ("as of" a past moment, per member, below a community).

`basis` names the time zone and the response limit the counters were kept under: a query under
other settings counts rows. An item's community and month never change, so a change to an item
moves its share within one group."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Table, and_, or_

from fourlinks_contracts.figures import rate_of
from fourlinks_kernel.instants import as_utc
from fourlinks_kernel.tally import counter_columns, group_columns
from fourlinks_runtime.figures import Sums

COUNTERS = ("feedback", "responded", "callbacks_answered", "resolved", "satisfied", "not_reached")
STATE = (
    "feedback_id",
    "task_id",
    "kind",
    "org_unit",
    "submitted_at",
    "assigned_at",
    "answered_at",
    "answer_resolved",
    "answer_satisfaction",
    "callback_not_reached",
)
"""The item's columns its share depends on."""
SATISFIED = frozenset({"satisfied", "basically_satisfied"})


def counts_table(metadata: MetaData) -> Table:
    """The counters, in the feedback projection's metadata (dropped and rebuilt with it)."""
    return Table("feedback_counts", metadata, *group_columns(), *counter_columns(COUNTERS))


def basis_of(zone: str, response_limit: timedelta) -> str:
    """The settings counters are kept under, as one value: "Asia/Shanghai 24h"."""
    return f"{zone} {response_limit.total_seconds() / 3600:g}h"


def worked_as_a_task(row: Mapping[str, Any]) -> bool:
    """A problem, or an opinion or question a secretary turned into a task: its response is the
    task's assignment, not an answer."""
    return row["kind"] == "problem" or row["task_id"] is not None


def responded(row: Mapping[str, Any], limit: timedelta, as_of: datetime | None = None) -> bool:
    """Acknowledged and assigned (worked as a task) or answered (anything else) within the limit
    (and, if `as_of` is given, by then)."""
    done = row["assigned_at"] if worked_as_a_task(row) else row["answered_at"]
    if done is None:
        return False
    done = as_utc(done)
    return (as_of is None or done <= as_of) and done - as_utc(row["submitted_at"]) <= limit


def response_due_at(row: Mapping[str, Any], limit: timedelta) -> datetime | None:
    """When the response to an item still waiting for one falls due (its submission plus the
    limit); None once it was responded to, or when nothing is left to respond to (closed, or its
    task rejected). The rows `awaiting_response` selects are those with a moment here."""
    done = row["assigned_at"] if worked_as_a_task(row) else row["answered_at"]
    if done is not None or row["state"] == "closed" or row.get("task_state") == "rejected":
        return None
    return as_utc(row["submitted_at"]) + limit


def awaiting_response(items: Table) -> ColumnElement[bool]:
    """The items of `items` (the feedback read model) still waiting for a response, as SQL: what
    `response_due_at` answers a moment for."""
    problem = or_(items.c.kind == "problem", items.c.task_id.is_not(None))  # `worked_as_a_task`
    task_open = or_(items.c.task_state.is_(None), items.c.task_state != "rejected")
    return and_(
        items.c.state != "closed",
        or_(
            and_(problem, items.c.assigned_at.is_(None), task_open),
            and_(~problem, items.c.answered_at.is_(None)),
        ),
    )


def answer_now(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item's latest call-back answer, as its row keeps it."""
    if row["answer_resolved"] is None:
        return None
    return {"resolved": row["answer_resolved"], "satisfaction": row["answer_satisfaction"]}


def counts_of(*, responded: bool, answer: Mapping[str, Any] | None, not_reached: bool) -> dict[str, int]:
    """What an item adds to its group: a call-back nobody answered counts as not reached, in
    neither numerator nor denominator of resolution and satisfaction."""
    answered = answer is not None
    return {
        "feedback": 1,
        "responded": int(responded),
        "callbacks_answered": int(answered),
        "resolved": int(answer is not None and answer["resolved"] == "yes"),
        "satisfied": int(answer is not None and answer["satisfaction"] in SATISFIED),
        "not_reached": int(not answered and not_reached),
    }


def counts_now(row: Mapping[str, Any], limit: timedelta) -> dict[str, int]:
    """An item's share as its row stands (what the counters hold)."""
    return counts_of(
        responded=responded(row, limit), answer=answer_now(row), not_reached=bool(row["callback_not_reached"])
    )


class RateFigures(Sums):
    """One group's shares for one month, summed; then its rates."""

    def __init__(self) -> None:
        super().__init__(COUNTERS)

    def figures(self, group: str, month: str) -> dict[str, Any]:
        counts = self.counts
        return {
            "group": group,
            "month": month,
            "feedback": counts["feedback"],
            "responded": counts["responded"],
            "response_rate": rate_of("response_rate", counts),
            "callbacks_answered": counts["callbacks_answered"],
            "resolved": counts["resolved"],
            "resolution_rate": rate_of("resolution_rate", counts),
            "satisfied": counts["satisfied"],
            "satisfaction_rate": rate_of("satisfaction_rate", counts),
            "not_reached": counts["not_reached"],
        }
