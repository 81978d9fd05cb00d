"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters whose last is a
check character. Written once, here: the members service refuses a wrong code with it, and the
console's roster import checks every row with it before anything is sent."""

from __future__ import annotations

from fourlinks_contracts.refusals import CREDIT_CODE_CHECKSUM, CREDIT_CODE_MALFORMED
from fourlinks_kernel.errors import InvalidCommand

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


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
