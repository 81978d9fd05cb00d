"""Who may do what, written once: the roles of the people who use the system, and the org-unit
scope rule (an actor may act on their unit and everything beneath it)."""

from __future__ import annotations

from enum import StrEnum

from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import OUT_OF_SCOPE, NotAllowed


class Role(StrEnum):
    """Who uses the system (DOMAIN.md, Roles)."""

    ADMINISTRATOR = "administrator"
    SECRETARY = "secretary"
    MEMBER = "member"
    HELPER = "helper"
    INSPECTOR = "inspector"
    RESIDENT = "resident"
    AUDITOR = "auditor"
    SERVICE = "service"
    # Above the districts: a city's or a province's staff read the figures their districts send up
    # (the province service); their unit is a GB/T 2260 code (330100, 330000), not an org-unit path.
    CITY = "city"
    PROVINCE = "province"


SECRETARIES = frozenset({Role.SECRETARY, Role.ADMINISTRATOR})
"""Those who manage a unit: secretaries, and administrators above them."""
SERVICE_ROLE = Role.SERVICE


def has_role(actor: Actor, *roles: Role) -> bool:
    """Whether the actor holds any of the roles."""
    return any(role in actor.roles for role in roles)


def scope_covers(scope: str, org_unit: str) -> bool:
    """Whether an actor scoped to `scope` may act on a record in `org_unit` (the unit or below)."""
    scope, org_unit = scope.strip("/"), org_unit.strip("/")
    if not scope:
        return False
    return org_unit == scope or org_unit.startswith(scope + "/")


def covers(actor: Actor, org_unit: str) -> bool:
    """Whether the unit lies within the actor's scope (services reacting to events act wherever
    the event happened)."""
    return SERVICE_ROLE in actor.roles or scope_covers(actor.scope, org_unit)


def ensure_scope(actor: Actor, org_unit: str) -> None:
    """NotAllowed unless the unit lies within the actor's scope."""
    if not covers(actor, org_unit):
        raise NotAllowed(
            f"org unit {org_unit} is outside your scope {actor.scope or '(none)'}",
            OUT_OF_SCOPE,
            unit=org_unit,
        )
