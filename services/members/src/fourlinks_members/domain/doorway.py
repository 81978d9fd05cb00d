"""The link a printed service card's QR code holds: which card, for which household or enterprise,
of which revision; signed by the members service, with no personal data in it.

47 bytes, 63 characters of base64url: a kind byte (1 household, 2 enterprise: the link's version
too), the card's and the contact's ids (16 bytes each), the card's revision (2 bytes) and the
first 12 bytes of an HMAC-SHA256 of the rest. The key is derived from the master key under its own
label, so printed cards need no new secret and outlive any rotation of the event signing keys. A
card revised since it was printed is not forged: its link still opens, to say it was replaced."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from fourlinks_contracts.members import ContactKind
from fourlinks_kernel.errors import NotFound

TAG_BYTES = 12
_KINDS = {ContactKind.HOUSEHOLD: 1, ContactKind.ENTERPRISE: 2}
_BY_BYTE = {byte: kind for kind, byte in _KINDS.items()}
_BODY = 1 + 16 + 16 + 2
LINK_CHARACTERS = 63
"""The length of every link's token (47 bytes in base64url, unpadded)."""
_LABEL = b"fourlinks service card doorway link v1"


class NotACardLink(NotFound):
    """A link no card of this system printed: forged, cut short or mistyped."""


@dataclass(frozen=True)
class DoorwayLink:
    """What a card's QR code says: the card, the household or enterprise, the revision printed."""

    card_id: str
    contact_kind: ContactKind
    contact_id: str
    revision: int


def doorway_key(master_key: bytes) -> bytes:
    """The key card links are signed with, derived from the master key under its own label."""
    return hmac.new(master_key, _LABEL, hashlib.sha256).digest()  # a PRF of the key: a key of its own


def sealed(link: DoorwayLink, key: bytes) -> str:
    """The link as the QR code holds it (base64url, no padding)."""
    body = (
        bytes([_KINDS[link.contact_kind]])
        + uuid.UUID(link.card_id).bytes
        + uuid.UUID(link.contact_id).bytes
        + link.revision.to_bytes(2, "big")
    )
    return base64.urlsafe_b64encode(body + _tag(body, key)).decode().rstrip("=")


def opened(token: str, key: bytes) -> DoorwayLink:
    """What a link says, once its signature shows this system printed it; NotACardLink otherwise."""
    if len(token) != LINK_CHARACTERS:
        raise NotACardLink("this is not a service card's link (cut short?)")
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (binascii.Error, ValueError):
        raise NotACardLink("this is not a service card's link") from None
    body, tag = raw[:_BODY], raw[_BODY:]
    if not hmac.compare_digest(tag, _tag(body, key)) or body[0] not in _BY_BYTE:
        raise NotACardLink("this is not a service card's link")
    return DoorwayLink(
        card_id=str(uuid.UUID(bytes=body[1:17])),
        contact_kind=_BY_BYTE[body[0]],
        contact_id=str(uuid.UUID(bytes=body[17:33])),
        revision=int.from_bytes(body[33:35], "big"),
    )


def _tag(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]
