"""Who may read what a resident's feedback says and who sent it: one rule, written once, next to
the contracts that carry the data. The feedback service answers its items by it; the assignments
service answers the tasks raised from them by it (the flags travel on `FeedbackRouted` and
`TaskRaised`); the notifier never copies these fields into a notice.

| field                                    | where                              | withheld when |
|------------------------------------------|------------------------------------|---------------|
| `description`                            | feedback item, task                | confidential  |
| `answer`, `photos`                       | feedback item                      | confidential  |
| `reason` of a reopening the resident asked for | task timeline (`TaskReopened`) | confidential  |
| `household_id`, `enterprise_id`          | feedback item, task, task timeline (`TaskRaised`) | anonymous |
| `submitted_by`                           | feedback item                      | anonymous     |

A withheld field is read only by the secretaries (and administrators) whose scope covers the
unit the item is about (`Discretion.unit`: the household's or enterprise's unit, a task's
`origin_unit`), and by the household or enterprise that sent it. Nobody else: not the assignee or
helpers, not inspectors, not auditors, not secretaries of another community. A withheld field is
answered empty (null, or an empty list) and named in the answer's `withheld`.

What the assignee learns, so the work can still be done where the resident allowed it:
- what to fix: the task's category and urgency always; the resident's words only when the item is
  not confidential;
- where: the task's unit always (a household's unit is its building or natural village, never its
  room); the household or enterprise (and so, through the card, its room and people) only when the
  item is not anonymous.
A confidential, anonymous item thus reaches its member as "a repairs problem in building b1"; the
community's secretary, who read it, tells the member what more the work needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from fourlinks_kernel.access import SECRETARIES, scope_covers
from fourlinks_kernel.envelope import Actor


class Guard(StrEnum):
    """What the resident asked for: their words for the secretaries only, or their name withheld."""

    CONFIDENTIAL = "confidential"
    ANONYMOUS = "anonymous"


Fields = Mapping[str, Guard]
FEEDBACK_ITEM: Fields = MappingProxyType(
    {
        "description": Guard.CONFIDENTIAL,
        "answer": Guard.CONFIDENTIAL,
        "photos": Guard.CONFIDENTIAL,
        "household_id": Guard.ANONYMOUS,
        "enterprise_id": Guard.ANONYMOUS,
        "submitted_by": Guard.ANONYMOUS,
    }
)
"""A feedback item's guarded fields."""
TASK: Fields = MappingProxyType(
    {
        "description": Guard.CONFIDENTIAL,
        "household_id": Guard.ANONYMOUS,
        "enterprise_id": Guard.ANONYMOUS,
    }
)
"""The fields a task copies from the feedback it was raised from."""
TASK_RAISED_LINE: Fields = MappingProxyType(
    {"household_id": Guard.ANONYMOUS, "enterprise_id": Guard.ANONYMOUS}
)
"""The details of a task's `TaskRaised` timeline line (its description is never on the timeline)."""
RESIDENT_REOPENING_LINE: Fields = MappingProxyType({"reason": Guard.CONFIDENTIAL})
"""The details of a `TaskReopened` line the resident's correction caused: the reason is their words."""
CONTACT: Fields = MappingProxyType({"household_id": Guard.ANONYMOUS, "enterprise_id": Guard.ANONYMOUS})
"""Who an item is about, wherever a list names it (a call-back to make, say)."""


@dataclass(frozen=True)
class Discretion:
    """What the resident asked of one item, and the unit it is about."""

    unit: str
    confidential: bool = False
    anonymous: bool = False

    @property
    def guards(self) -> frozenset[Guard]:
        """The guards this item raised."""
        return frozenset(
            guard
            for guard, raised in ((Guard.CONFIDENTIAL, self.confidential), (Guard.ANONYMOUS, self.anonymous))
            if raised
        )


def reads_guarded(actor: Actor, discretion: Discretion, *, own: bool = False) -> bool:
    """Whether the actor reads guarded fields: a secretary (or administrator) whose scope covers
    the item's unit, or the household or enterprise that sent it (`own`)."""
    return own or (bool(SECRETARIES & set(actor.roles)) and scope_covers(actor.scope, discretion.unit))


def guarded_scope(actor: Actor) -> str | None:
    """The unit under which the actor reads the guarded fields of items not their own (as
    `reads_guarded` decides item by item), for a query to filter on: a secretary's scope, else
    None (nowhere: a search or a filter on a guarded field then passes over guarded items)."""
    scope = actor.scope.strip("/")
    return scope if SECRETARIES & set(actor.roles) and scope else None


def withheld(actor: Actor, discretion: Discretion, fields: Fields, *, own: bool = False) -> list[str]:
    """The fields of `fields` this actor may not read in this item, sorted."""
    guards = discretion.guards
    if not guards or reads_guarded(actor, discretion, own=own):
        return []
    return sorted(name for name, guard in fields.items() if guard in guards)


def emptied(row: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """The row with the named fields emptied (null; an empty list for a list)."""
    return {
        key: ([] if isinstance(value, list | tuple) else None) if key in names else value
        for key, value in row.items()
    }


def shown(
    actor: Actor, row: Mapping[str, Any], discretion: Discretion, fields: Fields, *, own: bool = False
) -> dict[str, Any]:
    """The row as this actor may read it: withheld fields emptied and named in `withheld`."""
    names = withheld(actor, discretion, fields, own=own)
    return {**emptied(row, names), "withheld": names}


def as_neither_confidential_nor_anonymous(data: dict[str, Any]) -> dict[str, Any]:
    """The upcaster of an event that carried no wishes before (`FeedbackRouted` and `TaskRaised`
    v1): read as neither confidential nor anonymous, which is what its task showed then."""
    return {**data, "confidential": False, "anonymous": False}
