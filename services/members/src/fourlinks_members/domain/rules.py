"""Small pure rules of the members domain: matters chosen from the catalogue (kept in
`fourlinks_contracts.service_matters`), credit codes (their rule is kept in
`fourlinks_contracts.credit_codes`, which the console's roster import checks with too), nearness."""

from __future__ import annotations

from fourlinks_contracts.credit_codes import CREDIT_CODE_CHARSET, check_credit_code, credit_code_check_char
from fourlinks_contracts.members import COMMUNITY_DEPTH
from fourlinks_contracts.refusals import UNKNOWN_MATTERS
from fourlinks_contracts.service_matters import SERVICE_MATTERS
from fourlinks_kernel.errors import InvalidCommand

__all__ = [  # the credit-code rule too: the service's callers import it from here
    "CREDIT_CODE_CHARSET",
    "check_credit_code",
    "check_matters",
    "community_of",
    "credit_code_check_char",
    "nearness",
]


def check_matters(matters: list[str]) -> list[str]:
    """Service matters from the catalogue, each once, in catalogue order."""
    unknown = sorted(set(matters) - SERVICE_MATTERS.keys())
    if unknown:
        raise InvalidCommand(
            f"unknown service matters {unknown}; choose from {sorted(SERVICE_MATTERS)}",
            UNKNOWN_MATTERS,
            matters=unknown,
        )
    return [m for m in SERVICE_MATTERS if m in matters]


def community_of(path: str) -> str:
    """The community (or village) a unit path lies in."""
    return "/".join(path.split("/")[:COMMUNITY_DEPTH])  # a shorter path is its own community


def nearness(member_unit: str, contact_unit: str) -> int:
    """Shared path depth: same building beats same grid beats same community."""
    shared = 0
    for a, b in zip(member_unit.split("/"), contact_unit.split("/"), strict=False):
        if a != b:
            break
        shared += 1
    return shared
