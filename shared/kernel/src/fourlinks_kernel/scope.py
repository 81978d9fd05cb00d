"""Org-unit scope: an actor may act on their unit and everything beneath it."""

from __future__ import annotations

from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed

SERVICE_ROLE = "service"


def scope_covers(scope: str, org_unit: str) -> bool:
    """Whether an actor scoped to `scope` may act on a record in `org_unit` (the unit or below)."""
    scope, org_unit = scope.strip("/"), org_unit.strip("/")
    if not scope:
        return False
    return org_unit == scope or org_unit.startswith(scope + "/")


def ensure_scope(actor: Actor, org_unit: str) -> None:
    """NotAllowed unless the unit lies within the actor's scope (services reacting to events act
    wherever the event happened)."""
    if SERVICE_ROLE in actor.roles:
        return
    if not scope_covers(actor.scope, org_unit):
        raise NotAllowed(f"org unit {org_unit} is outside your scope {actor.scope or '(none)'}")
