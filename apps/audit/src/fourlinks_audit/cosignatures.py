"""Witness cosignatures of checkpoints (C2SP `tlog-cosignature`, the Ed25519 `cosignature/v1`
type): a witness's statement that, at a given time, the checkpoint is the largest tree of the log
it has seen, consistent with every one before. A cosignature is one more signature line on the
checkpoint's note, so the note still opens with the log's key, and any tlog client that knows the
witness's key checks it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from fourlinks_audit.notes import SIGNATURE_PREFIX, NoteError

COSIGNATURE_V1 = 0x04  # the signature type of Ed25519 cosignatures: in the key id and the vkey
HEADER = "cosignature/v1"
_KEY_NAME = re.compile(r"^[^\s+]+$")


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public).digest()[:4]


def signed_message(text: str, at: int) -> bytes:
    """What a cosignature signs: the header line, the time line and the checkpoint's whole text."""
    return f"{HEADER}\ntime {at}\n{text}".encode()


def note_text(note: str) -> str:
    """The checkpoint text of a signed note (up to its last newline before the signatures)."""
    text, blank, _ = note.partition("\n\n")
    if not blank:
        raise NoteError("not a signed note: no blank line before the signatures")
    return text + "\n"


def signature_lines(note: str) -> list[str]:
    """The note's signature lines, each with its newline."""
    return [line + "\n" for line in note.partition("\n\n")[2].splitlines() if line]


@dataclass(frozen=True)
class WitnessKey:
    """Who checks a witness's cosignatures: its name and Ed25519 public key, as a C2SP vkey
    `name+hash+base64(0x04 ‖ key)`."""

    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public)

    def encoded(self) -> str:
        raw = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        try:
            name, key_hash, key = text.strip().split("+", 2)
            raw = base64.b64decode(key, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError(f"a witness key reads name+hash+base64: {text.strip()!r}") from exc
        if raw[:1] != bytes([COSIGNATURE_V1]) or len(raw) != 33:
            raise NoteError(f"{name}: not a witness's cosignature/v1 key (type 0x04, Ed25519)")
        key_ = cls(name, raw[1:])
        if key_.key_id.hex() != key_hash:
            raise NoteError(f"{name}: the witness key's hash does not match its name and key")
        return key_

    def cosigned_at(self, note: str) -> int | None:
        """When this witness cosigned the note's checkpoint (POSIX seconds), None if it did not;
        NoteError if a line of its name and key id does not verify (forged, or moved to another
        checkpoint)."""
        text = note_text(note)
        for line in signature_lines(note):
            name, _, encoded = line.rstrip("\n").removeprefix(SIGNATURE_PREFIX).rpartition(" ")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                continue  # not ours to read: a note may carry any signature
            if name != self.name or raw[:4] != self.key_id:
                continue
            if len(raw) != 4 + 8 + 64:
                raise NoteError(f"the cosignature of {self.name} is not 8 bytes of time and 64 of signature")
            (at,) = struct.unpack(">Q", raw[4:12])
            try:
                Ed25519PublicKey.from_public_bytes(self.public).verify(raw[12:], signed_message(text, at))
            except InvalidSignature as exc:
                raise NoteError(f"the cosignature of {self.name} does not verify on this checkpoint") from exc
            return int(at)
        return None


@dataclass(frozen=True)
class WitnessSigner:
    """A witness's own key: a name and an Ed25519 seed (`PRIVATE+KEY+name+hash+base64(0x04 ‖ seed)`)."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        if not _KEY_NAME.match(name):
            raise NoteError("a witness's name has no spaces and no '+' (e.g. witness.example.org/w1)")
        private = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, private)

    @property
    def verifier(self) -> WitnessKey:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        return WitnessKey(self.name, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encoded(self) -> str:
        raw = base64.b64encode(bytes([COSIGNATURE_V1]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{raw}"

    @classmethod
    def parse(cls, text: str) -> WitnessSigner:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a witness's key reads PRIVATE+KEY+name+hash+base64")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise NoteError("a witness's key ends in base64") from exc
        if raw[:1] != bytes([COSIGNATURE_V1]) or len(raw) != 33:
            raise NoteError("not a witness's cosignature/v1 key (type 0x04, Ed25519)")
        signer = cls(parts[2], raw[1:])
        if signer.verifier.key_id.hex() != parts[3]:
            raise NoteError("the witness key's hash does not match its name and key")
        return signer

    def cosign(self, text: str, at: int) -> str:
        """The cosignature line (with its newline) of a checkpoint's text at time `at`."""
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(signed_message(text, at))
        raw = self.verifier.key_id + struct.pack(">Q", at) + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


def with_cosignatures(note: str, lines: list[str]) -> str:
    """The note with these signature lines added after its own; a line of a key the note already
    carries a signature of replaces that one (a witness's newer cosignature)."""
    added = {_signer_of(line): line for line in lines}
    kept = [line for line in signature_lines(note) if _signer_of(line) not in added]
    return note_text(note) + "\n" + "".join([*kept, *added.values()])


def _signer_of(line: str) -> tuple[str, bytes]:
    """A signature line's key name and key id."""
    name, _, encoded = line.rstrip("\n").removeprefix(SIGNATURE_PREFIX).rpartition(" ")
    try:
        return name, base64.b64decode(encoded[:8], validate=True)[:4]  # 8 characters: 6 bytes
    except binascii.Error:
        return name, encoded.encode()
