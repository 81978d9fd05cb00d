"""Who may see a feedback item, and how much of it."""

from __future__ import annotations

from typing import Any

from fourlinks_kernel.access import SECRETARIES, Role, covers
from fourlinks_kernel.envelope import Actor

STAFF = SECRETARIES | {Role.AUDITOR}


def is_staff(actor: Actor) -> bool:
    """Secretaries, administrators and auditors: they see a unit's feedback."""
    return bool(set(actor.roles) & STAFF)


def visible_to(actor: Actor, row: dict[str, Any]) -> bool:
    """Households see their own; members their contacts' unless anonymous; staff their scope; an
    inspector the items of their scope (the problem and photos a spot check compares the work with)."""
    roles = set(actor.roles)
    if Role.RESIDENT in roles and actor.id in (row["household_id"], row["enterprise_id"]):
        return True
    if Role.MEMBER in roles and actor.id == row["member_id"] and not row["anonymous"]:
        return True
    return bool(roles & (STAFF | {Role.INSPECTOR})) and covers(actor, row["org_unit"])


def reads_content(actor: Actor, row: dict[str, Any]) -> bool:
    """Whether this actor, who may see the item, may read what was sent (its text, its photos):
    confidential content is for secretaries and the submitter only."""
    roles = set(actor.roles)
    own = Role.RESIDENT in roles and actor.id in (row["household_id"], row["enterprise_id"])
    return not row["confidential"] or bool(roles & SECRETARIES) or own


def view(actor: Actor, row: dict[str, Any]) -> dict[str, Any]:
    """A feedback item as this actor may see it: confidential content for secretaries only,
    the submitter hidden from the member when anonymous."""
    shown = dict(row)
    roles = set(actor.roles)
    own = Role.RESIDENT in roles and actor.id in (row["household_id"], row["enterprise_id"])
    if not reads_content(actor, row):
        shown["description"] = None
        shown["answer"] = None
        shown["photos"] = []
    if row["anonymous"] and not (roles & SECRETARIES) and not own:
        shown.update(household_id=None, enterprise_id=None, submitted_by=None)
    return shown
