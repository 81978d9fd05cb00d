"""Property: commands run through processes that keep folded aggregates give the same answers and
the same log as commands that load every aggregate from the log, however writers in several
processes interleave; kept state never outlives an erasure."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import DomainError, StateConflict
from fourlinks_kernel.kept import KeptAggregates
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command

from .sample import Notebook, sample_registry

ACTOR = Actor(id="member-1", roles=("member",), scope="yuhang")
BOOKS = ("a", "b", "c")
LIMIT = 4


def fresh_store() -> InMemoryEventStore:
    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    return InMemoryEventStore(EventCodec(sample_registry(), cipher))


async def decide(uow: UnitOfWork, op: str, book: str) -> int:
    """Four kinds of decision: one that writes, one refused on some states, one that writes
    nothing on some states, one that writes in another aggregate depending on this one."""
    notebook = await uow.get(Notebook, book)
    match op:
        case "open":
            notebook.open(owner_id=f"owner-{book}", phone="13800000000", title=book)
        case "add":
            notebook.add(f"note {len(notebook.notes)}")
        case "add_if_room":  # writes nothing once full: a decision no expectation check vouches for
            if len(notebook.notes) < LIMIT:
                notebook.add("room")
        case "add_if_even":  # refused on an odd count
            if len(notebook.notes) % 2:
                raise StateConflict("odd")
            notebook.add("even")
        case "copy_count":  # reads one aggregate, writes another
            other = await uow.get(Notebook, BOOKS[(BOOKS.index(book) + 1) % len(BOOKS)])
            other.add(f"{book} has {len(notebook.notes)}")
    return len(notebook.notes)


async def command(
    store: InMemoryEventStore, kept: KeptAggregates | None, op: str, book: str
) -> tuple[str, Any]:
    async def work(uow: UnitOfWork) -> int:
        return await decide(uow, op, book)

    try:
        outcome = await run_command(store, CommandContext.new(ACTOR), work, kept)
    except DomainError as exc:
        return "refused", type(exc).__name__
    return "ok", (outcome.value, len(outcome.positions))


async def log_of(store: InMemoryEventStore) -> list[tuple[str, dict[str, Any]]]:
    return [(str(r.envelope.stream), r.event.model_dump()) async for r in decoded(store)]


async def decoded(store: InMemoryEventStore) -> Any:
    async for stored in store.read():
        yield await store.codec.decode(stored)


OPS = st.sampled_from(["open", "add", "add_if_room", "add_if_even", "copy_count"])
STEPS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(BOOKS), OPS), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, capacity=st.integers(1, 4))
def test_processes_keeping_aggregates_answer_as_fresh_loads_do(
    steps: list[tuple[int, str, str]], capacity: int
) -> None:
    async def run() -> None:
        kept_store, plain_store = fresh_store(), fresh_store()
        processes = [KeptAggregates(capacity) for _ in range(3)]
        for process, book, op in steps:
            with_kept = await command(kept_store, processes[process], op, book)
            without = await command(plain_store, None, op, book)
            assert with_kept == without, (process, book, op)
        assert await log_of(kept_store) == await log_of(plain_store)

    asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(rounds=st.lists(st.lists(st.tuples(st.integers(0, 2), OPS), min_size=2, max_size=4), max_size=12))
def test_concurrent_writers_never_decide_on_a_stale_kept_state(rounds: list[list[tuple[int, str]]]) -> None:
    """Commands of several processes at once on one notebook: 'add if room' never overfills it,
    and whatever a process keeps equals a fresh fold of the log at the position it names."""

    async def run() -> None:
        store = fresh_store()
        processes = [KeptAggregates(8) for _ in range(3)]
        await command(store, processes[0], "open", "a")
        for round_ in rounds:
            await asyncio.gather(*(command(store, processes[p], op, "a") for p, op in round_))
            fresh = await store.load(Notebook.stream_of("a"))
            folded = Notebook.replay("a", [r.event for r in fresh.events])
            for kept in processes:
                entry = kept._entries.get(Notebook.stream_of("a"))
                if entry is not None and entry.state == fresh.state:
                    assert vars(entry.aggregate) == vars(folded)
        notes = await load_notes(store)
        # each decided on the true count at the moment it was written, never on a stale one
        assert all(i < LIMIT for i, note in enumerate(notes) if note == "room")
        assert all(i % 2 == 0 for i, note in enumerate(notes) if note == "even")

    asyncio.run(run())


async def load_notes(store: InMemoryEventStore) -> list[str]:
    fresh = await store.load(Notebook.stream_of("a"))
    return Notebook.replay("a", [r.event for r in fresh.events]).notes


def test_an_erasure_drops_every_kept_state_holding_the_person() -> None:
    async def run() -> None:
        store = fresh_store()
        kept = KeptAggregates()
        await command(store, kept, "open", "a")
        await command(store, kept, "add", "b")
        assert len(kept) == 2
        kept.forget_person("owner-a")
        assert len(kept) == 1  # b's opening was never in this process: it holds nobody
        kept_before = kept.hits
        await command(store, kept, "add", "a")
        assert kept.hits == kept_before  # read from the log again

    asyncio.run(run())


def test_kept_personal_data_is_not_used_after_the_key_cache_would_have_expired() -> None:
    async def run() -> None:
        now = [0.0]
        store = fresh_store()
        kept = KeptAggregates(clock=lambda: now[0])
        await command(store, kept, "open", "a")
        now[0] = 31.0
        assert kept.take(Notebook.stream_of("a")) is None

    asyncio.run(run())
