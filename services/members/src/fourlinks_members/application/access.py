"""Who may see a member's record, a contact's card, and the names of units, members and
households."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fourlinks_kernel.access import Role, covers, ensure_scope, scope_covers
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidStreamId, NotAllowed, NotFound
from fourlinks_members.domain.contacts import Household
from fourlinks_members.domain.rules import community_of

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

STAFF = frozenset({Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR})
MEMBER_NAME_READERS = STAFF | {Role.INSPECTOR}


def reads_contact(actor: Actor, contact_id: str, contact: dict[str, Any]) -> bool:
    """The household (or enterprise) itself, its member, or staff in scope."""
    if Role.RESIDENT in actor.roles and actor.id == contact_id:
        return True
    if Role.MEMBER in actor.roles and actor.id == contact.get("member_id"):
        return True
    return bool(STAFF & set(actor.roles)) and covers(actor, contact["org_unit"])


def ensure_contact_reader(actor: Actor, contact_id: str, contact: dict[str, Any]) -> None:
    """The household (or enterprise) itself, its member, or staff in scope may read its card."""
    if not reads_contact(actor, contact_id, contact):
        raise NotFound(f"{contact_id} does not exist or is not yours to see")


def reads_unit_name(actor: Actor, path: str) -> bool:
    """The units of the actor's own community (all of them, whatever part of it is their scope),
    those under their scope, and those above it: where they work is no secret to them."""
    scope = actor.scope.strip("/")
    if not scope:
        return False
    return scope_covers(community_of(scope), path) or scope_covers(path, scope)


def reads_member_name(actor: Actor, member_id: str, org_unit: str) -> bool:
    """The member themself, or staff and inspectors whose scope covers the member's unit (an
    inspector checks the member's work, so reads whose it was)."""
    if Role.MEMBER in actor.roles and actor.id == member_id:
        return True
    return bool(MEMBER_NAME_READERS & set(actor.roles)) and covers(actor, org_unit)


def ensure_member_or_staff(actor: Actor, member_id: str, org_unit: str) -> None:
    """The member themself, or staff whose scope covers the member's unit."""
    if Role.MEMBER in actor.roles and actor.id == member_id:
        return
    if not STAFF & set(actor.roles):
        raise NotAllowed("members see only their own record; secretaries see their community")
    ensure_scope(actor, org_unit)


async def household_erased(runtime: ServiceRuntime, household_id: str) -> bool:
    """Whether the household was erased, by its own history: its sign-in link then opens
    nothing here (every route answers 410)."""
    try:
        stream = Household.stream_of(household_id)
    except InvalidStreamId:
        return False  # no household has such an id
    history = await runtime.store.load(stream)
    return Household.replay(household_id, [recorded.event for recorded in history.events]).erased


SEARCHED_BY_STAFF = frozenset({"residents", "members", "households", "enterprises"})


def search_groups(actor: Actor) -> frozenset[str]:
    """What a search finds for this reader, in their scope: staff, everyone and everything;
    an inspector, members (whose work they check, and whose names they read)."""
    roles = set(actor.roles)
    if STAFF & roles:
        return SEARCHED_BY_STAFF
    if Role.INSPECTOR in roles:
        return frozenset({"members"})
    return frozenset()
