"""Keeping and showing evidence photos: cleaned, hashed, sealed under the person's key, stored."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.errors import PersonalDataError
from fourlinks_photos.images import cleaned
from fourlinks_photos.stores import PhotoStore

PURPOSE = "photo"


@dataclass(frozen=True)
class PhotoRef:
    """What an event records of a photo: never its bytes."""

    sha256: str
    media_type: str
    size: int


class Evidence:
    """Photos of (or for) people, in a store, readable while the person's key exists."""

    def __init__(self, store: PhotoStore, cipher: PersonalDataCipher) -> None:
        self._store = store
        self._cipher = cipher
        self._decoding = asyncio.Semaphore(1)  # one decode at a time: the process's memory is bounded

    async def keep(self, subject: str, data: bytes) -> PhotoRef:
        """Check and clean an upload (PhotoRefused says why not), seal it for `subject`, store it."""
        async with self._decoding:
            photo = await asyncio.to_thread(cleaned, data)  # the event loop keeps answering
        digest = hashlib.sha256(photo.data).hexdigest()
        sealed = await self._cipher.seal_bytes(subject=subject, purpose=PURPOSE, data=photo.data)
        await self._store.put(stored_as(subject, digest), sealed)
        return PhotoRef(digest, photo.media_type, len(photo.data))

    async def read(self, subject: str, ref: PhotoRef) -> bytes | None:
        """The photo's bytes; None when it is not kept or its person has been erased."""
        sealed = await self._store.get(stored_as(subject, ref.sha256))
        if sealed is None:
            return None
        try:
            data = await self._cipher.open_bytes(subject=subject, purpose=PURPOSE, sealed=sealed)
        except KeyError:
            return None  # erased: crypto-shredded wherever the bytes lie
        except PersonalDataError:
            return None  # sealed for someone else: not this person's photo
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            return None  # not the photo the event names
        return data


def stored_as(subject: str, sha256: str) -> str:
    """Where a person's copy of a photo is kept: the same picture sent by two households is two
    sealed copies (each erased with its own person), never one overwriting the other."""
    return hashlib.sha256(f"{subject}:{sha256}".encode()).hexdigest()
