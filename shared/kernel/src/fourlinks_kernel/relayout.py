"""Moves an events stream from the old subject layout (`<aggregate>.<event type>`) to one literal
subject per aggregate, the type in headers, every stored byte and every position unchanged.

JetStream cannot rename a subject in place, so the log is copied twice: into a side stream, then
back into a fresh stream of the original name (deleting a stream deletes its consumers: their
positions are kept in the side stream's metadata first). Each copy goes in atomic batches that
expect the target's last position, so a crash at any point is resumed by running the command again,
without a gap or a duplicate; the side stream is removed only when the copy back is complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import LAYOUT_KEY, SUBJECT_LAYOUT, StoredEvent, type_headers
from fourlinks_kernel.errors import KernelError
from fourlinks_kernel.events import EventRegistry
from fourlinks_kernel.jetstream import (
    JetStreamEventStore,
    JetStreamSettings,
    Message,
    publish_batch,
    subject_layout,
)
from fourlinks_kernel.provisioning import ProvisionOptions, stream_config

SIDE_SUFFIX = "_RELAYOUT"
SIDE_PREFIX = "relayout"
BATCH = 500
CONSUMERS_KEY = "fourlinks_relayout_consumers"
SOURCE_KEY = "fourlinks_relayout_source_events"


class RelayoutRefused(KernelError):
    """The stream cannot or need not be moved to the new layout; the message says why."""


@dataclass
class RelayoutReport:
    """What the move did."""

    events: int = 0
    copied_aside: int = 0
    copied_back: int = 0
    # Each durable consumer the stream had, with the position it had acknowledged up to.
    consumers: dict[str, int] = field(default_factory=dict)
    already_done: bool = False


# Events just copied, and how many both copies move in all.
Advance = Callable[[int, int], None]


async def relayout(nc: Client, settings: JetStreamSettings, advance: Advance | None = None) -> RelayoutReport:
    """Move the events stream to the current layout (resuming an interrupted move)."""
    mover = _Mover(nc, settings, advance or (lambda _done, _total: None))
    return await mover.run()


class _Mover:
    def __init__(self, nc: Client, settings: JetStreamSettings, advance: Advance) -> None:
        self.nc = nc
        self.settings = settings
        self.advance = advance
        self.total = 0
        self.side = f"{settings.stream}{SIDE_SUFFIX}"
        self.codec = EventCodec(EventRegistry())  # envelopes only: nothing is decrypted

    async def run(self) -> RelayoutReport:
        main = await self._info(self.settings.stream)
        side = await self._info(self.side)
        if side is None:
            if main is None:
                raise RelayoutRefused(f"there is no stream {self.settings.stream} to move")
            if subject_layout(main) == SUBJECT_LAYOUT:
                raise RelayoutRefused(
                    f"stream {self.settings.stream} is in the current layout already: nothing to do"
                )
            _refuse_gaps(main)
            side = await self._create_side(main)
        report = RelayoutReport(events=int(side["config"]["metadata"][SOURCE_KEY]))
        self.total = 2 * report.events
        report.consumers = json.loads(side["config"]["metadata"].get(CONSUMERS_KEY, "{}"))
        if main is not None and subject_layout(main) != SUBJECT_LAYOUT:
            report.copied_aside = await self._copy_aside(main, side, report.events)
            report.consumers = await self._keep_consumer_positions(side)
            await self._delete(self.settings.stream)
            main = None
        if main is None:
            main = await self._create_main(side)
        report.copied_back = await self._copy_back(main, report.events)
        await self._delete(self.side)
        return report

    # -- the two copies ------------------------------------------------------------------------
    async def _copy_aside(self, main: dict[str, Any], side: dict[str, Any], total: int) -> int:
        source = self._reader(self.settings.stream, self.settings.prefix)
        return await self._copy(source, int(side["state"]["last_seq"]), total, self._aside)

    def _aside(self, stored: StoredEvent) -> Message:
        """Old subject `<prefix>.<stream>.<type>` to `relayout.<prefix>.<stream>`, type in headers."""
        envelope, _ = self.codec.envelope_of(stored)
        headers = {**type_headers(envelope.event_type, envelope.schema_version), **stored.signature_headers()}
        literal = f"{self.settings.prefix}.{envelope.stream}"
        if stored.subject != f"{literal}.{envelope.event_type}":
            raise RelayoutRefused(
                f"the event at position {stored.position} is stored under {stored.subject}, not under "
                "its aggregate and type: run `fourlinks audit verify` and settle that first"
            )
        return f"{SIDE_PREFIX}.{literal}", stored.payload, headers

    async def _copy_back(self, main: dict[str, Any], total: int) -> int:
        side = self._reader(self.side, f"{SIDE_PREFIX}.{self.settings.prefix}")
        return await self._copy(side, int(main["state"]["last_seq"]), total, self._back)

    def _back(self, stored: StoredEvent) -> Message:
        """`relayout.<prefix>.<stream>` to `<prefix>.<stream>`, the headers as they were."""
        subject = stored.subject.removeprefix(f"{SIDE_PREFIX}.")
        return subject, stored.payload, self.codec.headers_of(stored)

    async def _copy(
        self, source: JetStreamEventStore, done: int, total: int, moved: Callable[[StoredEvent], Message]
    ) -> int:
        """Positions `done + 1 .. total` of `source`, each as `moved` makes it, in atomic batches."""
        copied = 0
        batch: list[Message] = []
        async for stored in source.read(from_position=done + 1, until_position=total):
            batch.append(moved(stored))
            if len(batch) == BATCH:
                copied += await self._publish(batch, expect_last=done + copied)
                batch = []
        if batch:
            copied += await self._publish(batch, expect_last=done + copied)
        return copied

    def _reader(self, stream: str, prefix: str) -> JetStreamEventStore:
        reading = JetStreamSettings(stream=stream, prefix=prefix, publish_timeout=30.0)
        return JetStreamEventStore(self.nc, self.codec, reading)

    async def _publish(self, messages: list[Message], *, expect_last: int) -> int:
        """One atomic batch that lands right after `expect_last` or not at all."""
        last = await publish_batch(self.nc, messages, expect_last=expect_last)
        if last != expect_last + len(messages):
            raise RelayoutRefused(f"the copy landed at {last}, not at {expect_last + len(messages)}")
        self.advance(len(messages), self.total)
        return len(messages)

    # -- streams and consumers -----------------------------------------------------------------
    async def _create_side(self, main: dict[str, Any]) -> dict[str, Any]:
        metadata = {LAYOUT_KEY: SUBJECT_LAYOUT, SOURCE_KEY: str(main["state"]["last_seq"])}
        config = {**self._config(main), "name": self.side, "subjects": [f"{SIDE_PREFIX}.>"]}
        return await self._create({**config, "metadata": metadata})

    async def _create_main(self, side: dict[str, Any]) -> dict[str, Any]:
        return await self._create(self._config(side))

    def _config(self, like: dict[str, Any]) -> dict[str, Any]:
        """The events stream as `fourlinks nats init` makes it, as replicated as `like`."""
        replicas = int(like["config"].get("num_replicas", 1))
        return stream_config(ProvisionOptions(replicas=replicas, jetstream=self.settings))

    async def _keep_consumer_positions(self, side: dict[str, Any]) -> dict[str, int]:
        """Every durable consumer's acknowledged position, kept before the stream (and with it
        the consumers) is deleted."""
        listing = await self._api(f"CONSUMER.LIST.{self.settings.stream}", b"{}")
        positions = {
            consumer["name"]: int(consumer["ack_floor"]["stream_seq"])
            for consumer in listing.get("consumers") or []
            if consumer["config"].get("durable_name")
        }
        metadata = {**side["config"]["metadata"], CONSUMERS_KEY: json.dumps(positions)}
        updated = {**side["config"], "metadata": metadata}
        await self._checked(f"STREAM.UPDATE.{self.side}", updated)
        return positions

    async def _create(self, config: dict[str, Any]) -> dict[str, Any]:
        return await self._checked(f"STREAM.CREATE.{config['name']}", config)

    async def _delete(self, stream: str) -> None:
        await self._checked(f"STREAM.DELETE.{stream}", None)

    async def _info(self, stream: str) -> dict[str, Any] | None:
        info = await self._api(f"STREAM.INFO.{stream}", b"")
        return None if "error" in info else info

    async def _checked(self, call: str, body: dict[str, Any] | None) -> dict[str, Any]:
        reply = await self._api(call, b"" if body is None else json.dumps(body).encode())
        if "error" in reply:
            raise RelayoutRefused(f"JetStream {call}: {reply['error'].get('description')}")
        return reply

    async def _api(self, call: str, payload: bytes) -> dict[str, Any]:
        msg = await self.nc.request(f"$JS.API.{call}", payload, timeout=30)
        body: dict[str, Any] = json.loads(msg.data)
        return body


def _refuse_gaps(main: dict[str, Any]) -> None:
    """Positions are kept only if the log runs 1..N without a hole (read models rely on them)."""
    state = main["state"]
    if state["messages"] and (state["first_seq"] != 1 or state["messages"] != state["last_seq"]):
        raise RelayoutRefused(
            f"stream {main['config']['name']} has gaps ({state['messages']} events at positions "
            f"{state['first_seq']}..{state['last_seq']}): positions could not be kept"
        )
