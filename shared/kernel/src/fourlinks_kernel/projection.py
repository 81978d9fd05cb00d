"""Projections: events in log order, applied to SQL read models with the checkpoint in the same
transaction, in micro-batches. A projection halts (and says why) rather than skip an event."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Protocol, runtime_checkable

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.errors import LogRegression
from fourlinks_kernel.rows import batched_writes, sync_writer, write_turn
from fourlinks_kernel.store import EventStore

log = structlog.get_logger(__name__)

bookkeeping = MetaData()
checkpoints = Table(
    "projection_checkpoints",
    bookkeeping,
    Column("name", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("halted_reason", Text, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)
failures = Table(
    "projection_failures",
    bookkeeping,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, index=True),
    Column("position", BigInteger, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("error", Text, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
CHECKPOINT_EVERY = 1.0
"""Seconds at most between a skipped event and its durable checkpoint."""
REACHED_EVERY = 0.2
"""Seconds at least between durable checkpoints of positions a live read vouched for (API
processes wait on them; nothing was applied, so the write is all they cost)."""


async def ensure_bookkeeping(engine: AsyncEngine) -> None:
    """Create the checkpoint and failure tables once, before projections start side by side."""
    async with engine.begin() as conn:
        await conn.run_sync(bookkeeping.create_all)


class Projection(Protocol):
    """A read-model builder: a pure function of (rows, event), tables declared in `metadata`."""

    name: ClassVar[str]
    version: ClassVar[int]
    metadata: ClassVar[MetaData]
    handles: ClassVar[frozenset[str]]

    @property
    def subjects(self) -> str | tuple[str, ...] | None:
        """The subjects whose events it reads, below the prefix ("members.org_unit.>", or several);
        None: the whole log. Every event type it handles must be stored under one of them: the
        live feed asks the server for nothing else."""
        ...

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Apply one event to the read model inside the runner's transaction (synchronous: the
        runner hands a whole micro-batch to one worker thread, not one statement at a time)."""
        ...


@runtime_checkable
class BatchAware(Protocol):
    """A projection that works a micro-batch as a whole as well as event by event: it reads what
    the batch will change in one query first, and writes what it summed (counters) once at the end,
    in the batch's transaction. A batch that fails is rolled back and applied again from the start,
    so nothing of it may outlive `end_batch`."""

    def begin_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Before the batch's first event is applied."""
        ...

    def end_batch(self, conn: Connection) -> None:
        """After its last one, before the checkpoint is written."""
        ...


@runtime_checkable
class ReadsFew(Protocol):
    """A projection that reads only a few data fields of some event types: those are decoded
    without the rest (no personal field it does not read is decrypted, nothing else validated),
    and reading any other field of them raises AttributeError."""

    reads_only: ClassVar[Mapping[str, frozenset[str]]]
    """Event type -> the only data fields `apply` (and `begin_batch`) read of it."""


@runtime_checkable
class Keyed(Protocol):
    """A projection that keeps blind indexes (keyed digests) of the personal data it reads, such
    as a search index: the runner hands it the store's cipher before it applies anything, so the
    digests are computed from the decrypted values under the same index key the queries use."""

    def use_cipher(self, cipher: PersonalDataCipher) -> None:
        """Keep the cipher whose `blind_index` the projection digests with."""
        ...


@dataclass
class ProjectionStatus:
    """What readiness and metrics report about one projection."""

    name: str
    position: int = 0
    target: int = 0
    caught_up: bool = False
    halted_reason: str | None = None
    applied: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def healthy(self) -> bool:
        """Caught up with the log as it stood at start, and not halted."""
        return self.caught_up and self.halted_reason is None


class Decode(Protocol):
    """Turns a stored event into the event a projection applies (a feed decodes each one once);
    with `fields`, only those data fields of it (`EventCodec.decode`)."""

    def __call__(
        self, stored: StoredEvent, fields: frozenset[str] | None = None, /
    ) -> Awaitable[RecordedEvent]: ...


class ProjectionHalted(Exception):
    """The projection stopped on an event it cannot apply, or on a log regression."""


