"""What every EventStore promises, checked on the in-memory store and on JetStream alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from conftest import decided, loaded

from fourlinks_kernel.envelope import GENESIS_HASH, Actor, CommandContext, StoredEvent, StreamId
from fourlinks_kernel.errors import (
    ConcurrencyConflict,
    CorruptEvent,
    UnknownEventType,
    UnsupportedSchemaVersion,
)
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.store import NEW_STREAM, EventStore, Reached

from .sample import NoteAdded, Notebook, NotebookOpened

ACTOR = Actor(id="secretary-1", roles=("secretary",), scope="yuhang")


def ctx() -> CommandContext:
    return CommandContext.new(ACTOR)


def adds(text: str) -> Callable[[Notebook], None]:
    return lambda notebook: notebook.add(text)


def opened(notebook_id: str) -> NotebookOpened:
    return NotebookOpened(
        notebook_id=notebook_id, owner_id=new_id(), owner_phone="13800001111", title="visits"
    )


async def test_appended_events_load_back_in_order_with_their_envelope(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    context = ctx()
    first = await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=context)
    await store.append(
        stream,
        [NoteAdded(notebook_id=stream.aggregate_id, text="call back", priority=2)],
        expected=first.state,
        context=ctx(),
    )
    loaded = await store.load(stream)
    assert [e.event.event_type for e in loaded.events] == ["NotebookOpened", "NoteAdded"]
    envelope = loaded.events[0].envelope
    assert (envelope.actor_id, envelope.aggregate_version, envelope.correlation_id) == (
        "secretary-1",
        1,
        context.correlation_id,
    )
    assert envelope.prev_hash == GENESIS_HASH
    assert loaded.events[1].envelope.prev_hash == loaded.events[0].digest
    assert loaded.state.version == 2
    opened_event = loaded.events[0].event
    assert isinstance(opened_event, NotebookOpened)
    assert opened_event.owner_phone == "13800001111"


async def test_a_stale_expectation_is_a_concurrency_conflict(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    with pytest.raises(ConcurrencyConflict):
        await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    assert (await store.load(stream)).state.version == 1


async def test_the_expectation_covers_every_event_type_of_the_aggregate(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    first = await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    note = NoteAdded(notebook_id=stream.aggregate_id, text="a", priority=1)
    await store.append(stream, [note], expected=first.state, context=ctx())
    with pytest.raises(ConcurrencyConflict):
        await store.append(stream, [note], expected=first.state, context=ctx())


async def test_other_aggregates_do_not_conflict(store: EventStore) -> None:
    one, two = Notebook.stream_of(new_id()), Notebook.stream_of(new_id())
    await store.append(one, [opened(one.aggregate_id)], expected=NEW_STREAM, context=ctx())
    result = await store.append(two, [opened(two.aggregate_id)], expected=NEW_STREAM, context=ctx())
    assert result.state.version == 1


async def test_several_events_of_one_command_are_appended_together(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    events = [opened(stream.aggregate_id)] + [
        NoteAdded(notebook_id=stream.aggregate_id, text=str(i), priority=1) for i in range(5)
    ]
    result = await store.append(stream, events, expected=NEW_STREAM, context=ctx())
    assert len(result.positions) == 6
    assert list(result.positions) == sorted(result.positions)
    loaded = await store.load(stream)
    assert loaded.state == result.state
    hashes = [e.envelope.prev_hash for e in loaded.events]
    assert hashes[1:] == [e.digest for e in loaded.events[:-1]]


async def test_a_conflicting_batch_writes_nothing(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    notes = [NoteAdded(notebook_id=stream.aggregate_id, text=str(i), priority=1) for i in range(3)]
    with pytest.raises(ConcurrencyConflict):
        await store.append(stream, notes, expected=NEW_STREAM, context=ctx())
    assert (await store.load(stream)).state.version == 1


async def test_a_retried_command_is_not_recorded_twice(store: EventStore) -> None:
    notebook_id, context = new_id(), ctx()

    def decide(notebook: Notebook) -> None:
        notebook.add("repair the stairwell light")

    first = await decided(store, Notebook, notebook_id, decide, context)
    again = await decided(store, Notebook, notebook_id, decide, context)
    assert again.duplicate
    assert again.positions == first.positions
    notebook = await loaded(store, Notebook, notebook_id)
    assert notebook.notes == ["repair the stairwell light"]
    assert notebook.version == 1


async def test_concurrent_writers_get_gapless_versions_and_lose_no_update(store: EventStore) -> None:
    notebook_id = new_id()
    await asyncio.gather(*(decided(store, Notebook, notebook_id, adds(f"note {i}"), ctx()) for i in range(4)))
    loaded = await store.load(Notebook.stream_of(notebook_id))
    assert [e.envelope.aggregate_version for e in loaded.events] == [1, 2, 3, 4]
    assert sorted(e.event.text for e in loaded.events if isinstance(e.event, NoteAdded)) == [
        f"note {i}" for i in range(4)
    ]


async def test_read_returns_everything_in_log_order_from_a_position(store: EventStore) -> None:
    streams = [Notebook.stream_of(new_id()) for _ in range(3)]
    for stream in streams:
        await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    everything = [s async for s in store.read()]
    assert [s.position for s in everything] == sorted(s.position for s in everything)
    assert len(everything) == 3
    later = [s async for s in store.read(from_position=everything[1].position)]
    assert [s.position for s in later] == [everything[1].position, everything[2].position]
    upto = [s async for s in store.read(until_position=everything[1].position)]
    assert len(upto) == 2
    assert await store.last_position() == everything[-1].position


async def test_a_live_read_delivers_history_then_live_events_with_increasing_positions(
    store: EventStore,
) -> None:
    first = Notebook.stream_of(new_id())
    await store.append(first, [opened(first.aggregate_id)], expected=NEW_STREAM, context=ctx())
    seen: list[StoredEvent] = []

    async def follow() -> None:
        async for batch in store.follow(from_position=1):
            assert not isinstance(batch, Reached), "no mark unless asked"
            seen.extend(batch)
            if len(seen) == 3:
                return

    task = asyncio.create_task(follow())
    second = Notebook.stream_of(new_id())
    await asyncio.sleep(0.1)
    await store.append(
        second,
        [opened(second.aggregate_id), NoteAdded(notebook_id=second.aggregate_id, text="x", priority=1)],
        expected=NEW_STREAM,
        context=ctx(),
    )
    await asyncio.wait_for(task, 10)
    positions = [s.position for s in seen]
    assert positions == sorted(set(positions))


async def test_a_filtered_live_read_marks_the_logs_end_after_what_it_lets_through(
    store: EventStore,
) -> None:
    mine = Notebook.stream_of(new_id())
    await store.append(mine, [opened(mine.aggregate_id)], expected=NEW_STREAM, context=ctx())
    for _ in range(5):  # another context's events after it: the read never sees them
        await open_elsewhere(store)
    live = store.follow(from_position=1, subjects=[f"{store.prefix}.sample.>", f"{store.prefix}.other.>"])
    items = aiter(live)
    assert [s.subject for s in await next_batch(items)] == [mine.subject(store.prefix)]
    live.probe()
    assert await asyncio.wait_for(anext(items), 10) == Reached(await store.last_position())
    note = NoteAdded(notebook_id=mine.aggregate_id, text="y", priority=1)
    later = await store.append(mine, [note], expected=(await store.load(mine)).state, context=ctx())
    assert [s.position for s in await next_batch(items)] == list(later.positions)
    await open_elsewhere(store)
    live.probe()
    assert await asyncio.wait_for(anext(items), 10) == Reached(await store.last_position())


async def open_elsewhere(store: EventStore) -> None:
    stream = StreamId("elsewhere", "notebook", new_id())
    await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())


async def next_batch(items: AsyncIterator[list[StoredEvent] | Reached]) -> list[StoredEvent]:
    batch = await asyncio.wait_for(anext(items), 10)
    assert isinstance(batch, list), batch
    return batch


async def test_an_unknown_event_type_is_a_clear_error_not_a_silent_drop(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    stored = await anext(store.read())
    body = json.loads(stored.payload)
    body["envelope"]["event_type"] = "NotebookBurned"
    with pytest.raises(UnknownEventType):
        await store.codec.decode(
            StoredEvent(stored.position, stored.subject, json.dumps(body).encode(), "NotebookBurned")
        )


async def test_each_aggregate_has_one_literal_subject_and_its_type_in_headers(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    note = NoteAdded(notebook_id=stream.aggregate_id, text="t", priority=1)
    await store.append(stream, [opened(stream.aggregate_id), note], expected=NEW_STREAM, context=ctx())
    stored = [s async for s in store.read() if s.subject.endswith(stream.aggregate_id)]
    assert {s.subject for s in stored} == {f"{store.prefix}.{stream}"}
    assert [s.event_type for s in stored] == ["NotebookOpened", "NoteAdded"]


async def test_an_aggregates_last_position_is_one_lookup(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    assert await store.position_of(stream) == 0
    first = await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    other = Notebook.stream_of(new_id())
    await store.append(other, [opened(other.aggregate_id)], expected=NEW_STREAM, context=ctx())
    assert await store.position_of(stream) == first.state.position


async def test_headers_that_contradict_the_envelope_are_a_corrupt_event(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    await store.append(stream, [opened(stream.aggregate_id)], expected=NEW_STREAM, context=ctx())
    stored = [s async for s in store.read()][-1]
    with pytest.raises(CorruptEvent, match="headers name NoteAdded"):
        await store.codec.decode(replace(stored, event_type="NoteAdded"))


async def test_a_newer_schema_is_refused_and_an_older_one_upcast(store: EventStore) -> None:
    stream = Notebook.stream_of(new_id())
    note = NoteAdded(notebook_id=stream.aggregate_id, text="t", priority=3)
    await store.append(stream, [note], expected=NEW_STREAM, context=ctx())
    stored = [s async for s in store.read(subjects=None)][-1]
    body = json.loads(stored.payload)
    body["envelope"]["schema_version"] = 3
    with pytest.raises(UnsupportedSchemaVersion):
        await store.codec.decode(replace(stored, payload=json.dumps(body).encode()))
    body["envelope"]["schema_version"] = 1
    del body["data"]["priority"]
    old = await store.codec.decode(replace(stored, payload=json.dumps(body).encode()))
    assert isinstance(old.event, NoteAdded)
    assert old.event.priority == 1


async def test_personal_fields_are_stored_encrypted_and_erasure_makes_them_unreadable(
    store: EventStore,
) -> None:
    stream = Notebook.stream_of(new_id())
    event = opened(stream.aggregate_id)
    await store.append(stream, [event], expected=NEW_STREAM, context=ctx())
    stored = [s async for s in store.read()][-1]
    assert b"13800001111" not in stored.payload
    assert store.codec.cipher is not None
    await store.codec.cipher.erase(event.owner_id)
    loaded = await store.load(stream)
    erased = loaded.events[0].event
    assert isinstance(erased, NotebookOpened)
    assert erased.owner_phone is None
    assert loaded.events[0].erased_fields == ("owner_phone",)
    assert erased.title == "visits"
