"""Every event says who wrote it, unforgeably: each service signs the events it appends.

The hash chain shows an event was altered after it was written, but anyone who may publish to the
stream can write a new event with the right version and `prev_hash`. So each service holds an
Ed25519 key of its own and signs the SHA-256 of every event's stored bytes; the signature rides in
a header of the stored message. The public keys, by context, are the signers file, kept and
published outside NATS (with the checkpoints); `audit verify` finds an event that no key of the
context owning it signed. Rotation adds a key: old events stay verifiable under the old one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fourlinks_kernel.envelope import SIGNATURE_HEADER

__all__ = [
    "SIGNATURE_HEADER",
    "EventSigner",
    "Signers",
    "key_id_of",
    "new_seed",
    "public_text",
    "write_signers",
]

_DOMAIN = b"fourlinks event signature v1\n"


def _signed_message(context: str, payload: bytes) -> bytes:
    return _DOMAIN + context.encode() + b"\n" + hashlib.sha256(payload).digest()


def key_id_of(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key (hex of its hash's first 8 bytes)."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes."""
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@dataclass(frozen=True)
class EventSigner:
    """One service's signing key, for the events of its context."""

    context: str
    key: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, context: str, seed_text: str) -> EventSigner:
        """From the base64 32-byte seed a key file holds."""
        seed = base64.b64decode(seed_text.strip(), validate=True)
        if len(seed) != 32:
            raise ValueError("a signing key is 32 bytes, base64")
        return cls(context, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def key_id(self) -> str:
        """The name of this key's public half."""
        return key_id_of(self.key.public_key())

    def sign(self, context: str, payload: bytes) -> str:
        """The header value for one event's stored bytes: `<key id>:<base64 signature>`."""
        signature = self.key.sign(_signed_message(context, payload))
        return f"{self.key_id}:{base64.b64encode(signature).decode()}"

    def public_entry(self) -> dict[str, str]:
        """This key as the signers file lists it."""
        return {
            "context": self.context,
            "key_id": self.key_id,
            "public_key": public_text(self.key.public_key()),
        }


def new_seed() -> str:
    """A fresh signing key's seed, base64."""
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class Signers:
    """The public keys that may sign each context's events, and the first position signed."""

    keys: dict[str, tuple[str, Ed25519PublicKey]]  # key id → (context, public key)
    signed_from: int | None = 1  # None: from the first event a listed key signed (an older log)

    @classmethod
    def read(cls, path: Path) -> Signers:
        """The signers file: {"signed_from": N or null, "signers": [{"context", "key_id", "public_key"}]}."""
        data = json.loads(path.read_text())
        since = data.get("signed_from", 1)
        return cls.of(data.get("signers", []), signed_from=None if since is None else int(since))

    @classmethod
    def of(cls, entries: Iterable[dict[str, str]], *, signed_from: int | None = 1) -> Signers:
        """From the entries of a signers file."""
        keys = {}
        for entry in entries:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
            keys[key_id_of(public)] = (entry["context"], public)
        return cls(keys, signed_from)

    def problem(self, *, context: str, payload: bytes, signature: str, position: int) -> str | None:
        """Why this event's signature does not show its context's service wrote it (None: it does).
        With no `signed_from`, events before the first validly signed one are the unsigned past
        (appending is all anyone can do to the log, so none can be slipped in before it)."""
        if self.signed_from is not None and position < self.signed_from:
            return None
        if not signature:
            return f"not signed: no key of the {context} service vouches for it"
        key_id, _, encoded = signature.partition(":")
        known = self.keys.get(key_id)
        if known is None:
            return f"signed by an unknown key {key_id}"
        if known[0] != context:
            return f"a {context} event signed with the {known[0]} service's key"
        try:
            known[1].verify(base64.b64decode(encoded), _signed_message(context, payload))
        except (InvalidSignature, ValueError):
            return f"its signature by key {key_id} does not match its bytes"
        return None


def write_signers(path: Path, entries: list[dict[str, str]], *, signed_from: int | None) -> None:
    """Write the signers file whole (readable by all: it holds public keys only)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"signed_from": signed_from, "signers": entries}, indent=2) + "\n")
    tmp.replace(path)
