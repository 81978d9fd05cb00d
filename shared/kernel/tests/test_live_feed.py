"""The live feed asks the server only for the subjects its projections read, and still knows how
far the whole log is read for them: a reader waiting on another context's position is answered
without one event of that context reaching the feed."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import ClassVar

import pytest
from conftest import eventually
from sqlalchemy import Column, Connection, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel import feed as feed_module
from fourlinks_kernel import projection as projection_module
from fourlinks_kernel.envelope import Actor, CommandContext, RecordedEvent, StreamId
from fourlinks_kernel.feed import ProjectionFeed, covering_filter, subject_filters
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.projection import ProjectionRunner, checkpoints
from fourlinks_kernel.store import NEW_STREAM, Reached

from .sample import NotebookOpened

metadata = MetaData()
titles = Table(
    "test_live_titles",
    metadata,
    Column("notebook_id", String(36), primary_key=True),
    Column("title", String(100)),
)


class SampleTitles:
    """Reads the sample context only."""

    name: ClassVar[str] = "test.live_titles"
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[tuple[str, ...]] = ("sample.>",)
    handles: ClassVar[frozenset[str]] = frozenset({"NotebookOpened"})

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if isinstance(event.event, NotebookOpened):
            conn.execute(titles.insert().values(notebook_id=event.event.notebook_id, title=event.event.title))


def ctx() -> CommandContext:
    return CommandContext.new(Actor(id="member-7", roles=("member",), scope="yuhang"))


async def open_notebooks(store: JetStreamEventStore, context: str, count: int) -> int:
    """Open notebooks in a context; returns the last position."""
    last = 0
    for n in range(count):
        stream = StreamId(context, "notebook", new_id())
        opened = NotebookOpened(
            notebook_id=stream.aggregate_id, owner_id=new_id(), owner_phone=None, title=f"{n}"
        )
        last = (await store.append(stream, [opened], expected=NEW_STREAM, context=ctx())).positions[-1]
    return last


async def durable(engine: AsyncEngine) -> tuple[int, datetime]:
    query = select(checkpoints.c.position, checkpoints.c.updated_at).where(
        checkpoints.c.name == SampleTitles.name
    )
    async with engine.connect() as conn:
        position, updated_at = (await conn.execute(query)).one()
    return int(position), updated_at


async def notebooks(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(titles))).scalar_one())


@pytest.fixture
def probes_only_when_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    """No timed probe within a test: only a waiting reader's wish moves positions beyond events."""
    monkeypatch.setattr(feed_module, "PROBE_EVERY", 3600.0)
    monkeypatch.setattr(projection_module, "REACHED_EVERY", 0.0)


async def test_a_reader_waiting_on_another_contexts_position_gets_it_without_its_events(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine, probes_only_when_wanted: None
) -> None:
    await open_notebooks(jetstream_store, "sample", 2)
    runner = ProjectionRunner(SampleTitles(), store=jetstream_store, engine=engine)
    feed = ProjectionFeed([runner])
    task = asyncio.create_task(feed.run())
    try:
        await eventually(lambda: _at(runner, 2))
        elsewhere = await open_notebooks(jetstream_store, "elsewhere", 40)
        assert runner.status.position == 2  # nothing it reads: no event came, and no timer ran
        await eventually(lambda: _wanted(feed, runner, elsewhere))  # as a waiting reader asks
        assert (await durable(engine))[0] == elsewhere  # API processes read it from the checkpoint
        mine = await open_notebooks(jetstream_store, "sample", 1)
        await eventually(lambda: _at(runner, mine))
        assert await notebooks(engine) == 3
        assert feed.delivered == {"sample": 3}  # forty events of another context never came
    finally:
        task.cancel()


