"""Who may see a feedback item, and how much of it (the confidential and anonymous fields by
`fourlinks_contracts.visibility`, the rule the tasks raised from items obey too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fourlinks_contracts import visibility
from fourlinks_directory import members_directory
from fourlinks_kernel.access import SECRETARIES, Role, covers
from fourlinks_kernel.envelope import Actor

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

STAFF = SECRETARIES | {Role.AUDITOR}


def is_staff(actor: Actor) -> bool:
    """Secretaries, administrators and auditors: they see a unit's feedback."""
    return bool(set(actor.roles) & STAFF)


def visible_to(actor: Actor, row: dict[str, Any]) -> bool:
    """Households see their own; members their contacts' unless anonymous; staff their scope; an
    inspector the items of their scope (the problem and photos a spot check compares the work with)."""
    roles = set(actor.roles)
    if _own(actor, row):
        return True
    if Role.MEMBER in roles and actor.id == row["member_id"] and not row["anonymous"]:
        return True
    return bool(roles & (STAFF | {Role.INSPECTOR})) and covers(actor, row["org_unit"])


def reads_content(actor: Actor, row: dict[str, Any]) -> bool:
    """Whether this actor, who may see the item, may read what was sent (its text, its photos):
    confidential content is for the item's secretaries and the submitter only."""
    wishes = _discretion(row)
    return not wishes.confidential or visibility.reads_guarded(actor, wishes, own=_own(actor, row))


def view(actor: Actor, row: dict[str, Any]) -> dict[str, Any]:
    """A feedback item as this actor may see it: confidential content for its secretaries only, the
    submitter hidden from all but them when anonymous (the household itself sees all of its own)."""
    return visibility.shown(actor, row, _discretion(row), visibility.FEEDBACK_ITEM, own=_own(actor, row))


def contact_shown(actor: Actor, row: Mapping[str, Any]) -> dict[str, Any]:
    """A line naming an item's household or enterprise (a call-back to make), as this actor may read it."""
    return visibility.shown(actor, row, _discretion(row), visibility.CONTACT)


async def household_erased(runtime: ServiceRuntime, household_id: str) -> bool:
    """Whether the household was erased, by this service's copy of the members' directory: its
    sign-in link then opens nothing here (every route answers 410)."""
    async with runtime.engine.connect() as conn:
        return await members_directory.household_erased(conn, household_id)


def _own(actor: Actor, row: Mapping[str, Any]) -> bool:
    return Role.RESIDENT in actor.roles and actor.id in (row["household_id"], row["enterprise_id"])


def _discretion(row: Mapping[str, Any]) -> visibility.Discretion:
    return visibility.Discretion(
        unit=row["org_unit"], confidential=bool(row["confidential"]), anonymous=bool(row["anonymous"])
    )
