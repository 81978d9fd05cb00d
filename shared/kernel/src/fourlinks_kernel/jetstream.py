"""The event store on NATS JetStream: the system of record.

Each aggregate has one literal subject, the event type and version in headers. Appends carry the
expectation on that subject (per-aggregate optimistic concurrency) and the event id as
`Nats-Msg-Id`; several events of one command go in one atomic batch. Aggregates load with a batch
direct get over one shared reply subscription (the server's per-subject index finds them wherever
they sit in the log); replay uses ordered consumers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import (
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NoStreamResponseError,
    ServerError,
    ServiceUnavailableError,
)

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import LAYOUT_KEY, SUBJECT_LAYOUT, CommandContext, StoredEvent, StreamId
from fourlinks_kernel.errors import (
    AppendRejected,
    ConcurrencyConflict,
    EventStoreUnavailable,
    OldSubjectLayout,
    PersonErased,
    StreamMissing,
)
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.group_commit import GroupCommit
from fourlinks_kernel.store import (
    AppendResult,
    EncodedWrites,
    LiveRead,
    LoadedStream,
    Reached,
    StreamState,
    StreamWrite,
    encode_writes,
)

log = structlog.get_logger(__name__)
MESSAGE_DELETE_DENIED = 10057
"""JetStream's answer to a message delete in a stream that denies them."""

WRONG_LAST_SEQUENCE = 10071
DIRECT_BATCH = 256
READ_BATCH = 1000
EXPECT_SEQ = "Nats-Expected-Last-Subject-Sequence"


class BatchesBusy(Exception):
    """The stream has as many atomic batches in flight as the server allows: retry shortly."""


TRANSIENT = (nats.errors.TimeoutError, nats.errors.NoRespondersError, asyncio.TimeoutError, BatchesBusy)
DISCONNECTED = (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError)


@dataclass(frozen=True)
class JetStreamSettings:
    """Names and timings of the events stream as this process uses it."""

    stream: str = "FOURLINKS_EVENTS"
    prefix: str = "fourlinks"
    key_bucket: str = "FOURLINKS_KEYS"
    idempotency_bucket: str = "FOURLINKS_IDEMPOTENCY"
    idempotency_hours: float = 24.0
    publish_timeout: float = 5.0
    publish_attempts: int = 3
    # The server refuses a stream more than 50 atomic batches in flight (all clients together);
    # each process keeps well under that so several services never exhaust it between them.
    max_inflight_batches: int = 12
    # Aggregates whose stored events this process keeps, to read only what was appended since.
    cached_streams: int = 256
    cached_stream_events: int = 200
    # Concurrent commands' appends joined into one atomic batch (group_commit.py).
    group_commit: bool = True


class _DirectGetError(EventStoreUnavailable):
    """A batch direct get answered with an error status (no responders during a leader election ...)."""


