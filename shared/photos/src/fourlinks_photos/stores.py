"""Where sealed photos are kept, by content hash: files under the data directory (the embedded
default) or an S3-compatible bucket (production)."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

HASH = re.compile(r"^[0-9a-f]{64}$")


class PhotoStore(Protocol):
    """Sealed photo bytes by the SHA-256 of the clean photo."""

    async def put(self, sha256: str, sealed: bytes) -> None:
        """Keep these bytes under this hash (again: no change)."""
        ...

    async def get(self, sha256: str) -> bytes | None:
        """The bytes kept under this hash, or None."""
        ...


def _checked(sha256: str) -> str:
    if not HASH.fullmatch(sha256):
        raise ValueError("a photo is named by the 64 hex digits of its SHA-256")
    return sha256


class FileStore:
    """One file per photo under `root/ab/cd/<hash>`, written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        name = _checked(sha256)
        return self.root / name[:2] / name[2:4] / name

    async def put(self, sha256: str, sealed: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(sha256), sealed)

    async def get(self, sha256: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(sha256))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None


class S3Store:
    """A bucket of an S3-compatible object store (MinIO, Ceph, a cloud's), through boto3."""

    def __init__(self, client: Any, bucket: str, prefix: str = "photos/") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    async def put(self, sha256: str, sealed: bytes) -> None:
        key = self._prefix + _checked(sha256)
        await asyncio.to_thread(self._client.put_object, Bucket=self._bucket, Key=key, Body=sealed)

    async def get(self, sha256: str) -> bytes | None:
        key = self._prefix + _checked(sha256)
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            return None
        data: bytes = answer["Body"].read()
        return data