async def test_a_reader_wanting_a_position_the_projections_read_past_asks_nothing(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine, probes_only_when_wanted: None
) -> None:
    last = await open_notebooks(jetstream_store, "sample", 3)
    runner = ProjectionRunner(SampleTitles(), store=jetstream_store, engine=engine)
    feed = ProjectionFeed([runner])
    task = asyncio.create_task(feed.run())
    try:
        await eventually(lambda: _at(runner, last))
        live = feed._live
        assert live is not None

        def refuse() -> None:
            raise AssertionError("a probe for a position already reached")

        live.probe = refuse  # type: ignore[method-assign]
        feed.want(last)
    finally:
        task.cancel()


async def test_a_vouched_position_is_written_once_never_backwards_and_survives_a_restart(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projection_module, "REACHED_EVERY", 0.0)
    await open_notebooks(jetstream_store, "sample", 1)
    last = await open_notebooks(jetstream_store, "elsewhere", 5)
    runner = ProjectionRunner(SampleTitles(), store=jetstream_store, engine=engine)
    assert await runner.prepare() == 0
    read = jetstream_store.read(subjects=f"{jetstream_store.prefix}.sample.>")
    await runner.take([s async for s in read], jetstream_store.codec.decode)
    runner.reach(last)
    await runner.keep_reached()
    written = await durable(engine)
    assert written[0] == last
    await runner.keep_reached()  # nothing moved: no write
    runner.reach(3)  # an older mark: nothing moves back
    await runner.keep_reached()
    assert (runner.status.position, await durable(engine)) == (last, written)
    runner.close()
    again = ProjectionRunner(SampleTitles(), store=jetstream_store, engine=engine)
    assert await again.prepare() == last  # not a log regression: the mark was the log's end
    again.close()


async def test_a_mark_never_comes_before_an_event_it_vouches_for(
    jetstream_store: JetStreamEventStore,
) -> None:
    store = jetstream_store
    live = store.follow(from_position=1, subjects=[f"{store.prefix}.sample.>"], batch_size=7)
    items = aiter(live)

    async def write() -> None:  # two writers: the log moves while probes read it
        await asyncio.gather(*(open_notebooks(store, context, 60) for context in ("sample", "elsewhere")))

    async def probe() -> None:
        while True:
            live.probe()
            await asyncio.sleep(0.003)

    writer, prober = asyncio.create_task(write()), asyncio.create_task(probe())
    taken: list[int] = []
    marks: list[tuple[int, int]] = []  # (the mark, how many events came before it)
    try:
        while not (writer.done() and marks and marks[-1][0] == await store.last_position()):
            item = await asyncio.wait_for(anext(items), 10)
            if isinstance(item, Reached):
                marks.append((item.position, len(taken)))
            else:
                taken += [stored.position for stored in item]
    finally:
        prober.cancel()
        await items.aclose()
    mine = [s.position async for s in store.read(subjects=f"{store.prefix}.sample.>")]
    assert taken == mine  # every event it reads, in order, once
    assert len(marks) > 1
    for mark, before in marks:
        assert before >= sum(1 for position in mine if position <= mark), mark


async def _at(runner: ProjectionRunner, position: int) -> bool:
    return runner.status.position >= position


async def _wanted(feed: ProjectionFeed, runner: ProjectionRunner, position: int) -> bool:
    feed.want(position)
    return runner.status.position >= position


def test_the_live_read_asks_for_every_projections_subjects_none_covered_by_another() -> None:
    assert subject_filters(["members.>", ("assignments.>", "members.household.>", "feedback.>")]) == [
        "members.>",
        "assignments.>",
        "feedback.>",
    ]
    assert subject_filters(["members.>", "members.>"]) == ["members.>"]
    assert subject_filters(["members.>", None]) is None
    assert subject_filters(["members.*.x", "members.household.>"]) is None  # they overlap: the whole log
    assert subject_filters(["members.*.x", "members.household.y"]) == ["members.*.x", "members.household.y"]
    assert covering_filter([("members.>", "members.org_unit.>")]) == "members.>"
    assert covering_filter(["members.>", ("assignments.>",)]) is None
