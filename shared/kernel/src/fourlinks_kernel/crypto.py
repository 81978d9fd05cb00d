"""Crypto-shredding: personal fields encrypted per person, keys wrapped by a master key.

Erasing a person destroys their key; their fields in history become unreadable for good,
while the events themselves (and the hash chain over them) stay intact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fourlinks_kernel.errors import PersonalDataError, PersonErased

ENCRYPTED_MARK = "$enc"
NONCE_BYTES = 12


class KeyStore(Protocol):
    """Durable table of wrapped per-person keys."""

    async def get(self, subject: str) -> bytes | None:
        """The wrapped key of a person, or None when absent or destroyed."""
        ...

    async def create(self, subject: str, wrapped: bytes) -> bytes:
        """Store a wrapped key unless one exists; return the one that is stored. A person whose
        key was destroyed gets none again (PersonErased)."""
        ...

    async def destroy(self, subject: str) -> None:
        """Destroy a person's key for good."""
        ...


class RotatableKeyStore(KeyStore, Protocol):
    """A key table whose keys can be listed and overwritten (master-key rotation)."""

    async def replace(self, subject: str, wrapped: bytes) -> None:
        """Overwrite a person's wrapped key."""
        ...

    async def subjects(self) -> list[str]:
        """Every person who has a key."""
        ...


@dataclass
class InMemoryKeyStore:
    """Key table in memory, for unit tests."""

    keys: dict[str, bytes] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)

    async def get(self, subject: str) -> bytes | None:
        return self.keys.get(subject)

    async def snapshot(self) -> dict[str, bytes]:
        """Every live key at once."""
        return dict(self.keys)

    async def create(self, subject: str, wrapped: bytes) -> bytes:
        if subject in self.erased:
            raise PersonErased(f"{subject} was erased: nothing new is kept about them")
        return self.keys.setdefault(subject, wrapped)

    async def destroy(self, subject: str) -> None:
        self.keys.pop(subject, None)
        self.erased.add(subject)

    async def replace(self, subject: str, wrapped: bytes) -> None:
        self.keys[subject] = wrapped

    async def subjects(self) -> list[str]:
        return list(self.keys)


