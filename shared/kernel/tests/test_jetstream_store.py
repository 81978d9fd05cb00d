"""JetStream-only behaviour: lost acknowledgements, unreachable servers."""

from __future__ import annotations

import dataclasses

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.errors import NoStreamResponseError

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import EventStoreUnavailable, StreamMissing
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.jetstream import JetStreamEventStore, JetStreamSettings, NatsKeyStore
from fourlinks_kernel.store import NEW_STREAM

from .conftest import master_key
from .sample import NoteAdded, Notebook, sample_registry


def ctx() -> CommandContext:
    return CommandContext.new(Actor(id="secretary-1", roles=("secretary",), scope="yuhang"))


def lose_acks(store: JetStreamEventStore, how_many: int) -> list[str]:
    """Deliver the publish but drop the acknowledgement, as when a connection breaks mid-reply."""
    real_request = store._request
    lost: list[str] = []

    async def request(subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
        reply = await real_request(subject, payload, headers)
        acknowledges_the_write = "Nats-Batch-Commit" in headers or "Nats-Batch-Id" not in headers
        if acknowledges_the_write and len(lost) < how_many:
            lost.append(subject)
            raise nats.errors.TimeoutError
        return reply

    store._request = request  # type: ignore[method-assign]
    return lost


@pytest.mark.parametrize("events_per_command", [1, 4])
async def test_a_write_whose_ack_was_lost_is_found_by_the_tail_check_and_not_written_twice(
    jetstream_store: JetStreamEventStore, events_per_command: int
) -> None:
    stream = Notebook.stream_of(new_id())
    events: list[DomainEvent] = [
        NoteAdded(notebook_id=stream.aggregate_id, text=str(i), priority=1) for i in range(events_per_command)
    ]
    lost = lose_acks(jetstream_store, 1)
    result = await jetstream_store.append(stream, events, expected=NEW_STREAM, context=ctx())
    assert lost
    loaded = await jetstream_store.load(stream)
    assert loaded.state.version == events_per_command
    assert result.state == loaded.state
    assert list(result.event_ids) == [e.envelope.event_id for e in loaded.events]


async def test_an_unreachable_server_is_a_retryable_error_not_a_success(
    jetstream_store: JetStreamEventStore,
) -> None:
    stream = Notebook.stream_of(new_id())
    event = NoteAdded(notebook_id=stream.aggregate_id, text="x", priority=1)

    async def nobody_answers(subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
        raise nats.errors.NoRespondersError

    jetstream_store._request = nobody_answers  # type: ignore[method-assign]
    jetstream_store.settings = type(jetstream_store.settings)(
        **{**jetstream_store.settings.__dict__, "publish_attempts": 2}
    )
    with pytest.raises(EventStoreUnavailable, match="Idempotency-Key"):
        await jetstream_store.append(stream, [event], expected=NEW_STREAM, context=ctx())
    assert (await jetstream_store.load(stream)).state.version == 0


async def test_a_key_snapshot_holds_every_live_key_and_no_erased_one(
    jetstream_store: JetStreamEventStore,
) -> None:
    cipher = jetstream_store.codec.cipher
    assert cipher is not None
    people = [f"person-{new_id()}" for _ in range(30)]
    sealed = {p: await cipher.encrypt(subject=p, field_name="name", value=p) for p in people}
    for erased in people[:5]:
        await cipher.erase(erased)
    keys = cipher._keys
    assert isinstance(keys, NatsKeyStore)
    snapshot = await keys.snapshot()
    assert set(people[5:]) <= set(snapshot)
    assert not set(people[:5]) & set(snapshot)
    fresh = PersonalDataCipher(master_key=master_key(), keys=keys)
    assert await fresh.preload() == len(snapshot)
    assert await fresh.decrypt(subject=people[9], field_name="name", sealed=sealed[people[9]]) == people[9]
    with pytest.raises(KeyError):
        await fresh.decrypt(subject=people[0], field_name="name", sealed=sealed[people[0]])


async def test_a_server_without_the_events_stream_is_refused_with_the_step_that_creates_it(
    nc: Client, jetstream_settings: JetStreamSettings
) -> None:
    elsewhere = dataclasses.replace(jetstream_settings, stream="NOT_PROVISIONED")
    store = JetStreamEventStore(nc, EventCodec(sample_registry()), elsewhere)
    with pytest.raises(StreamMissing, match="run `fourlinks nats init` first"):
        await store.check_layout()


class AwayBucket:
    """A key bucket whose stream does not answer (its leader is being elected)."""

    async def get(self, key: str) -> object:
        raise NoStreamResponseError

    async def create(self, key: str, value: bytes) -> object:
        raise NoStreamResponseError


async def test_a_key_table_that_does_not_answer_is_a_retry_not_a_server_error(nc: Client) -> None:
    keys = NatsKeyStore(nc, "FOURLINKS_KEYS_AWAY")
    keys._kv = AwayBucket()
    with pytest.raises(EventStoreUnavailable, match="retry with the same Idempotency-Key"):
        await keys.get("household-1")
    with pytest.raises(EventStoreUnavailable):
        await keys.create("household-1", b"wrapped")