class JetStreamEventStore:
    """EventStore over one JetStream stream."""

    def __init__(self, nc: Client, codec: EventCodec, settings: JetStreamSettings | None = None) -> None:
        self.nc = nc
        self.codec = codec
        self.settings = settings or JetStreamSettings()
        self._replies: dict[str, asyncio.Queue[Msg]] = {}
        self._reply_prefix = ""
        self._tokens = count()
        self._reply_lock = asyncio.Lock()
        self._batch_slots = asyncio.Semaphore(self.settings.max_inflight_batches)
        self._tails: OrderedDict[StreamId, list[StoredEvent]] = OrderedDict()
        self.group = GroupCommit(self._publish) if self.settings.group_commit else None

    @property
    def prefix(self) -> str:
        """The first token of every event's subject."""
        return self.settings.prefix

    # -- loading ----------------------------------------------------------------------------
    async def load(self, stream: StreamId) -> LoadedStream:
        """Every event of one aggregate. The stored bytes of recently used aggregates are kept, so
        only events appended since are read: in a long log the server finds an aggregate's events
        near the end at once, but one spread over a year by scanning much of it (6 ms at a
        million events, against 0.15 ms for the tail). Events are immutable, so the kept bytes
        never go stale; they stay encrypted and are decoded on every load, so an erasure still
        takes effect at once."""
        self._require_connection()
        known = self._tails.get(stream, [])
        start = known[-1].position + 1 if known else 1
        fresh = [s async for s in self._direct_get(stream.subject(self.settings.prefix), from_seq=start)]
        stored = known + fresh
        self._remember(stream, stored)
        events = tuple([await self.codec.decode(s) for s in stored])
        if not stored:
            return LoadedStream(stream, (), StreamState())
        last = stored[-1]
        return LoadedStream(stream, events, StreamState(len(stored), last.position, last.digest))

    def _remember(self, stream: StreamId, stored: list[StoredEvent]) -> None:
        if not stored or len(stored) > self.settings.cached_stream_events:
            self._tails.pop(stream, None)
            return
        self._tails[stream] = stored
        self._tails.move_to_end(stream)
        while len(self._tails) > self.settings.cached_streams:
            self._tails.popitem(last=False)

    def _remember_appended(self, batch: EncodedWrites, results: list[AppendResult]) -> None:
        """What this process just appended extends the kept events of those aggregates."""
        prefix = self.settings.prefix
        for write, encoded, result in zip(batch.writes, batch.encoded, results, strict=True):
            known = self._tails.get(write.stream, [])
            if (known[-1].position if known else 0) != write.expected.position:
                self._tails.pop(write.stream, None)
                continue
            subject = write.stream.subject(prefix)
            appended = [
                StoredEvent(position, subject, item.payload, item.event_type)
                for position, item in zip(result.positions, encoded, strict=True)
            ]
            self._remember(write.stream, known + appended)

    async def read(
        self, *, from_position: int = 1, until_position: int | None = None, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        async for stored in self._direct_get(
            subjects or f"{self.settings.prefix}.>",
            from_seq=max(from_position, 1),
            up_to=until_position,
            batch=READ_BATCH,
        ):
            yield stored

    async def position_of(self, stream: StreamId) -> int:
        """One lookup in the server's per-subject index (the stream's one literal subject)."""
        self._require_connection()
        request = json.dumps({"last_by_subj": stream.subject(self.settings.prefix)}).encode()
        reply = await self.nc.request(
            f"$JS.API.DIRECT.GET.{self.settings.stream}", request, timeout=self.settings.publish_timeout
        )
        headers = reply.headers or {}
        if headers.get("Status") == "404":
            return 0
        if "Nats-Sequence" not in headers:
            raise _DirectGetError(
                f"direct get answered {headers.get('Status')}: {headers.get('Description')}"
            )
        return int(headers["Nats-Sequence"])

    async def check_layout(self) -> None:
        """Refuse a stream still in the old subject layout (writing one aggregate under two
        layouts would hide half its history from every load), and a server without the stream."""
        try:
            info = await self._api(f"STREAM.INFO.{self.settings.stream}", b"")
        except AppendRejected as refused:
            if "not found" in str(refused):
                raise StreamMissing(
                    f"the events stream {self.settings.stream} does not exist on this NATS server: "
                    "run `fourlinks nats init` first (docs/operations.md, Start)"
                ) from refused
            return
        if subject_layout(info) != SUBJECT_LAYOUT and info["state"]["messages"]:
            raise OldSubjectLayout(
                f"stream {self.settings.stream} holds events in the old subject layout (event type "
                "in the subject); stop the services and run `fourlinks nats migrate-subjects` "
                "(docs/operations.md)"
            )

    async def last_position(self) -> int:
        info = await self._api(f"STREAM.INFO.{self.settings.stream}", b"")
        return int(info["state"]["last_seq"])

    def follow(
        self, *, from_position: int, subjects: Sequence[str] | None = None, batch_size: int = 500
    ) -> LiveRead:
        """An ordered push consumer through the filters (several: one consumer with
        `filter_subjects`), probed on request for how far the whole log is read."""
        filters = list(subjects) if subjects else [f"{self.settings.prefix}.>"]
        return _LiveRead(self, from_position=max(from_position, 1), subjects=filters, batch_size=batch_size)

    # -- appending --------------------------------------------------------------------------
    async def append(
        self,
        stream: StreamId,
        events: Sequence[DomainEvent],
        *,
        expected: StreamState,
        context: CommandContext,
    ) -> AppendResult:
        return (await self.append_all([StreamWrite(stream, events, expected)], context=context))[0]

    async def append_all(
        self, writes: Sequence[StreamWrite], *, context: CommandContext
    ) -> list[AppendResult]:
        self._require_connection()
        batch = await encode_writes(self.codec, writes, context=context)
        attempts = self.settings.publish_attempts
        for attempt in range(1, attempts + 1):
            try:
                last_seq = await (self.group.publish(batch) if self.group else self._publish(batch))
            except ConcurrencyConflict:
                written = await self._already_written(batch)
                if written is not None:
                    return written
                for write in writes:  # reload these from the log itself (it may have been restored)
                    self._tails.pop(write.stream, None)
                raise
            except (*TRANSIENT, *DISCONNECTED) as exc:
                written = await self._find_after_failure(batch)
                if written is not None:
                    return written
                log.warning("append_retry", attempt=attempt, error=type(exc).__name__)
                if attempt == attempts:
                    raise EventStoreUnavailable(
                        "the event store did not confirm the write; retry with the same Idempotency-Key"
                    ) from exc
                await asyncio.sleep(0.2 * attempt)
                continue
            results = batch.results(last_seq)
            self._remember_appended(batch, results)
            return results
        raise AssertionError("unreachable")  # pragma: no cover

    async def _publish(self, batch: EncodedWrites) -> int:
        """One message: a plain checked publish. Several: one atomic batch, all or nothing."""
        messages = self._messages(batch)
        if len(messages) == 1:
            subject, payload, headers = messages[0]
            return self._check_ack(batch, await self._request(subject, payload, headers))
        async with self._batch_slots:
            return await self._publish_atomically(batch, messages)

    async def _publish_atomically(
        self, batch: EncodedWrites, messages: list[tuple[str, bytes, dict[str, str]]]
    ) -> int:
        batch_id = messages[0][2]["Nats-Msg-Id"]
        for number, (subject, payload, headers) in enumerate(messages, start=1):
            headers.update({"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number)})
            if number == 1:
                reply = await self._request(subject, payload, headers)
                if reply:
                    self._check_ack(batch, reply)
            elif number < len(messages):
                await self.nc.publish(subject, payload, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                return self._check_ack(batch, await self._request(subject, payload, headers))
        raise AssertionError("unreachable")  # pragma: no cover

    def _messages(self, batch: EncodedWrites) -> list[tuple[str, bytes, dict[str, str]]]:
        """Subject, payload and headers of every message; the expectation rides on each stream's first."""
        prefix = self.settings.prefix
        messages = []
        for write, encoded in zip(batch.writes, batch.encoded, strict=True):
            subject = write.stream.subject(prefix)
            for index, item in enumerate(encoded):
                headers = {"Nats-Msg-Id": item.event_id, **item.headers}
                if index == 0:
                    headers[EXPECT_SEQ] = str(write.expected.position)
                messages.append((subject, item.payload, headers))
        return messages

    async def _request(self, subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
        msg = await self.nc.request(subject, payload, timeout=self.settings.publish_timeout, headers=headers)
        return msg.data

    def _check_ack(self, batch: EncodedWrites, reply: bytes) -> int:
        ack = json.loads(reply)
        error = ack.get("error")
        if error is None:
            return int(ack["seq"])
        if error.get("err_code") == WRONG_LAST_SEQUENCE:
            first = batch.writes[0]
            raise ConcurrencyConflict(
                str(first.stream), first.expected.position, error.get("description", "")
            )
        if error.get("code") == 503:
            raise nats.errors.NoRespondersError
        if "too many inflight" in str(error.get("description", "")):
            raise BatchesBusy(error.get("description"))
        raise AppendRejected(f"the event store refused the write: {error.get('description')}")

    async def _find_after_failure(self, batch: EncodedWrites) -> list[AppendResult] | None:
        try:
            return await self._already_written(batch)
        except (*TRANSIENT, *DISCONNECTED, _DirectGetError):
            return None

    async def _already_written(self, batch: EncodedWrites) -> list[AppendResult] | None:
        """Tail check: did a write whose ack we lost store these very events?

        An atomic batch is stored contiguously, so finding its first event in the first stream's
        tail gives every position."""
        first = batch.writes[0]
        wanted = batch.encoded[0][0].event_id
        tail = self._direct_get(
            first.stream.subject(self.settings.prefix), from_seq=first.expected.position + 1
        )
        async for stored in tail:
            if self.codec.envelope_of(stored)[0].event_id == wanted:
                return batch.results(stored.position + batch.size - 1)
        return None

    def _require_connection(self) -> None:
        """Fail fast while NATS is away (the client reconnects by itself meanwhile)."""
        if not self.nc.is_connected:
            raise EventStoreUnavailable("the event store is not reachable right now; retry shortly")

    # -- batch direct get over one shared reply subscription ----------------------------------
    async def _direct_get(
        self, subjects: str, *, from_seq: int, up_to: int | None = None, batch: int = DIRECT_BATCH
    ) -> AsyncIterator[StoredEvent]:
        await self._ensure_reply_subscription()
        seq = from_seq
        while True:
            request: dict[str, Any] = {"seq": seq, "next_by_subj": subjects, "batch": batch}
            token = str(next(self._tokens))
            queue: asyncio.Queue[Msg] = asyncio.Queue()
            self._replies[token] = queue
            pending = 0
            try:
                await self.nc.publish(
                    f"$JS.API.DIRECT.GET.{self.settings.stream}",
                    json.dumps(request).encode(),
                    reply=f"{self._reply_prefix}.{token}",
                )
                while True:
                    msg = await asyncio.wait_for(queue.get(), timeout=self.settings.publish_timeout)
                    status = (msg.headers or {}).get("Status")
                    if status is None:
                        headers = msg.headers or {}
                        seq = int(headers["Nats-Sequence"]) + 1
                        if up_to is not None and seq - 1 > up_to:
                            return
                        yield StoredEvent.of(seq - 1, headers["Nats-Subject"], msg.data, headers)
                        continue
                    if status == "404":
                        return
                    if status != "204":
                        raise _DirectGetError(
                            f"direct get answered {status}: {(msg.headers or {}).get('Description')}"
                        )
                    pending = int((msg.headers or {}).get("Nats-Num-Pending", "0"))
                    break
            finally:
                self._replies.pop(token, None)
            if pending == 0 or (up_to is not None and seq > up_to):
                return

    async def _ensure_reply_subscription(self) -> None:
        if self._reply_prefix:
            return
        async with self._reply_lock:
            if self._reply_prefix:
                return
            prefix = self.nc.new_inbox()
            await self.nc.subscribe(f"{prefix}.*", cb=self._route_reply, pending_msgs_limit=100_000)
            self._reply_prefix = prefix

    async def _route_reply(self, msg: Msg) -> None:
        queue = self._replies.get(msg.subject.rsplit(".", 1)[-1])
        if queue is not None:
            queue.put_nowait(msg)

    async def _api(self, call: str, payload: bytes) -> dict[str, Any]:
        msg = await self.nc.request(f"$JS.API.{call}", payload, timeout=self.settings.publish_timeout)
        body: dict[str, Any] = json.loads(msg.data)
        if "error" in body:
            raise AppendRejected(f"JetStream API {call}: {body['error'].get('description')}")
        return body


@dataclass(frozen=True)
class _Vouch:
    """A probe's finding: every event the filters let through up to `position` was taken."""

    position: int


class _LiveRead:
    """The live log through one ordered consumer, and marks of how far the whole log is read.

    A probe reads the stream's last position, then asks the stream for the first event the filters
    let through after the last one taken: when there is none up to that position, the mark goes out
    after what was taken. Probing is the caller's to pace."""

    def __init__(
        self, store: JetStreamEventStore, *, from_position: int, subjects: list[str], batch_size: int
    ) -> None:
        self._store, self._start, self._subjects = store, from_position, subjects
        self._size = batch_size
        self._inbox: asyncio.Queue[Msg | _Vouch | BaseException] = asyncio.Queue(maxsize=batch_size * 4)
        self._sub: JetStreamContext.PushSubscription | None = None
        self._probing: asyncio.Task[None] | None = None
        self._wanted = False
        self._last = from_position - 1  # the position of the last event taken
        self._taken = ("", 0)  # the consumer and consumer sequence of the last message taken
        self._vouch: _Vouch | None = None
        self._reached = 0

    async def __aiter__(self) -> AsyncGenerator[list[StoredEvent] | Reached, None]:
        sub = self._sub = await self._subscribe()
        relay = asyncio.create_task(self._relay(sub))
        try:
            if self._wanted:
                self.probe()
            while True:
                batch = self._take(await self._inbox.get())
                while len(batch) < self._size and not self._inbox.empty():
                    batch += self._take(self._inbox.get_nowait())
                if batch:
                    yield batch
                mark = self._vouched()
                if mark is not None:
                    yield mark
        finally:
            for task in (relay, self._probing):
                if task is not None:
                    task.cancel()
            await _quietly(sub.unsubscribe())

    def probe(self) -> None:
        self._wanted = True
        if self._sub is not None and (self._probing is None or self._probing.done()):
            self._probing = asyncio.create_task(self._probes())

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._start)
        if len(self._subjects) > 1:
            config.filter_subjects = self._subjects
        return await self._store.nc.jetstream().subscribe(
            self._subjects[0],
            stream=self._store.settings.stream,
            ordered_consumer=True,
            config=config,
            pending_msgs_limit=20_000,
        )

    async def _relay(self, sub: JetStreamContext.PushSubscription) -> None:
        """Messages in delivery order into the inbox, where probes' findings join them; the
        subscription's own queue keeps the server's flow control tied to what is taken."""
        try:
            async for msg in sub.messages:
                await self._inbox.put(msg)
        except Exception as exc:
            await self._inbox.put(exc)
        else:
            await self._inbox.put(EventStoreUnavailable("the live read of the log ended"))

    def _take(self, item: Msg | _Vouch | BaseException) -> list[StoredEvent]:
        if isinstance(item, _Vouch):
            self._vouch = item
            return []
        if isinstance(item, BaseException):
            raise item
        metadata = item.metadata
        taken = (metadata.consumer, metadata.sequence.consumer)
        if taken[0] == self._taken[0] and taken[1] != self._taken[1] + 1:
            # The client dropped a message its queue had no room for, after its own order check:
            # read again from the projections' positions rather than pass the event by (or vouch
            # for the log past it).
            raise EventStoreUnavailable("the live read of the log lost a message; reading again")
        self._taken = taken
        position = metadata.sequence.stream
        if position <= self._last:
            return []  # a redelivery after the ordered consumer reset
        self._last = position
        return [StoredEvent.of(position, item.subject, item.data, item.headers)]

    def _vouched(self) -> Reached | None:
        """A mark for the last finding: it was made of what had been taken when it was probed."""
        vouch = self._vouch
        if vouch is None:
            return None
        self._vouch = None
        self._reached = max(self._reached, vouch.position)
        return Reached(self._reached)

    async def _probes(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                vouch = await self._probe_once()
            except Exception as exc:  # the server cannot tell now; the next probe asks again
                log.debug("live_read_probe_failed", error=type(exc).__name__)
                return
            if vouch is not None:
                await self._inbox.put(vouch)

    async def _probe_once(self) -> _Vouch | None:
        last = await self._store.last_position()  # first: what is looked for must come after it
        taken = self._last
        if last <= max(self._reached, taken):
            return _Vouch(last)  # nothing new, or nothing beyond what was taken
        # The stream itself says whether an event the filters let through lies beyond what was
        # taken: the consumer's pending count is kept apart from the store and can lag a message
        # just stored (a mark then vouched for an event not yet read, one run in six here).
        for subjects in self._subjects:
            async for stored in self._store._direct_get(subjects, from_seq=taken + 1, up_to=last, batch=1):
                if stored.position <= last:
                    return None
                break
        return _Vouch(last)


Message = tuple[str, bytes, dict[str, str]]


async def publish_batch(nc: Client, messages: Sequence[Message], *, expect_last: int | None = None) -> int:
    """Copy stored messages in one atomic batch (loading a data set, moving a log): all land, in
    order, or none; with `expect_last`, only right after that position. Returns the last position."""
    batch_id = str(uuid.uuid4())
    for number, (subject, payload, stored_headers) in enumerate(messages, start=1):
        headers = {**stored_headers, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number)}
        if number == 1 and expect_last is not None:
            headers["Nats-Expected-Last-Sequence"] = str(expect_last)
        if number < len(messages):
            await nc.publish(subject, payload, headers=headers)
            continue
        headers["Nats-Batch-Commit"] = "1"
        ack = json.loads((await nc.request(subject, payload, timeout=60, headers=headers)).data)
        if "error" in ack:
            raise AppendRejected(f"the copy was refused after position {expect_last}: {ack['error']}")
        return int(ack["seq"])
    raise ValueError("an empty batch")


def subject_layout(stream_info: dict[str, Any]) -> str | None:
    """The subject layout a stream's metadata names (None: written before layouts were named)."""
    metadata = stream_info.get("config", {}).get("metadata") or {}
    layout: str | None = metadata.get(LAYOUT_KEY)
    return layout


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.debug("cleanup_failed")


KEY_TABLE_AWAY = (
    NoStreamResponseError,
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
    ServiceUnavailableError,
)
"""The key table's stream not answering for a moment (a leader election, a node restarting)."""


def _unavailable(away: Exception) -> EventStoreUnavailable:
    return EventStoreUnavailable(
        f"the key table did not answer ({type(away).__name__}); retry with the same Idempotency-Key"
    )


class NatsKeyStore:
    """The personal-data key table in a JetStream key-value bucket (replicated like the events)."""

    def __init__(self, nc: Client, bucket: str = "FOURLINKS_KEYS") -> None:
        self._js = nc.jetstream()
        self._bucket_name = bucket
        self._kv: Any = None

    async def _bucket(self) -> Any:
        if self._kv is None:
            self._kv = await self._js.key_value(self._bucket_name)
        return self._kv

    async def get(self, subject: str) -> bytes | None:
        try:
            entry = await (await self._bucket()).get(f"person.{subject}")
        except KeyNotFoundError:
            return None
        except KEY_TABLE_AWAY as away:
            raise _unavailable(away) from away
        value: bytes | None = entry.value
        return value or None

    async def create(self, subject: str, wrapped: bytes) -> bytes:
        if await self._erased(subject):  # its purge marker stays: nobody makes the key again
            raise PersonErased(f"{subject} was erased: nothing new is kept about them")
        try:
            await (await self._bucket()).create(f"person.{subject}", wrapped)
        except KEY_TABLE_AWAY as away:
            raise _unavailable(away) from away
        except KeyWrongLastSequenceError:
            existing = await self.get(subject)
            if existing is None:
                raise
            return existing
        return wrapped

    async def _erased(self, subject: str) -> bool:
        try:
            await (await self._bucket()).get(f"person.{subject}")
        except KeyNotFoundError as missing:
            return missing.op is not None  # a purge (or delete) marker: the key was destroyed
        except KEY_TABLE_AWAY as away:
            raise _unavailable(away) from away
        return False

    async def destroy(self, subject: str) -> None:
        """Destroy the key for good, on disk too: its message is erased in place (a message delete
        overwrites the stored bytes; a purge alone leaves them in the block file until compaction),
        then the purge marker tells every reader the key is gone."""
        bucket, name = await self._bucket(), f"person.{subject}"
        try:
            entry = await bucket.get(name)
        except KeyNotFoundError:
            entry = None
        if entry is not None and entry.revision:
            try:
                await self._js.delete_msg(f"KV_{self._bucket_name}", entry.revision)
            except ServerError as refused:  # a bucket made before keys were erased in place
                if refused.err_code != MESSAGE_DELETE_DENIED:
                    raise
                log.warning("key_residue_until_rotation", bucket=self._bucket_name)
        await bucket.purge(name)

    async def replace(self, subject: str, wrapped: bytes) -> None:
        """Overwrite a person's wrapped key (master-key rotation only)."""
        await (await self._bucket()).put(f"person.{subject}", wrapped)

    async def snapshot(self) -> dict[str, bytes]:
        """Every live key, read through one ordered consumer on the bucket's stream (a key-by-key
        read of a hundred thousand people takes minutes; this takes seconds)."""
        js, prefix = self._js, f"$KV.{self._bucket_name}."
        info = await js.stream_info(f"KV_{self._bucket_name}")
        keys: dict[str, bytes] = {}
        if not info.state.messages:
            return keys
        sub = await js.subscribe(
            f"{prefix}>",
            stream=f"KV_{self._bucket_name}",
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
            pending_msgs_limit=100_000,
        )
        try:
            async for msg in sub.messages:
                subject = msg.subject.removeprefix(prefix).removeprefix("person.")
                if msg.data and not (msg.headers or {}).get("KV-Operation"):
                    keys[subject] = msg.data
                else:
                    keys.pop(subject, None)  # deleted or purged: the person was erased
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await _quietly(sub.unsubscribe())
        return keys

    async def subjects(self) -> list[str]:
        """Every person who has a key."""
        try:
            names = await (await self._bucket()).keys()
        except NoKeysError:
            return []
        return [name.removeprefix("person.") for name in names]


IDEMPOTENCY_BUCKET_BYTES = 64 * 2**20
"""At most this much of first requests is kept (about 400,000 keys; full, a new key answers 503)."""


def idempotency_bucket_config(bucket: str, replicas: int, hours: float) -> KeyValueConfig:
    """Idempotency keys' first requests: forgotten after `hours`, bounded in size, replicated
    like the events."""
    return KeyValueConfig(
        bucket=bucket,
        history=1,
        ttl=hours * 3600,
        storage=StorageType.FILE,
        replicas=replicas,
        max_bytes=IDEMPOTENCY_BUCKET_BYTES,
        max_value_size=1024,
    )


def key_bucket_stream(bucket: str, replicas: int) -> StreamConfig:
    """The key table's bucket, as the stream a key-value bucket is, but for one thing: a person's
    key may be erased in place (a message delete overwrites its bytes), which a bucket made by
    `create_key_value` denies for good. File storage, one value per person, replicated like the events."""
    return StreamConfig(
        name=f"KV_{bucket}",
        subjects=[f"$KV.{bucket}.>"],
        allow_direct=True,
        allow_rollup_hdrs=True,
        deny_delete=False,
        deny_purge=False,
        discard=DiscardPolicy.NEW,
        duplicate_window=120,
        max_consumers=-1,
        max_msgs=-1,
        max_msgs_per_subject=1,
        num_replicas=replicas,
        storage=StorageType.FILE,
    )
