"""Follows FOURLINKS_PROVINCE into the read model like a projection: an ordered consumer from the
checkpoint + 1, each micro-batch applied with the checkpoint in one SQL transaction. A read model
of another version is dropped and rebuilt from the stream's start; a checkpoint beyond the stream's
end (the stream went backwards) halts the follower and says so, never skips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fourlinks_kernel.projection import ProjectionStatus, checkpoints, ensure_bookkeeping
from fourlinks_kernel.rows import batched_writes, sync_writer, write_turn
from fourlinks_province.projections import figures as read_model
from fourlinks_province.projections.figures import Statement

log = structlog.get_logger(__name__)
BATCH = 500
RETRY_SECONDS = (0.5, 15.0)


class StreamRegressed(Exception):
    """The read model holds more of the stream than the stream does."""


class Follower:
    """The one writer of the province's read model."""

    def __init__(self, nc: Client, engine: AsyncEngine, *, stream: str) -> None:
        self.nc, self.engine, self.stream = nc, engine, stream
        self.status = ProjectionStatus(read_model.NAME)
        self.writer: Engine | None = None

    async def prepare(self) -> int:
        """The tables exist (rebuilt if another version made them); where the follower resumes."""
        await ensure_bookkeeping(self.engine)
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(select(checkpoints).where(checkpoints.c.name == read_model.NAME))
            ).first()
            if row is None or row.version != read_model.VERSION:
                await conn.run_sync(_rebuilt)
                position = 0
            else:
                position = int(row.position)
            if self.writer is None:
                self.writer = sync_writer(self.engine, await _search_path(conn))
        self.status.position = position
        return position

    def close(self) -> None:
        """Close the writer's connection (`prepare` opens it again)."""
        if self.writer is not None:
            self.writer.dispose()
            self.writer = None

    async def run(self) -> None:
        """Follow the stream until cancelled, through disconnects; a regression halts for good."""
        delay = RETRY_SECONDS[0]
        while self.status.halted_reason is None:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except StreamRegressed as exc:
                self.status.halted_reason = str(exc)
                log.error("province_follower_halted", reason=str(exc))
                return
            except Exception as exc:
                log.warning("province_follower_restarting", error=repr(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_SECONDS[1])

    async def _follow(self) -> None:
        position = await self.prepare()
        last = await self.last_sequence()
        if position > last:
            raise StreamRegressed(
                f"the read model is at {position} but {self.stream} ends at {last}: the stream lost "
                "messages; rebuild the read model (drop its database) once the stream is restored"
            )
        self.status.target, self.status.caught_up = last, position >= last
        writer = self.writer
        assert writer is not None, "prepare() opened it"
        async for batch in _batches(self._statements(position + 1)):
            # In a thread on a plain driver: the batch is one transaction whatever its size, and
            # the event loop keeps reading the next batch and answering queries meanwhile.
            await asyncio.to_thread(_apply_all, writer, batch)
            self.status.position = batch[-1].sequence
            self.status.applied += len(batch)
            self.status.caught_up = self.status.caught_up or self.status.position >= self.status.target

    async def last_sequence(self) -> int:
        """The stream's last sequence now."""
        info = await self.nc.jetstream().stream_info(self.stream)
        return int(info.state.last_seq)

    async def _statements(self, start: int) -> AsyncIterator[Statement]:
        sub = await self.nc.jetstream().subscribe(
            ">",
            stream=self.stream,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start),
            # No count limit: nats-py drops a message past it yet counts it as delivered, so the
            # ordered consumer never resets and the statement is lost (seen catching up ten
            # district-years). The bytes limit and the server's flow control bound what waits.
            pending_msgs_limit=0,
        )
        last = start - 1
        try:
            async for msg in sub.messages:
                sequence = msg.metadata.sequence.stream
                if sequence <= last:
                    continue  # a redelivery after the ordered consumer reset
                last = sequence
                yield Statement(msg.subject, sequence, msg.data)
        finally:
            await sub.unsubscribe()


def _rebuilt(conn: Connection) -> None:
    read_model.metadata.drop_all(conn)
    read_model.metadata.create_all(conn)
    conn.execute(checkpoints.delete().where(checkpoints.c.name == read_model.NAME))
    conn.execute(
        checkpoints.insert().values(
            name=read_model.NAME, version=read_model.VERSION, position=0, updated_at=datetime.now(UTC)
        )
    )


async def _search_path(conn: AsyncConnection) -> str | None:
    """PostgreSQL's search path of the read model's engine (its schema), for the writer's."""
    if conn.dialect.name != "postgresql":
        return None
    return str(await conn.scalar(text("SHOW search_path")))


def _apply_all(writer: Engine, batch: list[Statement]) -> None:
    """A micro-batch and the checkpoint after it, in one transaction: each table's rows in one run."""
    changes = read_model.decide(batch)
    with write_turn(writer), writer.begin() as conn:
        with batched_writes(conn):
            read_model.write(conn, changes)
        conn.execute(
            checkpoints.update()
            .where(checkpoints.c.name == read_model.NAME)
            .values(position=batch[-1].sequence, updated_at=datetime.now(UTC))
        )


async def _batches(statements: AsyncIterator[Statement]) -> AsyncIterator[list[Statement]]:
    """Whatever has arrived, up to BATCH at once, without waiting for more."""
    queue: asyncio.Queue[Statement | BaseException] = asyncio.Queue(maxsize=BATCH * 4)

    async def pump() -> None:
        try:
            async for statement in statements:
                await queue.put(statement)
        except BaseException as exc:
            await queue.put(exc)
            raise

    task = asyncio.create_task(pump())
    try:
        while True:
            taken = [await queue.get()]
            while len(taken) < BATCH and not queue.empty():
                taken.append(queue.get_nowait())
            batch = [t for t in taken if isinstance(t, Statement)]
            if batch:
                yield batch
            failed = [t for t in taken if isinstance(t, BaseException)]
            if failed:
                raise failed[0]
    finally:
        task.cancel()
