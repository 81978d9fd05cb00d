"""Checkpoints of the log in the C2SP `tlog-checkpoint` text format, signed as C2SP signed notes
with Ed25519: the same keys and notes Go's `golang.org/x/mod/sumdb/note` reads and writes.

In the kernel, not in the audit tools: the province service verifies each district's checkpoint
with the same code that signs it (a service may not import an application)."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space open every signature line
_KEY_NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A key, note or checkpoint that cannot be read, or a signature that does not verify."""


# -- keys ---------------------------------------------------------------------------------------------
def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """Who checks a checkpoint: a key name and an Ed25519 public key (`name+hash+base64`)."""

    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public)

    def encoded(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([ED25519]) + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, key_hash, key = text.strip().split("+", 2)
            raw = base64.b64decode(key, validate=True)
        except ValueError as exc:
            raise NoteError("a verifier key reads name+hash+base64") from exc
        if raw[:1] != bytes([ED25519]) or len(raw) != 33:
            raise NoteError("the verifier key is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != key_hash:
            raise NoteError("the verifier key's hash does not match its name and key")
        return verifier


@dataclass(frozen=True)
class SignerKey:
    """The checkpoint signing key: a key name and an Ed25519 seed (`PRIVATE+KEY+name+hash+base64`)."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        if not _KEY_NAME.match(name):
            raise NoteError("a key name has no spaces and no '+'")
        private = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, private)

    @classmethod
    def generate_unique(cls) -> SignerKey:
        """A key for a deployment that names no origin, named (so its log is named) after its own
        public key: `fourlinks.invalid/<16 hex of SHA-256(public key)>` — unique, since the key is
        random, stable, since it lives in the key file, and plainly no address (RFC 2606 .invalid)."""
        seed = cls.generate("unnamed").seed
        public = cls("unnamed", seed).verifier.public
        return cls(f"fourlinks.invalid/{hashlib.sha256(public).hexdigest()[:16]}", seed)

    @property
    def verifier(self) -> VerifierKey:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        return VerifierKey(self.name, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encoded(self) -> str:
        key_id = self.verifier.key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{key_id}+{base64.b64encode(bytes([ED25519]) + self.seed).decode()}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signing key reads PRIVATE+KEY+name+hash+base64")
        raw = base64.b64decode(parts[4])
        if raw[:1] != bytes([ED25519]) or len(raw) != 33:
            raise NoteError("the signing key is not an Ed25519 key")
        signer = cls(parts[2], raw[1:])
        if signer.verifier.key_id.hex() != parts[3]:
            raise NoteError("the signing key's hash does not match its name and key")
        return signer

    def sign(self, text: str) -> str:
        """The note: its text, a blank line, and this key's signature line."""
        _check_text(text)
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(text.encode())
        line = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {line}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or any(c < " " and c != "\n" for c in text):
        raise NoteError("a note's text ends with a newline and has no blank line or control characters")


def open_note(note: str, key: VerifierKey) -> str:
    """The text of a signed note if `key` signed it; NoteError otherwise."""
    text, blank, signatures = note.rpartition("\n\n")
    if not blank:
        raise NoteError("not a signed note: no blank line before the signatures")
    text += "\n"
    _check_text(text)
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        raw = base64.b64decode(encoded)
        if name != key.name or raw[:4] != key.key_id:
            continue  # another key's signature: a note may carry several
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError(
                f"the signature of {key.name} does not verify: the checkpoint was forged or altered"
            ) from exc
        return text
    raise NoteError(f"the checkpoint carries no signature of {key.name}")


# -- checkpoints --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """The log at one moment: its origin (which log), size (= last position) and root hash. No
    extension lines: C2SP advises against a timestamp (a witness cannot check it, and it makes
    every checkpoint of one tree differ); older notes that carry a `time` line still parse."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        try:
            origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
        except (IndexError, ValueError) as exc:
            raise NoteError("a checkpoint reads origin, size and base64 root, one a line") from exc
        if not origin or size < 0 or len(root) != 32 or str(size) != lines[1]:
            raise NoteError("a checkpoint reads origin, size and base64 root, one a line")
        return cls(origin, size, root)

    @classmethod
    def of_note(cls, note: str) -> Checkpoint:
        """The checkpoint a signed note carries, its signatures unchecked (for notes this log
        stored itself: sizes, origins; whatever an auditor relies on goes through read_checkpoint)."""
        return cls.parse(note.split("\n\n", maxsplit=1)[0] + "\n")


def signed_checkpoint(checkpoint: Checkpoint, key: SignerKey) -> str:
    """The checkpoint as a signed note, ready to store, print or publish."""
    return key.sign(checkpoint.text())


def read_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a signed note, its signature checked."""
    return Checkpoint.parse(open_note(note, key))