class ProjectionSuperseded(ProjectionHalted):
    """Another release's version of this projection owns its tables now (a rolling upgrade in one
    database, or a rollback): this process stops writing to them instead of mixing two versions'
    rows and checkpoints. Nothing is recorded in the database: the read model is not at fault."""

    def __init__(self, name: str, found: int, mine: int) -> None:
        newer = found > mine
        super().__init__(
            f"superseded: the read model {name} is at version {found}, this release builds version "
            f"{mine}; "
            + (
                "a newer release owns it. Finish the upgrade (docs/operations.md, Upgrade a service), "
                "or roll back with `fourlinks replay rebuild <service>` run by this release"
                if newer
                else "it was rebuilt by an older release (a rollback): replace this process"
            )
        )


class ProjectionRunner:
    """Applies what a feed reads to one projection; owns its transactions, checkpoint and halting.
    `feed.ProjectionFeed` reads the log for all the runners of a process at once."""

    def __init__(
        self,
        projection: Projection,
        *,
        store: EventStore,
        engine: AsyncEngine,
        batch_size: int = 500,
    ) -> None:
        self.projection = projection
        self.store = store
        cipher = getattr(getattr(store, "codec", None), "cipher", None)  # a test's fake may have none
        if isinstance(projection, Keyed) and cipher is not None:
            projection.use_cipher(cipher)
        self.engine = engine
        self.batch_size = batch_size
        self.status = ProjectionStatus(projection.name)
        self._reads_only = projection.reads_only if isinstance(projection, ReadsFew) else {}
        self.writer: Engine | None = None
        self._saved = 0  # the position the durable checkpoint holds, as far as this runner knows
        self._saved_at = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------
    async def prepare(self) -> int:
        """Create tables, rebuild on a version bump, detect log regression; returns checkpoint."""
        async with self.engine.begin() as conn:
            await conn.run_sync(bookkeeping.create_all)
            row = (
                await conn.execute(select(checkpoints).where(checkpoints.c.name == self.projection.name))
            ).first()
            if row is not None and row.version > self.projection.version:
                # An older replica (re)starting during a rolling upgrade must not undo the newer
                # release's rebuild.
                superseded = ProjectionSuperseded(self.projection.name, row.version, self.projection.version)
                self.status.halted_reason = str(superseded)
                raise superseded
            if row is None or row.version != self.projection.version:
                await self._reset(conn)
                position = 0
            else:
                await conn.run_sync(self.projection.metadata.create_all)
                position = int(row.position)
                self.status.halted_reason = row.halted_reason
            if self.writer is None:
                search_path = None
                if conn.dialect.name == "postgresql":
                    search_path = str(await conn.scalar(text("SHOW search_path")))
                self.writer = sync_writer(self.engine, search_path)
                weakref.finalize(self, self.writer.dispose)  # its connection goes with the runner
        last = await self.store.last_position()
        if position > last:
            await self._halt(
                f"log regression: checkpoint {position} is ahead of the stream's last position {last}; "
                "the event log lost writes. Restore the stream, or rebuild this projection."
            )
        self.status.position, self.status.target = position, last
        self._saved = position
        if self.status.halted_reason:
            raise ProjectionHalted(self.status.halted_reason)
        return position

    async def flush(self) -> None:
        """Make the checkpoint durable up to the position reached (skipped events included)."""
        self._saved_at = time.monotonic()
        if self.status.position > self._saved:
            await self._advance_to(self.status.position)
            self._saved = self.status.position

    def close(self) -> None:
        """Close the writer's connection (the runner can prepare again later)."""
        if self.writer is not None:
            self.writer.dispose()
            self.writer = None

    async def rebuild(self) -> None:
        """Drop the read model's tables and checkpoint; the next run replays everything."""
        async with self.engine.begin() as conn:
            await conn.run_sync(bookkeeping.create_all)
            await self._reset(conn)
        self.status = ProjectionStatus(self.projection.name)

    async def finish(self, target: int) -> None:
        """The log has been read up to `target`: the checkpoint says so, durably."""
        if self.status.position < target:
            await self._advance_to(target)
        await self.flush()
        self.status.caught_up = True

    # -- applying ---------------------------------------------------------------------------
    async def take(self, batch: list[StoredEvent], decode: Decode) -> None:
        """Apply a micro-batch read by a feed, retrying while the database is away; events before
        the checkpoint and events not handled cost no transaction."""
        await self._apply_with_retry(batch, decode)

    async def _apply_with_retry(self, batch: list[StoredEvent], decode: Decode) -> None:
        delay = 0.5
        while True:
            try:
                await self._apply_batch(batch, decode)
                return
            except TRANSIENT_DB_ERRORS as exc:
                raise_if_cancelling()  # a driver may turn a cancellation into a connection error
                log.warning(
                    "projection_db_unavailable", projection=self.projection.name, error=type(exc).__name__
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except ProjectionSuperseded as superseded:
                self.status.halted_reason = str(superseded)
                raise
            except ProjectionHalted:
                raise
            except Exception:
                raise_if_cancelling()
                await self._apply_one_by_one(batch, decode)
                return

    async def _apply_one_by_one(self, batch: list[StoredEvent], decode: Decode) -> None:
        for stored in batch:
            try:
                await self._apply_batch([stored], decode)
            except (*TRANSIENT_DB_ERRORS, ProjectionSuperseded):
                raise
            except Exception as exc:
                await self._record_failure(stored, exc)
                raise ProjectionHalted(self.status.halted_reason) from exc

    async def _apply_batch(self, batch: list[StoredEvent], decode: Decode) -> None:
        handles = self.projection.handles
        unseen = [s for s in batch if s.position > self.status.position]
        if not unseen:
            return
        # An event whose headers name no type is decoded, so it halts the projection instead of
        # passing unseen.
        wanted = [s.event_type in handles or not s.event_type for s in unseen]
        if not any(wanted):
            await self._skip_to(unseen[-1].position)
            return
        few = self._reads_only
        decoded = [
            (s, await decode(s, few.get(s.event_type)) if want else None)
            for s, want in zip(unseen, wanted, strict=True)
        ]
        assert self.writer is not None, "prepare() comes first"
        last, applied = await asyncio.to_thread(self._write_in_thread, self.writer, decoded)
        if applied:
            self.status.position, self.status.applied = last, self.status.applied + applied
            self._saved = last  # the transaction wrote the checkpoint, skipped events included

    async def _skip_to(self, position: int) -> None:
        """Nothing here for this projection: the position moves on without a transaction.

        Read-your-writes waits on `status.position`, so it advances now; the durable checkpoint
        follows with the next event applied, or within CHECKPOINT_EVERY seconds. Replaying events
        this projection does not handle changes nothing, so a checkpoint left behind by a crash
        costs a re-read, never a double apply."""
        self.status.position = position
        if time.monotonic() - self._saved_at >= CHECKPOINT_EVERY:
            await self.flush()

    def reach(self, position: int) -> None:
        """Every event this projection reads, up to `position`, is applied: a live read vouched
        for the rest of the log. The position moves there without applying anything (never
        backwards; the mark is the stream's last position, so never past the log's end either);
        `keep_reached` makes it durable."""
        self.status.position = max(self.status.position, position)

    async def keep_reached(self) -> None:
        """The durable checkpoint follows a reached position, at most every REACHED_EVERY seconds
        (API processes wait on it), and not at all while it has not moved."""
        if self.status.position <= self._saved or time.monotonic() - self._saved_at < REACHED_EVERY:
            return
        try:
            await self.flush()
        except TRANSIENT_DB_ERRORS as exc:  # the next mark writes it
            raise_if_cancelling()
            name = self.projection.name
            log.warning("projection_db_unavailable", projection=name, error=type(exc).__name__)

    def _write_in_thread(
        self, writer: Engine, decoded: list[tuple[StoredEvent, RecordedEvent | None]]
    ) -> tuple[int, int]:
        """The whole micro-batch in one transaction on the synchronous engine."""
        with write_turn(writer), writer.begin() as conn:
            position = self._owned_checkpoint(conn)
            fresh = [(s, event) for s, event in decoded if s.position > position]
            if not fresh:
                return position, 0
            with batched_writes(conn):  # rows go to the database in runs, not one at a time
                self._apply_all(conn, [event for _, event in fresh if event is not None])
            self._write_checkpoint(conn, fresh[-1][0].position)
        if any(event is not None and erases_someone(event) for _, event in fresh):
            clear_the_wal(writer)
        return fresh[-1][0].position, len(fresh)

    def _apply_all(self, conn: Connection, events: list[RecordedEvent]) -> None:
        batch_aware = self.projection if isinstance(self.projection, BatchAware) else None
        if batch_aware is not None:
            batch_aware.begin_batch(conn, events)
        for event in events:
            self.projection.apply(conn, event)
        if batch_aware is not None:
            batch_aware.end_batch(conn)

    def _owned_checkpoint(self, conn: Connection) -> int:
        """The checkpoint, locked for this transaction, once the read model is still this
        release's version of it."""
        query = select(checkpoints.c.position, checkpoints.c.version).where(
            checkpoints.c.name == self.projection.name
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # one writer per projection, whatever the replicas
        position, version = conn.execute(query).one()
        if version != self.projection.version:
            raise ProjectionSuperseded(self.projection.name, version, self.projection.version)
        return int(position)

    async def _advance_to(self, position: int) -> None:
        async with self.engine.begin() as conn:
            if position > await conn.run_sync(self._owned_checkpoint):
                await conn.run_sync(self._write_checkpoint, position)
        self.status.position = max(self.status.position, position)

    def _write_checkpoint(self, conn: Connection, position: int) -> None:
        conn.execute(
            checkpoints.update()
            .where(checkpoints.c.name == self.projection.name)
            .values(position=position, updated_at=datetime.now(UTC))
        )

    async def _reset(self, conn: AsyncConnection) -> None:
        await conn.run_sync(self.projection.metadata.drop_all)
        await conn.run_sync(self.projection.metadata.create_all)
        await conn.execute(checkpoints.delete().where(checkpoints.c.name == self.projection.name))
        await conn.execute(failures.delete().where(failures.c.name == self.projection.name))
        await conn.execute(
            checkpoints.insert().values(
                name=self.projection.name,
                version=self.projection.version,
                position=0,
                updated_at=datetime.now(UTC),
            )
        )
        log.info("projection_reset", projection=self.projection.name, version=self.projection.version)

    async def _record_failure(self, stored: StoredEvent, exc: Exception) -> None:
        what = stored.event_type or "an untyped event"
        reason = f"cannot apply {what} at position {stored.position}: {type(exc).__name__}: {exc}"
        async with self.engine.begin() as conn:
            await conn.execute(
                failures.insert().values(
                    name=self.projection.name,
                    position=stored.position,
                    event_type=stored.event_type,
                    error=reason,
                    recorded_at=datetime.now(UTC),
                )
            )
            await conn.execute(
                checkpoints.update()
                .where(checkpoints.c.name == self.projection.name)
                .values(halted_reason=reason)
            )
        self.status.halted_reason = reason

    async def _halt(self, reason: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                checkpoints.update()
                .where(checkpoints.c.name == self.projection.name)
                .values(halted_reason=reason)
            )
        self.status.halted_reason = reason
        raise ProjectionHalted(reason) from LogRegression(reason)


def erases_someone(recorded: RecordedEvent) -> bool:
    """Whether the event destroyed a person's key (their fields just left the read models)."""
    return type(recorded.event).erased_person_field is not None


def clear_the_wal(writer: Engine) -> None:
    """SQLite: write the write-ahead log back into the database file (secure_delete zeroes freed
    pages there) and truncate it, so an erased person's former rows linger in neither file."""
    if writer.dialect.name != "sqlite":
        return
    with write_turn(writer), writer.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def raise_if_cancelling() -> None:
    """Re-raise a cancellation that a database driver absorbed (as a connection error, or mid-commit)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
