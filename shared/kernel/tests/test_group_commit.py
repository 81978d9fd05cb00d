"""Group commit on a real server: concurrent commands share atomic batches, each keeps its own
positions and expectation, and a conflict refuses only the command whose aggregate moved on."""

from __future__ import annotations

import asyncio

import pytest

from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.store import NEW_STREAM, AppendResult, StreamState

from .sample import NoteAdded, Notebook, NotebookOpened

ACTOR = Actor(id="member-1", roles=("member",), scope="yuhang")


def opened(book: str) -> NotebookOpened:
    return NotebookOpened(notebook_id=book, owner_id=f"o-{book}", owner_phone=None, title=book)


async def open_books(store: JetStreamEventStore, count: int) -> list[tuple[str, AppendResult]]:
    books = [new_id() for _ in range(count)]
    appended = await asyncio.gather(
        *(
            store.append(
                Notebook.stream_of(b), [opened(b)], expected=NEW_STREAM, context=CommandContext.new(ACTOR)
            )
            for b in books
        )
    )
    return list(zip(books, appended, strict=True))


async def test_concurrent_commands_share_batches_and_keep_their_own_positions(
    jetstream_store: JetStreamEventStore,
) -> None:
    assert jetstream_store.group is not None
    opened_books = await open_books(jetstream_store, 40)
    figures = jetstream_store.group.figures
    assert figures.commands == 40
    assert figures.batches < 40  # joined: fewer writes than commands
    positions = sorted(p for _, result in opened_books for p in result.positions)
    assert positions == list(range(positions[0], positions[0] + 40))
    for book, result in opened_books:
        loaded = await jetstream_store.load(Notebook.stream_of(book))
        assert loaded.state == result.state
        assert [r.position for r in loaded.events] == list(result.positions)


async def test_a_conflict_in_a_joined_batch_refuses_only_its_own_command(
    jetstream_store: JetStreamEventStore,
) -> None:
    assert jetstream_store.group is not None
    opened_books = await open_books(jetstream_store, 12)
    stale_book, stale_result = opened_books[-1]  # the first goes alone; the stale one is joined
    note = NoteAdded(notebook_id=stale_book, text="moved on", priority=1)
    await jetstream_store.append(
        Notebook.stream_of(stale_book), [note], expected=stale_result.state, context=CommandContext.new(ACTOR)
    )

    async def add(book: str, expected: StreamState) -> AppendResult:
        event = NoteAdded(notebook_id=book, text="together", priority=1)
        return await jetstream_store.append(
            Notebook.stream_of(book), [event], expected=expected, context=CommandContext.new(ACTOR)
        )

    splits_before = jetstream_store.group.figures.split_after_conflict
    outcomes = await asyncio.gather(
        *(add(book, result.state) for book, result in opened_books), return_exceptions=True
    )
    assert isinstance(outcomes[-1], ConcurrencyConflict)  # its aggregate had moved on
    assert all(isinstance(o, AppendResult) for o in outcomes[:-1])
    assert jetstream_store.group.figures.split_after_conflict > splits_before
    for book, _ in opened_books[:-1]:
        loaded = await jetstream_store.load(Notebook.stream_of(book))
        assert [type(r.event).__name__ for r in loaded.events] == ["NotebookOpened", "NoteAdded"]


async def test_two_commands_on_one_aggregate_are_never_joined(jetstream_store: JetStreamEventStore) -> None:
    [(book, result)] = await open_books(jetstream_store, 1)
    stream = Notebook.stream_of(book)

    async def add(text: str) -> AppendResult:
        event = NoteAdded(notebook_id=book, text=text, priority=1)
        return await jetstream_store.append(
            stream, [event], expected=result.state, context=CommandContext.new(ACTOR)
        )

    outcomes = await asyncio.gather(add("first"), add("second"), return_exceptions=True)
    assert sum(isinstance(o, AppendResult) for o in outcomes) == 1
    assert sum(isinstance(o, ConcurrencyConflict) for o in outcomes) == 1
    with pytest.raises(ConcurrencyConflict):
        await add("stale")
