"""A projection that reads a few fields of an event gets those, decoded as a full decode would,
and nothing else: a personal field it did not ask for is never decrypted nor readable."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext, StoredEvent
from fourlinks_kernel.feed import DecodeOnce
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.store import NEW_STREAM

from .sample import NoteAdded, Notebook, NotebookOpened

ACTOR = Actor(id="secretary-1", roles=("secretary",), scope="yuhang")
TITLE_ONLY = frozenset({"notebook_id", "title"})
WITH_PHONE = frozenset({"notebook_id", "owner_phone"})


async def stored_opening(store: InMemoryEventStore) -> tuple[StoredEvent, str]:
    stream = Notebook.stream_of(new_id())
    owner = new_id()
    event = NotebookOpened(
        notebook_id=stream.aggregate_id, owner_id=owner, owner_phone="13800001111", title="t"
    )
    await store.append(stream, [event], expected=NEW_STREAM, context=CommandContext.new(ACTOR))
    return [s async for s in store.read()][-1], owner


def cipher_of(store: InMemoryEventStore) -> PersonalDataCipher:
    assert store.codec.cipher is not None
    return store.codec.cipher


def counting_decrypts(store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The personal fields the store's cipher decrypts from now on."""
    cipher, opened = cipher_of(store), []
    decrypt = cipher.decrypt

    async def counted(*, subject: str, field_name: str, sealed: dict[str, str]) -> Any:
        opened.append(field_name)
        return await decrypt(subject=subject, field_name=field_name, sealed=sealed)

    monkeypatch.setattr(cipher, "decrypt", counted)
    return opened


async def test_fields_not_asked_for_are_neither_decrypted_nor_readable(
    memory_store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, _ = await stored_opening(memory_store)
    opened = counting_decrypts(memory_store, monkeypatch)
    recorded = await memory_store.codec.decode(stored, TITLE_ONLY)
    assert isinstance(recorded.event, NotebookOpened)
    assert (recorded.event.notebook_id, recorded.event.title) == (stored.subject.rsplit(".", 1)[1], "t")
    assert opened == []
    with pytest.raises(AttributeError):
        _ = recorded.event.owner_phone
    with pytest.raises(AttributeError):
        _ = recorded.event.owner_id  # not a default, not None: the projection asked for too little


async def test_a_personal_field_asked_for_reads_as_in_a_full_decode_and_so_does_the_envelope(
    memory_store: InMemoryEventStore,
) -> None:
    stored, _ = await stored_opening(memory_store)
    full = await memory_store.codec.decode(stored)
    few = await memory_store.codec.decode(stored, WITH_PHONE)
    assert isinstance(few.event, NotebookOpened)
    assert isinstance(full.event, NotebookOpened)
    assert few.event.owner_phone == full.event.owner_phone == "13800001111"
    assert (few.envelope, few.position, few.digest) == (full.envelope, full.position, full.digest)


async def test_an_erased_persons_field_reads_as_none_and_erased_as_in_a_full_decode(
    memory_store: InMemoryEventStore,
) -> None:
    stored, owner = await stored_opening(memory_store)
    await cipher_of(memory_store).erase(owner)
    full = await memory_store.codec.decode(stored)
    few = await memory_store.codec.decode(stored, WITH_PHONE)
    assert isinstance(few.event, NotebookOpened)
    assert few.event.owner_phone is None
    assert few.erased_fields == full.erased_fields == ("owner_phone",)


async def test_an_older_schema_version_is_upcast_whole(memory_store: InMemoryEventStore) -> None:
    stream = Notebook.stream_of(new_id())
    note = NoteAdded(notebook_id=stream.aggregate_id, text="call back", priority=2)
    await memory_store.append(stream, [note], expected=NEW_STREAM, context=CommandContext.new(ACTOR))
    stored = [s async for s in memory_store.read()][-1]
    body = json.loads(stored.payload)
    body["envelope"]["schema_version"] = 1
    del body["data"]["priority"]
    recorded = await memory_store.codec.decode(
        replace(stored, payload=json.dumps(body).encode()), frozenset({"notebook_id"})
    )
    assert isinstance(recorded.event, NoteAdded)
    assert recorded.event.priority == 1  # the upcaster ran: the event is whole


async def test_data_a_full_decode_refuses_is_refused_the_same_way(memory_store: InMemoryEventStore) -> None:
    stored, _ = await stored_opening(memory_store)
    body = json.loads(stored.payload)
    body["data"]["smuggled"] = "x"
    with pytest.raises(ValueError, match="smuggled"):
        await memory_store.codec.decode(replace(stored, payload=json.dumps(body).encode()), TITLE_ONLY)
    body = json.loads(stored.payload)
    body["data"]["title"] = 3
    with pytest.raises(ValueError, match="title"):
        await memory_store.codec.decode(replace(stored, payload=json.dumps(body).encode()), TITLE_ONLY)


async def test_asking_for_a_field_the_contract_has_not_is_a_clear_error(
    memory_store: InMemoryEventStore,
) -> None:
    stored, _ = await stored_opening(memory_store)
    with pytest.raises(ValueError, match="no field colour"):
        await memory_store.codec.decode(stored, frozenset({"notebook_id", "colour"}))


async def test_a_feed_decodes_once_and_a_whole_event_serves_a_projection_asking_for_a_few_fields(
    memory_store: InMemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, _ = await stored_opening(memory_store)
    opened = counting_decrypts(memory_store, monkeypatch)
    decode = DecodeOnce(memory_store.codec)
    few = await decode(stored, TITLE_ONLY)
    assert await decode(stored, TITLE_ONLY) is few
    assert opened == []
    whole = await decode(stored)
    assert await decode(stored, WITH_PHONE) is whole
    assert opened == ["owner_phone"]
