"""One-time codes that confirm a reporter's phone at a service card's doorway: six digits texted to
the phone, good for ten minutes, for five tries, once. Limited per phone and per card (the household
or enterprise its copy was printed for), so a photographed sticker sends no flood of texts.

The phone is personal data: it is texted and forgotten. A code is kept only as a keyed digest,
beside a keyed digest of the phone (to count its codes) and the contact, for an hour; nothing of
them is logged, measured or put in an event."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fourlinks_contracts.refusals import PHONE_CODE_EXPIRED, PHONE_CODE_USED, PHONE_CODE_WRONG
from fourlinks_kernel.errors import InvalidCommand, StateConflict

DIGITS = 6
VALID = timedelta(minutes=10)
TRIES = 5
"""Tries of one code, the right one included: a guess of six digits succeeds once in 200,000."""
KEPT = timedelta(hours=1)
"""How long a code's digests are kept: the window its phone's and its card's codes are counted in."""
PER_PHONE = 5
"""Codes one phone is texted an hour."""
PER_CARD = 10
"""Codes texted an hour for one card's household or enterprise, whatever the phones."""
RESEND_AFTER = timedelta(seconds=60)
"""The least time between two codes to one phone."""
MOBILE = r"^1[3-9][0-9]{9}$"
"""A mainland mobile number: what the SMS provider texts."""
TEXTS = {
    "zh_CN": "【四联】您的验证码是 {code}，{minutes} 分钟内有效，仅用于确认本次反映。请勿告诉他人。",
    "en": "[Four Links] Your code is {code}, for {minutes} minutes and this report only. Tell no one.",
}
_LABEL = b"fourlinks phone codes v1"


class CodeWrong(InvalidCommand):
    """The code typed is not the one texted."""

    code = PHONE_CODE_WRONG


class CodeExpired(StateConflict):
    """The code is older than its ten minutes (or so old it is forgotten)."""

    code = PHONE_CODE_EXPIRED


class CodeUsed(StateConflict):
    """The code confirmed a report already, or was tried too often."""

    code = PHONE_CODE_USED


def codes_key(master_key: bytes) -> bytes:
    """The key codes and phones are digested with, derived from the master key under its own label
    (a digest of the members' phone index would join a texted phone to a resident)."""
    return hmac.new(master_key, _LABEL, hashlib.sha256).digest()


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def phone_digest(phone: str, key: bytes) -> str:
    """A phone as it is counted: keyed (eleven digits are guessed in seconds unkeyed)."""
    return hmac.new(key, b"phone\x00" + phone.encode(), hashlib.sha256).hexdigest()


def code_digest(code_id: str, code: str, key: bytes) -> str:
    """A code as it is kept: keyed, and bound to its id."""
    return hmac.new(key, f"code\x00{code_id}\x00{code}".encode(), hashlib.sha256).hexdigest()


def text_of(code: str, locale: str) -> str:
    """The text message that carries a code."""
    return (TEXTS.get(locale) or TEXTS["zh_CN"]).format(code=code, minutes=VALID.seconds // 60)


def seconds_to_wait(*, to_phone: Sequence[datetime], for_card: Sequence[datetime], now: datetime) -> int:
    """0 when a code may be texted now, given when the phone's and the card's codes of the last hour
    were; else the seconds until one may."""
    waits = [timedelta(0)]
    if to_phone:
        waits.append(max(to_phone) + RESEND_AFTER - now)
    for sent, most in ((to_phone, PER_PHONE), (for_card, PER_CARD)):
        if len(sent) >= most:
            waits.append(sorted(sent)[len(sent) - most] + KEPT - now)
    return max(0, math.ceil(max(waits).total_seconds()))


@dataclass(frozen=True)
class PhoneCode:
    """A code texted, as kept: its digest, until when it works, how often it was tried (this try
    counted), whether it confirmed a report already."""

    code_id: str
    digest: str
    expires_at: datetime
    tries: int
    used: bool

    def check(self, typed: str, *, key: bytes, now: datetime) -> None:
        """Nothing when `typed` is this code and it still works; CodeUsed, CodeExpired or CodeWrong."""
        if self.used or self.tries > TRIES:
            raise CodeUsed(f"code {self.code_id} was used or tried {TRIES} times: ask for another")
        if now >= self.expires_at:
            raise CodeExpired(
                f"code {self.code_id} has expired: ask for another", minutes=VALID.seconds // 60
            )
        if not hmac.compare_digest(self.digest, code_digest(self.code_id, typed, key)):
            left = TRIES - self.tries
            raise CodeWrong(f"code: not the code texted ({left} tries left)", tries_left=left)