def parse_master_key(text: str) -> bytes:
    """Decode a base64 master key of 32 bytes, with an error a person can act on."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise PersonalDataError("the master key must be base64 (32 random bytes)") from None
    if len(raw) != 32:
        raise PersonalDataError(f"the master key must be 32 bytes, got {len(raw)}")
    return raw


def generate_master_key() -> str:
    """A fresh base64 master key."""
    return base64.b64encode(os.urandom(32)).decode()


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(master)


class PersonalDataCipher:
    """Encrypts and decrypts personal field values with per-person keys."""

    def __init__(
        self,
        *,
        master_key: bytes,
        keys: KeyStore,
        cache_seconds: float = 30.0,
        index_key: bytes | None = None,
    ) -> None:
        self._wrapping = AESGCM(_derive(master_key, b"fourlinks key wrapping v1"))
        # The blind index stays with the first master key across rotations (index_key), or the
        # phone numbers already in history could no longer be looked up.
        self._index_key = _derive(index_key or master_key, b"fourlinks blind index v1")
        self._keys = keys
        self._cache: OrderedDict[str, tuple[float, AESGCM]] = OrderedDict()
        self._cache_seconds = cache_seconds
        self._cache_size = 10_000
        self._preloaded: dict[str, bytes] = {}
        # Told of every erasure this process makes (kept aggregates drop whoever held the person).
        self.on_erase: list[Callable[[str], None]] = []

    async def encrypt(self, *, subject: str, field_name: str, value: Any) -> dict[str, str]:
        """Encrypt one JSON value for a person, creating their key on first use."""
        aead = await self._key(subject, create=True)
        assert aead is not None
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False).encode()
        sealed = aead.encrypt(nonce, plain, f"{subject}:{field_name}".encode())
        return {ENCRYPTED_MARK: base64.b64encode(nonce + sealed).decode()}

    async def decrypt(self, *, subject: str, field_name: str, sealed: dict[str, str]) -> Any:
        """Decrypt one value; raises KeyError when the person's key has been destroyed."""
        aead = await self._key(subject, create=False)
        if aead is None:
            raise KeyError(subject)
        raw = base64.b64decode(sealed[ENCRYPTED_MARK])
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{subject}:{field_name}".encode())
        except InvalidTag:
            raise PersonalDataError(f"personal field {field_name} fails authentication") from None
        return json.loads(plain)

    async def seal_bytes(self, *, subject: str, purpose: str, data: bytes) -> bytes:
        """Encrypt bytes for a person (a photo of them, say), creating their key on first use;
        erasing the person makes them unreadable, wherever they are kept."""
        aead = await self._key(subject, create=True)
        assert aead is not None
        nonce = os.urandom(NONCE_BYTES)
        return nonce + aead.encrypt(nonce, data, f"{subject}:{purpose}".encode())

    async def open_bytes(self, *, subject: str, purpose: str, sealed: bytes) -> bytes:
        """Decrypt bytes sealed for a person; raises KeyError when their key has been destroyed."""
        aead = await self._key(subject, create=False)
        if aead is None:
            raise KeyError(subject)
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], f"{subject}:{purpose}".encode())
        except InvalidTag:
            raise PersonalDataError(f"sealed {purpose} of {subject} fails authentication") from None

    async def erase(self, subject: str) -> None:
        """Destroy a person's key; their encrypted fields can never be read again."""
        await self._keys.destroy(subject)
        self.forget(subject)
        for listener in self.on_erase:
            listener(subject)

    def forget(self, subject: str) -> None:
        """Drop a cached key (another process erased the person)."""
        self._cache.pop(subject, None)
        self._preloaded.pop(subject, None)

    async def preload(self) -> int:
        """Read the whole key table in one pass before a replay; returns how many keys.

        A replay meets people in log order, far more of them than the cache holds, and one
        key-table read per miss capped a replay at a few thousand events a second. The wrapped
        keys (about 60 bytes each) stay in memory for this process's life; an erasure seen later
        (`forget`, or the erasure event in the log) still wins."""
        snapshot = getattr(self._keys, "snapshot", None)
        if snapshot is None:
            return 0
        self._preloaded = await snapshot()
        return len(self._preloaded)

    async def rewrap(self, subjects: list[str], keys: RotatableKeyStore, new_master_key: bytes) -> int:
        """Re-wrap every listed person's key under a new master key; returns how many moved.

        The per-person keys themselves do not change, so no event needs re-encrypting. Keep the old
        master key as FOURLINKS_INDEX_KEY so blind indexes keep matching.
        """
        new = PersonalDataCipher(master_key=new_master_key, keys=keys)
        moved = 0
        for subject in subjects:
            wrapped = await keys.get(subject)
            if wrapped is None:
                continue
            await keys.replace(subject, new._wrap(subject, self._unwrap(subject, wrapped)))
            self.forget(subject)
            moved += 1
        return moved

    def blind_index(self, value: str, *, purpose: str) -> str:
        """A keyed digest of a normalised value, so it can be looked up without storing it."""
        normal = unicodedata.normalize("NFKC", value).strip().lower()
        normal = "".join(ch for ch in normal if not ch.isspace() and ch not in "-()+")
        digest = hmac.new(self._index_key, f"{purpose}:{normal}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    async def _key(self, subject: str, *, create: bool) -> AESGCM | None:
        cached = self._cache.get(subject)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        wrapped = self._preloaded.get(subject) or await self._keys.get(subject)
        if wrapped is None:
            if not create:
                self.forget(subject)
                return None
            wrapped = await self._keys.create(subject, self._wrap(subject, AESGCM.generate_key(256)))
        aead = AESGCM(self._unwrap(subject, wrapped))
        self._cache[subject] = (now, aead)
        self._cache.move_to_end(subject)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return aead

    def _wrap(self, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrapping.encrypt(nonce, key, subject.encode())

    def _unwrap(self, subject: str, wrapped: bytes) -> bytes:
        try:
            return self._wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject.encode())
        except InvalidTag:
            raise PersonalDataError(
                "a personal-data key does not open with the configured master key"
            ) from None
