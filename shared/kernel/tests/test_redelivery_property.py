"""Property: however an at-least-once feed repeats earlier events, the read model ends as if each
event had been applied exactly once."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext, StoredEvent
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import ProjectionRunner
from fourlinks_kernel.store import NEW_STREAM

from .sample import NoteAdded, Notebook, NotebookOpened, sample_registry
from .test_projections import NotebookProjection, notebooks

ACTOR = Actor(id="member-1", roles=("member",), scope="yuhang")


async def history(notes: int) -> tuple[InMemoryEventStore, list[StoredEvent]]:
    store = InMemoryEventStore(
        EventCodec(sample_registry(), PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore()))
    )
    for book in ("a", "b"):
        stream = Notebook.stream_of(book)
        events = [NotebookOpened(notebook_id=book, owner_id="o", owner_phone=None, title=book)]
        await store.append(stream, events, expected=NEW_STREAM, context=CommandContext.new(ACTOR))
    for n in range(notes):
        book = "ab"[n % 2]
        state = (await store.load(Notebook.stream_of(book))).state
        note = NoteAdded(notebook_id=book, text=str(n), priority=1)
        await store.append(
            Notebook.stream_of(book), [note], expected=state, context=CommandContext.new(ACTOR)
        )
    return store, [s async for s in store.read()]


async def project(
    store: InMemoryEventStore, deliveries: list[list[StoredEvent]], path: Path
) -> list[tuple[str, int]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        runner = ProjectionRunner(NotebookProjection(), store=store, engine=engine)
        await runner.rebuild()
        await runner.prepare()
        for batch in deliveries:
            await runner.take(batch, store.codec.decode)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(notebooks.c.notebook_id, notebooks.c.notes))).all()
        return sorted((r.notebook_id, r.notes) for r in rows)
    finally:
        await engine.dispose()


@st.composite
def feeds(draw: st.DrawFn) -> tuple[int, list[list[int]]]:
    """A feed in log order where any delivery may repeat events already delivered, in any order."""
    notes = draw(st.integers(min_value=0, max_value=8))
    total = notes + 2
    deliveries: list[list[int]] = []
    delivered = 0
    while delivered < total:
        fresh = draw(st.integers(min_value=1, max_value=total - delivered))
        repeats = (
            draw(st.lists(st.integers(min_value=0, max_value=max(delivered - 1, 0)), max_size=3))
            if delivered
            else []
        )
        batch = sorted(repeats) + list(range(delivered, delivered + fresh))
        deliveries.append(batch)
        delivered += fresh
        if draw(st.booleans()):
            deliveries.append(
                draw(st.permutations(list(range(delivered))))[: draw(st.integers(0, delivered))]
            )
    return notes, deliveries


@settings(max_examples=40, deadline=None)
@given(feeds())
def test_redelivered_and_reordered_repeats_have_no_second_effect(feed: tuple[int, list[list[int]]]) -> None:
    notes, deliveries = feed

    async def check() -> None:
        store, log = await history(notes)
        with tempfile.TemporaryDirectory() as directory:
            once = await project(store, [log], Path(directory) / "once.db")
            noisy = await project(
                store, [[log[i] for i in batch] for batch in deliveries], Path(directory) / "noisy.db"
            )
        assert noisy == once

    asyncio.run(check())
