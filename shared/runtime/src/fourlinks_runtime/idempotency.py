"""Idempotency-Key (IETF HTTPAPI draft): a key names one request of one actor, nothing else.

The first request with a key records its fingerprint (method, path, query and body) under the
actor and the key, atomically, in a key-value bucket that forgets after a day and holds at most
IDEMPOTENCY_BUCKET_BYTES (a full bucket answers 503); a refused request leaves no key. A retry with the
same request meets the recorded result of the command (the unit of work finds its events); the
same key with a different request is refused with 422 before anything runs; a malformed key 400.
"""

from __future__ import annotations

import hashlib
import re

import structlog
from fastapi import Request
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import EventStoreUnavailable, error_code

log = structlog.get_logger(__name__)
KEY_PATTERN = re.compile(r'^"?([A-Za-z0-9_.:-]{8,100})"?$')
UNAVAILABLE = (NatsTimeout, NoRespondersError, NoStreamResponseError, ServiceUnavailableError, TimeoutError)
KEY_RULE = "8 to 100 characters from A-Z a-z 0-9 _ . : - (a Structured Field string: quotes allowed)"


MALFORMED_KEY = error_code("malformed_idempotency_key", "the Idempotency-Key header is malformed")
KEY_REUSED = error_code("idempotency_key_reused", "the Idempotency-Key was first used for another request")


class MalformedIdempotencyKey(Exception):
    """The Idempotency-Key header is not a key this API accepts (400)."""

    code = MALFORMED_KEY


class IdempotencyKeyReused(Exception):
    """The key was first used for a different request (422)."""

    code = KEY_REUSED


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, or None; a malformed one is refused."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    match = KEY_PATTERN.match(raw)
    if match is None:
        raise MalformedIdempotencyKey(f"Idempotency-Key must be {KEY_RULE}")
    return match.group(1)


def scoped_key(actor: Actor, key: str) -> str:
    """The key as the system keeps it: one actor's key never meets another's."""
    return hashlib.sha256(f"{actor.id}\x00{key}".encode()).hexdigest()[:40]


async def fingerprint(request: Request) -> bytes:
    """What makes two requests the same request."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\x00")
    digest.update(await request.body())
    return digest.hexdigest().encode()


class IdempotencyKeys:
    """The bucket of first uses; without it (not provisioned) keys still deduplicate retries."""

    def __init__(self, bucket: KeyValue | None) -> None:
        self.bucket = bucket

    @classmethod
    async def open(cls, nc: Client, bucket: str) -> IdempotencyKeys:
        """Bind to the provisioned bucket (`fourlinks nats init` creates it)."""
        try:
            return cls(await nc.jetstream().key_value(bucket))
        except BucketNotFoundError:
            log.error("idempotency_bucket_missing", bucket=bucket, fix="run fourlinks nats init")
            return cls(None)

    async def claim(self, scoped: str, request_fingerprint: bytes) -> bool:
        """Record the key's first request, or check that this is the same request; True when
        this request is the key's first use (recorded now)."""
        if self.bucket is None:
            return False
        try:
            return await self._claim(self.bucket, scoped, request_fingerprint)
        except (*UNAVAILABLE, APIError) as exc:  # NATS away, a leader election, the bucket full
            raise EventStoreUnavailable(
                f"the Idempotency-Key could not be recorded ({type(exc).__name__}); retry with the same key"
            ) from exc

    async def release(self, scoped: str) -> None:
        """Forget a first use whose request was refused: nothing was written, so the key may name
        the corrected request (a refused request keeps no key)."""
        if self.bucket is None:
            return
        try:
            await self.bucket.purge(scoped)
        except (*UNAVAILABLE, APIError) as exc:  # it expires with the bucket's age anyway
            log.warning("idempotency_key_not_released", error=type(exc).__name__)

    @staticmethod
    async def _claim(bucket: KeyValue, scoped: str, request_fingerprint: bytes) -> bool:
        for _ in range(2):  # a first use that expired between create and get is claimed anew
            try:
                await bucket.create(scoped, request_fingerprint)
                return True
            except KeyWrongLastSequenceError:
                try:
                    entry = await bucket.get(scoped)
                except KeyNotFoundError:
                    continue
                if entry.value != request_fingerprint:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was first used for a different request "
                        "(another path or body): use a new key for a new request"
                    ) from None
                return False
        return False
