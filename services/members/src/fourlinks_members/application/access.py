"""Who may see a member's record and a contact's card."""

from __future__ import annotations

from typing import Any

from fourlinks_kernel.access import Role, covers, ensure_scope
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed, NotFound


def ensure_contact_reader(actor: Actor, contact_id: str, contact: dict[str, Any]) -> None:
    """The household (or enterprise) itself, its member, or staff in scope may read its card."""
    if Role.RESIDENT in actor.roles and actor.id == contact_id:
        return
    if Role.MEMBER in actor.roles and actor.id == contact.get("member_id"):
        return
    if {Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR} & set(actor.roles) and covers(
        actor, contact["org_unit"]
    ):
        return
    raise NotFound(f"{contact_id} does not exist or is not yours to see")


def ensure_member_or_staff(actor: Actor, member_id: str, org_unit: str) -> None:
    """The member themself, or staff whose scope covers the member's unit."""
    if Role.MEMBER in actor.roles and actor.id == member_id:
        return
    if not {Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR} & set(actor.roles):
        raise NotAllowed("members see only their own record; secretaries see their community")
    ensure_scope(actor, org_unit)
