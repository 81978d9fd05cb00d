"""Small pure rules of the members domain: matters chosen from the catalogue (kept in
`fourlinks_contracts.service_matters`), credit codes, nearness."""

from __future__ import annotations

from fourlinks_contracts.members import COMMUNITY_DEPTH
from fourlinks_contracts.refusals import CREDIT_CODE_CHECKSUM, CREDIT_CODE_MALFORMED, UNKNOWN_MATTERS
from fourlinks_contracts.service_matters import SERVICE_MATTERS
from fourlinks_kernel.errors import InvalidCommand

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


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


def credit_code_check_char(first17: str) -> str:
    """The check character of a unified social credit code (GB 32100-2015)."""
    total = sum(CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def check_credit_code(code: str) -> str:
    """A unified social credit code with a valid checksum, upper-cased."""
    code = code.strip().upper()
    if len(code) != 18 or any(c not in CREDIT_CODE_CHARSET for c in code):
        raise InvalidCommand(
            "a unified social credit code has 18 characters from 0-9 and A-Y without I, O, S, V, Z",
            CREDIT_CODE_MALFORMED,
        )
    if credit_code_check_char(code[:17]) != code[17]:
        raise InvalidCommand(
            f"credit code {code} fails its checksum (last character should be "
            f"{credit_code_check_char(code[:17])})",
            CREDIT_CODE_CHECKSUM,
            expected=credit_code_check_char(code[:17]),
        )
    return code


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
