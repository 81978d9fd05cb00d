"""The projection runner on a real JetStream stream and real databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import EVENT_TYPE_HEADER, Actor, CommandContext, RecordedEvent, StoredEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.feed import ProjectionFeed, covering_filter
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.projection import (
    ProjectionHalted,
    ProjectionRunner,
    ProjectionSuperseded,
    checkpoints,
    failures,
)
from fourlinks_kernel.rows import upsert_row
from fourlinks_kernel.store import NEW_STREAM, EventStore

from .sample import NoteAdded, Notebook, NotebookOpened

metadata = MetaData()
notebooks = Table(
    "test_notebooks",
    metadata,
    Column("notebook_id", String(36), primary_key=True),
    Column("title", String(100)),
    Column("notes", Integer, nullable=False),
)


class NotebookProjection:
    name: ClassVar[str] = "test.notebooks"
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = None
    handles: ClassVar[frozenset[str]] = frozenset({"NotebookOpened", "NoteAdded"})

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        match event.event:
            case NotebookOpened() as opened:
                values = {"notebook_id": opened.notebook_id, "title": opened.title, "notes": 0}
                upsert_row(conn, notebooks, values, ["notebook_id"])
            case NoteAdded() as note:
                if note.text == self.fail_on:
                    raise ValueError("this note cannot be projected")
                conn.execute(
                    notebooks.update()
                    .where(notebooks.c.notebook_id == note.notebook_id)
                    .values(notes=notebooks.c.notes + 1)
                )


def ctx() -> CommandContext:
    return CommandContext.new(Actor(id="member-7", roles=("member",), scope="yuhang"))


async def fill(store: EventStore, notebooks_count: int, notes_each: int) -> list[str]:
    ids = []
    for n in range(notebooks_count):
        stream = Notebook.stream_of(new_id())
        events: list[DomainEvent] = [
            NotebookOpened(
                notebook_id=stream.aggregate_id, owner_id=new_id(), owner_phone=None, title=f"n{n}"
            )
        ]
        events += [
            NoteAdded(notebook_id=stream.aggregate_id, text=f"t{i}", priority=1) for i in range(notes_each)
        ]
        await store.append(stream, events, expected=NEW_STREAM, context=ctx())
        ids.append(stream.aggregate_id)
    return ids


async def snapshot(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(notebooks).order_by(notebooks.c.notebook_id))
        return [(r.notebook_id, r.title, r.notes) for r in rows]


async def checkpoint_of(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = select(checkpoints.c.position).where(checkpoints.c.name == NotebookProjection.name)
        return int((await conn.execute(query)).scalar_one())


async def test_catch_up_applies_every_event_and_checkpoints_the_last_position(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 5, 3)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine, batch_size=7)
    position = await ProjectionFeed([runner]).catch_up()
    assert position == await jetstream_store.last_position() == 20
    assert await checkpoint_of(engine) == 20
    assert sorted(r[2] for r in await snapshot(engine)) == [3] * 5


async def test_redelivered_events_have_no_second_effect(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 2, 2)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    await ProjectionFeed([runner]).catch_up()
    before = await snapshot(engine)
    everything = [s async for s in jetstream_store.read()]
    await runner.take(everything, jetstream_store.codec.decode)  # the same events again, as after a lost ack
    await runner.take(everything[2:4], jetstream_store.codec.decode)
    assert await snapshot(engine) == before


async def test_a_crash_between_apply_and_checkpoint_leaves_no_trace_and_resumes(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 3, 2)
    crashing = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine, batch_size=4)

    def crash(conn: Connection, position: int) -> None:
        raise KeyboardInterrupt  # the process dies after applying, before committing

    crashing._write_checkpoint = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        await ProjectionFeed([crashing]).catch_up()
    assert await checkpoint_of(engine) == 0
    assert await snapshot(engine) == []
    fresh = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine, batch_size=4)
    await ProjectionFeed([fresh]).catch_up()
    assert sorted(r[2] for r in await snapshot(engine)) == [2, 2, 2]


async def test_an_event_that_cannot_be_applied_is_recorded_and_halts_the_projection(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 3)
    runner = ProjectionRunner(NotebookProjection(fail_on="t1"), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted, match="NoteAdded at position 3"):
        await ProjectionFeed([runner]).catch_up()
    assert await checkpoint_of(engine) == 2  # everything before the bad event applied, nothing after
    assert not runner.status.healthy
    async with engine.connect() as conn:
        recorded = (await conn.execute(select(failures.c.position, failures.c.event_type))).all()
    assert [tuple(r) for r in recorded] == [(3, "NoteAdded")]
    again = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted):
        await again.prepare()  # stays halted across restarts until an operator rebuilds


async def test_a_corrupt_event_halts_instead_of_being_skipped(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 1)
    await jetstream_store.nc.request(
        f"{jetstream_store.settings.prefix}.sample.notebook.{new_id()}",
        b"{not json",
        timeout=5,
        headers={EVENT_TYPE_HEADER: "NoteAdded"},
    )
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted, match="position 3"):
        await ProjectionFeed([runner]).catch_up()


async def test_an_event_whose_headers_name_no_type_halts_instead_of_being_skipped(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 1)
    good = [s async for s in jetstream_store.read()][-1]
    await jetstream_store.nc.request(good.subject, good.payload, timeout=5)  # no headers at all
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted, match="untyped event at position 3"):
        await ProjectionFeed([runner]).catch_up()


async def test_a_checkpoint_ahead_of_the_stream_is_a_log_regression_and_halts(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 1)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    await ProjectionFeed([runner]).catch_up()
    async with engine.begin() as conn:
        await conn.execute(checkpoints.update().values(position=500))  # as after lost writes on the server
    restarted = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted, match="log regression"):
        await restarted.prepare()
    assert restarted.status.halted_reason is not None


async def test_bumping_the_version_rebuilds_the_read_model_on_start(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 2, 1)
    await ProjectionFeed(
        [ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)]
    ).catch_up()
    async with engine.begin() as conn:
        await conn.execute(notebooks.update().values(title="tampered"))

    class NotebookProjectionV2(NotebookProjection):
        version: ClassVar[int] = 2

    await ProjectionFeed(
        [ProjectionRunner(NotebookProjectionV2(), store=jetstream_store, engine=engine)]
    ).catch_up()
    assert {r[1] for r in await snapshot(engine)} == {"n0", "n1"}


class NotebookProjectionV2(NotebookProjection):
    version: ClassVar[int] = 2


async def test_a_replica_of_the_older_version_never_writes_into_the_newer_versions_read_model(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    """A rolling upgrade in one database: the new release rebuilds; the old replica still running
    stops instead of applying its events (and moving the checkpoint) under the new version, and
    an old replica starting afterwards does not undo the rebuild."""
    await fill(jetstream_store, 2, 1)
    old = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    await ProjectionFeed([old]).catch_up()
    await fill(jetstream_store, 1, 1)  # what the old replica has yet to apply
    new = ProjectionRunner(NotebookProjectionV2(), store=jetstream_store, engine=engine)
    await new.prepare()  # the new release's replica starts and resets the read model
    later = [s async for s in jetstream_store.read(from_position=5)]
    with pytest.raises(ProjectionSuperseded, match="version 2, this release builds version 1"):
        await old.take(later, jetstream_store.codec.decode)
    old.status.position = 6
    with pytest.raises(ProjectionSuperseded):
        await old.flush()  # nor does it move the checkpoint on skipped events
    assert "superseded" in (old.status.halted_reason or "")
    assert (await checkpoint_of(engine), await snapshot(engine)) == (0, [])
    await ProjectionFeed([new]).catch_up()
    assert sorted(r[1] for r in await snapshot(engine)) == ["n0", "n0", "n1"]

    restarted_old = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionSuperseded, match="a newer release owns it"):
        await restarted_old.prepare()
    assert await checkpoint_of(engine) == 6
    async with engine.connect() as conn:
        recorded = (await conn.execute(select(func.count()).select_from(failures))).scalar_one()
    assert recorded == 0  # the read model is not at fault: nothing recorded against it


async def test_running_projection_follows_live_appends(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 1)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    task = asyncio.create_task(ProjectionFeed([runner]).run())
    try:
        await fill(jetstream_store, 3, 2)
        for _ in range(200):
            if runner.status.position == 11:
                break
            await asyncio.sleep(0.02)
        assert runner.status.healthy
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(notebooks))).scalar_one() == 4
    finally:
        task.cancel()


async def test_a_rebuild_gives_the_same_rows_as_the_live_projection(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 4, 2)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine, batch_size=3)
    await ProjectionFeed([runner]).catch_up()
    live = await snapshot(engine)
    await runner.rebuild()
    assert await snapshot(engine) == []
    await ProjectionFeed([runner]).catch_up()
    assert await snapshot(engine) == live


def test_stored_event_type_comes_from_the_headers() -> None:
    headers = {EVENT_TYPE_HEADER: "OrgUnitCreated", "Nats-Sequence": "1"}
    assert StoredEvent.of(1, "fourlinks.members.org_unit.x", b"", headers).event_type == "OrgUnitCreated"
    assert StoredEvent.of(1, "fourlinks.members.org_unit.x", b"", None).event_type == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body: body["data"].update(priority="high"), "ValidationError"),
        (lambda body: body["envelope"].update(schema_version=9), "UnsupportedSchemaVersion"),
        (lambda body: body["envelope"].update(event_type="NoteBurned"), "CorruptEvent"),
    ],
)
async def test_wrongly_typed_or_versioned_payloads_halt_the_projection_and_are_recorded(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine, change: Any, reason: str
) -> None:
    await fill(jetstream_store, 1, 1)
    good = [s async for s in jetstream_store.read()][-1]
    body = json.loads(good.payload)
    change(body)
    headers = {EVENT_TYPE_HEADER: good.event_type}  # a forger who kept the headers
    await jetstream_store.nc.request(good.subject, json.dumps(body).encode(), timeout=5, headers=headers)
    runner = ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine)
    with pytest.raises(ProjectionHalted, match=reason):
        await ProjectionFeed([runner]).catch_up()
    assert runner.status.position == 2  # everything before the bad event, nothing skipped past it
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(failures))).scalar_one() == 1


def test_row_helpers_set_add_and_keep_values() -> None:
    from sqlalchemy import create_engine

    from fourlinks_kernel.rows import Added, insert_row, select_row, update_rows

    engine = create_engine("sqlite://")
    notebooks.metadata.create_all(engine)
    with engine.begin() as conn:
        insert_row(conn, notebooks, {"notebook_id": "n1", "title": "first", "notes": 1})
        update_rows(conn, notebooks, {"notebook_id": "n1"}, {"notes": Added(2)})
        update_rows(conn, notebooks, {"notebook_id": "n1"}, {"title": notebooks.c.title, "notes": Added(1)})
        update_rows(conn, notebooks, {"notebook_id": "other"}, {"title": "nobody"})
        row = select_row(conn, notebooks, ["title", "notes"], {"notebook_id": "n1"})
    assert (row.title, row.notes) == ("first", 4)


class TitlesOnly(NotebookProjection):
    """A projection that handles only the opening of a notebook, never its notes."""

    handles: ClassVar[frozenset[str]] = frozenset({"NotebookOpened"})


async def test_events_a_projection_does_not_handle_cost_no_transaction_and_lose_nothing(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 1, 30)  # an opening, then thirty notes this projection ignores
    runner = ProjectionRunner(TitlesOnly(), store=jetstream_store, engine=engine, batch_size=1)
    await runner.prepare()
    everything = [s async for s in jetstream_store.read()]
    await runner.take(everything[:1], jetstream_store.codec.decode)
    assert await checkpoint_of(engine) == 1
    for stored in everything[1:]:  # one event at a time, as live commands come
        await runner.take([stored], jetstream_store.codec.decode)
    assert runner.status.position == 31  # read-your-writes sees every position at once ...
    assert await checkpoint_of(engine) == 1  # ... while no transaction was spent on them
    runner.close()

    crashed = ProjectionRunner(TitlesOnly(), store=jetstream_store, engine=engine, batch_size=1)
    assert (
        await ProjectionFeed([crashed]).catch_up() == 31
    )  # after a crash: re-read from the durable checkpoint
    assert await checkpoint_of(engine) == 31
    assert [r[2] for r in await snapshot(engine)] == [0]  # applied once, notes never counted
    await fill(jetstream_store, 1, 0)  # the next handled event carries the checkpoint along
    await ProjectionFeed([crashed]).catch_up()
    assert await checkpoint_of(engine) == 32


note_counts = Table(
    "test_note_counts",
    metadata,
    Column("notebook_id", String(36), primary_key=True),
    Column("notes", Integer, nullable=False),
)


class NoteCounts:
    """A second projection of the same events, with its own table and checkpoint."""

    name: ClassVar[str] = "test.note_counts"
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = None
    handles: ClassVar[frozenset[str]] = frozenset({"NoteAdded"})

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        match event.event:
            case NoteAdded() as note:
                if note.text == self.fail_on:
                    raise ValueError("this note cannot be counted")
                upsert_row(conn, note_counts, {"notebook_id": note.notebook_id, "notes": 1}, ["notebook_id"])


async def test_one_read_of_the_log_feeds_every_projection_and_decodes_each_event_once(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(jetstream_store, 3, 2)
    reads: list[str | None] = []
    decoded: list[int] = []
    read, decode = jetstream_store.read, jetstream_store.codec.decode

    def counting_read(**kwargs: Any) -> Any:
        reads.append(kwargs.get("subjects"))
        return read(**kwargs)

    async def counting_decode(stored: StoredEvent) -> RecordedEvent:
        decoded.append(stored.position)
        return await decode(stored)

    monkeypatch.setattr(jetstream_store, "read", counting_read)
    monkeypatch.setattr(jetstream_store.codec, "decode", counting_decode)
    runners = [
        ProjectionRunner(NotebookProjection(), store=jetstream_store, engine=engine, batch_size=4),
        ProjectionRunner(NoteCounts(), store=jetstream_store, engine=engine, batch_size=4),
    ]
    assert await ProjectionFeed(runners).catch_up() == 9
    assert len(reads) == 1  # one read of the log for both projections
    assert sorted(decoded) == list(range(1, 10))  # each event decoded once, though both use the notes
    assert [r[2] for r in await snapshot(engine)] == [2, 2, 2]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(note_counts))).scalar_one() == 3


async def test_a_projection_that_halts_is_set_aside_and_the_others_go_on(
    jetstream_store: JetStreamEventStore, engine: AsyncEngine
) -> None:
    await fill(jetstream_store, 3, 2)
    notebooks_runner = ProjectionRunner(
        NotebookProjection(), store=jetstream_store, engine=engine, batch_size=2
    )
    counts_runner = ProjectionRunner(
        NoteCounts(fail_on="t1"), store=jetstream_store, engine=engine, batch_size=2
    )
    feed = ProjectionFeed([notebooks_runner, counts_runner])
    with pytest.raises(ProjectionHalted, match="cannot apply NoteAdded at position 3"):
        await feed.catch_up()
    assert set(feed.halted) == {"test.note_counts"}
    assert notebooks_runner.status.position == 9
    assert notebooks_runner.status.healthy
    assert counts_runner.status.position == 2  # everything before the bad event, nothing past it
    assert [r[2] for r in await snapshot(engine)] == [2, 2, 2]


def test_a_feed_reads_one_filter_that_covers_every_projection_or_the_whole_log() -> None:
    assert covering_filter(["members.>", "members.org_unit.>"]) == "members.>"
    assert covering_filter(["assignments.>", "assignments.>"]) == "assignments.>"
    assert covering_filter(["assignments.>", "members.>"]) is None
    assert covering_filter(["members.>", None]) is None


def test_keep_first_and_copied_from_bind_values_as_a_plain_assignment_does() -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, text

    from fourlinks_kernel.rows import CopiedFrom, KeepFirst, insert_row, select_row, update_rows

    shapes = MetaData()
    rows = Table(
        "test_shapes",
        shapes,
        Column("row_id", String(10), primary_key=True),
        Column("state", String(20)),
        Column("parked_from", String(20)),
        Column("first_at", UtcDateTime()),
        Column("plain_at", UtcDateTime()),
    )
    engine = create_engine("sqlite://")
    shapes.create_all(engine)
    first, later = datetime(2026, 3, 1, 8, 30, tzinfo=UTC), datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:
        insert_row(conn, rows, {"row_id": "r", "state": "accepted"})
        update_rows(conn, rows, {"row_id": "r"}, {"first_at": KeepFirst(first), "plain_at": first})
        update_rows(conn, rows, {"row_id": "r"}, {"first_at": KeepFirst(later)})
        update_rows(conn, rows, {"row_id": "r"}, {"state": "parked", "parked_from": CopiedFrom("state")})
        parked = select_row(conn, rows, ["state", "parked_from"], {"row_id": "r"})
        update_rows(conn, rows, {"row_id": "r"}, {"state": CopiedFrom("parked_from", "accepted")})
        stored = conn.execute(text("SELECT first_at, plain_at, state FROM test_shapes")).one()
    assert (parked.state, parked.parked_from) == ("parked", "accepted")
    assert stored.first_at == stored.plain_at  # the same text on disk: the first time counts
    assert stored.state == "accepted"


async def test_under_means_the_unit_and_what_lies_beneath_it_alongside_other_conditions(
    engine: AsyncEngine,
) -> None:
    from fourlinks_kernel.rows import under

    places = Table(
        "test_places",
        MetaData(),
        Column("place_id", Integer, primary_key=True),
        Column("org_unit", String(100), index=True),
        Column("kind", String(10)),
    )
    paths = [
        "yuhang/s01/c001",
        "yuhang/s01/c001/g01",
        "yuhang/s01/c001/g01/b1",
        "yuhang/s01/c0010",
        "yuhang/s01/c001x",
        "yuhang/s01/c00",
        "yuhang/s01/c002",
        "yuhang/s01",
    ]
    async with engine.begin() as conn:
        await conn.run_sync(places.metadata.create_all)
        for n, path in enumerate(paths):
            kind = "b" if n % 2 else "a"
            await conn.execute(places.insert().values(place_id=n, org_unit=path, kind=kind))
        inside = await conn.execute(
            select(places.c.org_unit).where(under(places.c.org_unit, "yuhang/s01/c001/"))
        )
        of_kind = await conn.execute(
            select(places.c.org_unit).where(under(places.c.org_unit, "yuhang/s01/c001"), places.c.kind == "b")
        )
        inside_paths, kind_paths = sorted(inside.scalars()), sorted(of_kind.scalars())
        # The same statement shape again, for another unit: the cached statement binds the new one.
        again = select(places.c.org_unit).where(under(places.c.org_unit, "yuhang/s01/c002"))
        assert list((await conn.execute(again)).scalars()) == ["yuhang/s01/c002"]
        if conn.dialect.name == "sqlite":  # a search of the index, not a scan of the table
            sql = str(again.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
            steps = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(step[-1]) for step in steps)
            assert "INDEX ix_test_places_org_unit (org_unit>? AND org_unit<?)" in plan
            assert "SCAN" not in plan
    assert inside_paths == ["yuhang/s01/c001", "yuhang/s01/c001/g01", "yuhang/s01/c001/g01/b1"]
    assert kind_paths == ["yuhang/s01/c001/g01"]  # the unit's own row is of kind "a": the OR stays inside


def test_batched_writes_are_held_yet_every_read_sees_the_writes_before_it(tmp_path: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from fourlinks_kernel.rows import batched_writes, insert_row, select_row, sync_writer, update_rows

    writer = sync_writer(create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'batched.db'}"))
    metadata.create_all(writer)
    count = "SELECT count(*) FROM test_notebooks"
    with writer.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with batched_writes(conn):
            for n in range(3):
                insert_row(conn, notebooks, {"notebook_id": f"n{n}", "title": "t", "notes": 0})
                insert_row(conn, note_counts, {"notebook_id": f"n{n}", "notes": 1})
            assert raw.execute(count).fetchone()[0] == 0  # held back, not yet sent
            update_rows(conn, notebooks, {"notebook_id": "n1"}, {"notes": 5})
            assert select_row(conn, notebooks, ["notes"], {"notebook_id": "n1"}).notes == 5  # sent first
            insert_row(conn, notebooks, {"notebook_id": "n9", "title": "t", "notes": 0})
            assert raw.execute(count).fetchone()[0] == 3
        assert raw.execute(count).fetchone()[0] == 4  # the end of the block sends the rest

    def failing_batch(conn: Connection) -> None:
        with batched_writes(conn):
            insert_row(conn, notebooks, {"notebook_id": "lost", "title": "t", "notes": 0})
            raise RuntimeError("the projection failed")

    with writer.begin() as conn:
        with pytest.raises(RuntimeError):
            failing_batch(conn)
        assert conn.execute(text(count)).scalar_one() == 4  # what was held is discarded
    writer.dispose()


def test_held_writes_go_as_one_executemany_per_run_of_a_statement_on_a_table() -> None:
    from fourlinks_kernel.rows import _PendingWrites, _Plan

    calls: list[tuple[str, str, int]] = []

    class Cursor:
        def execute(self, sql: str, row: Any) -> None:
            calls.append(("execute", sql, 1))

        def executemany(self, sql: str, rows: list[Any]) -> None:
            calls.append(("executemany", sql, len(rows)))

        def close(self) -> None:
            pass

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

    insert_a, update_a = _Plan("a", "INSERT a", None, (), ()), _Plan("a", "UPDATE a", None, (), ())
    insert_b = _Plan("b", "INSERT b", None, (), ())
    pending = _PendingWrites()
    for plan in (insert_a, insert_b, insert_a, insert_b, update_a, insert_a, insert_b):
        pending.add(plan, {})
    pending.send(Connection())
    assert calls == [
        ("executemany", "INSERT a", 2),  # table a, in its order: two inserts, an update, an insert
        ("execute", "UPDATE a", 1),
        ("execute", "INSERT a", 1),
        ("executemany", "INSERT b", 3),  # table b's inserts, all one run
    ]
    assert pending.by_table == {}
