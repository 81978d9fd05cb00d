"""Who may read which district's figures, written once: a province's staff every district of
their province, a city's staff the districts of their city (the code's first 4 digits)."""

from __future__ import annotations

from fourlinks_contracts.figures import DISTRICT_CODE
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import OUT_OF_SCOPE, NotAllowed

READERS = (Role.PROVINCE, Role.CITY)


def district_prefix(actor: Actor) -> str:
    """What the codes of the districts the actor may read start with."""
    scope = actor.scope.strip()
    if not DISTRICT_CODE.match(scope):
        raise NotAllowed(
            f"a city's or province's scope is its 6-digit code (330100, 330000), not {scope or '(none)'}",
            OUT_OF_SCOPE,
            unit=scope,
        )
    if Role.PROVINCE in actor.roles:
        return scope[:2]
    return scope[:4]


def sees(actor: Actor, district: str) -> bool:
    """Whether the actor may read this district's figures."""
    return district.startswith(district_prefix(actor))
