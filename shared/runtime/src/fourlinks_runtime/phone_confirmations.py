"""A reporter's phone confirmed by a one-time code, vouched for from the notifications service (which
texted the code and checked it) to the feedback service (which records the report as confirmed).
Services never call each other: the console carries the vouching from one to the other within the
one request that reports, so it never reaches a browser.

41 bytes, 55 characters of base64url: a version byte, the household's or enterprise's id (16
bytes), when the vouching ends (8 bytes, Unix seconds) and the first 16 bytes of an HMAC-SHA256 of
the rest. The key is derived from the master key under its own label, as a printed card's link's
is. No phone is in it: the phone served to text the code, and is kept nowhere."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from fourlinks_contracts.refusals import PHONE_CONFIRMATION_REFUSED
from fourlinks_kernel.errors import InvalidCommand

LIFETIME = timedelta(minutes=5)
"""How long a vouching is taken: the console uses it at once, after the reporter's photos upload."""
_VERSION = 1
_BODY = 1 + 16 + 8
_TAG_BYTES = 16
_LABEL = b"fourlinks phone confirmation v1"


class PhoneNotConfirmed(InvalidCommand):
    """A vouching forged, cut short, expired, or for another household or enterprise."""

    code = PHONE_CONFIRMATION_REFUSED


def confirmation_key(master_key: bytes) -> bytes:
    """The key vouchings are signed with, derived from the master key under its own label."""
    return hmac.new(master_key, _LABEL, hashlib.sha256).digest()  # a PRF of the key: a key of its own


def vouched(contact_id: str, key: bytes, *, now: datetime) -> str:
    """That this household's or enterprise's reporter confirmed a phone now (for LIFETIME)."""
    until = int((now + LIFETIME).timestamp())
    body = bytes([_VERSION]) + uuid.UUID(contact_id).bytes + until.to_bytes(8, "big")
    return base64.urlsafe_b64encode(body + _tag(body, key)).decode().rstrip("=")


def check_vouched(token: str, contact_id: str, key: bytes, *, now: datetime) -> None:
    """Nothing when the token vouches for this contact's reporter now; PhoneNotConfirmed otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        contact = uuid.UUID(contact_id).bytes
    except (binascii.Error, ValueError):
        raise PhoneNotConfirmed("phone_confirmation: this is not a phone confirmation") from None
    body, tag = raw[:_BODY], raw[_BODY:]
    if len(raw) != _BODY + _TAG_BYTES or not hmac.compare_digest(tag, _tag(body, key)) or body[0] != _VERSION:
        raise PhoneNotConfirmed("phone_confirmation: this is not a phone confirmation")
    if body[1:17] != contact:
        raise PhoneNotConfirmed(
            "phone_confirmation: it confirms another household's or enterprise's reporter"
        )
    if datetime.fromtimestamp(int.from_bytes(body[17:], "big"), UTC) <= now:
        raise PhoneNotConfirmed("phone_confirmation: it has expired: confirm the phone again")


def _tag(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_TAG_BYTES]
