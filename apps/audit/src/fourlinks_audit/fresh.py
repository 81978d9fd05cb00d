"""A read model rebuilt beside the old one and put in its place whole: the old read model stays
intact until the new one is complete (a rebuild that dies leaves it as it was). On SQLite, a fresh
file written with settings only a rebuild can afford, renamed into place; on PostgreSQL, a schema
of its own whose tables take the old ones' places in one transaction."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, insert, select, text
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fourlinks_kernel.projection import Projection, bookkeeping, checkpoints, failures
from fourlinks_runtime.engines import create_engine, create_engine_with_schema
from fourlinks_runtime.policies import CHECKPOINT_PREFIX

SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_file_of(url: str) -> Path | None:
    """The file a SQLite URL names, or None for another database (or an in-memory one)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return None if parsed.database.startswith("file:") else Path(parsed.database)


@dataclass(frozen=True)
class FreshFile:
    """Where a rebuild of `target` is built (`<target>.rebuilding`) and how it takes its place."""

    target: Path

    @property
    def building(self) -> Path:
        """The file being built."""
        return self.target.with_name(self.target.name + ".rebuilding")

    @property
    def where(self) -> str:
        return str(self.target)

    async def exists(self) -> bool:
        """An earlier rebuild left its file (`--resume` continues it)."""
        return self.building.exists()

    async def engine(self) -> AsyncEngine:
        """An engine on the file being built: no disk sync per transaction (the file is nobody's
        until it is swapped in: a crash only costs the rebuild) and a larger page cache."""
        engine = create_engine(f"sqlite+aiosqlite:///{self.building}")
        sqlalchemy_event.listen(engine.sync_engine, "connect", _rebuild_pragmas)
        return engine

    async def discard(self) -> None:
        """Forget an earlier rebuild that did not finish."""
        for path in _with_side_files(self.building):
            path.unlink(missing_ok=True)

    async def finish(self, engine: AsyncEngine, projections: list[Projection]) -> None:
        """Fold the write-ahead log into the file, close it, and swap it in (the projections'
        tables and checkpoints are all in it)."""
        await self._keep_policy_checkpoints(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()
        self.swap_in()

    async def _keep_policy_checkpoints(self, engine: AsyncEngine) -> None:
        """The policies' checkpoints go with the file: a rebuild replays what the read models
        hold, never what the policies reacted to (without its checkpoint a policy would go
        through the whole log again)."""
        if not self.target.exists():
            return
        live = create_engine(f"sqlite+aiosqlite:///{self.target}")
        query = select(checkpoints).where(checkpoints.c.name.startswith(CHECKPOINT_PREFIX))
        try:
            async with live.connect() as conn:
                rows = [dict(row) for row in (await conn.execute(query)).mappings()]
        except DatabaseError:  # no checkpoint table in the old file (or no database): nothing to keep
            rows = []
        finally:
            await live.dispose()
        if rows:
            async with engine.begin() as conn:
                await conn.run_sync(bookkeeping.create_all)
                await conn.execute(
                    checkpoints.delete().where(checkpoints.c.name.in_([r["name"] for r in rows]))
                )
                await conn.execute(checkpoints.insert(), rows)

    def swap_in(self) -> None:
        """Put the finished file in the old one's place in one rename. The old file's write-ahead
        log goes first: left beside the new file, SQLite would replay it into the new one."""
        _durable(self.building)
        for side in _with_side_files(self.target)[1:]:
            side.unlink(missing_ok=True)
        os.replace(self.building, self.target)
        _durable(self.target.parent)


@dataclass(frozen=True)
class FreshSchema:
    """Where a PostgreSQL rebuild is built (`<schema>_rebuilding`, beside the read model's schema,
    or `fourlinks_rebuilding` beside the connection's own) and how its tables take the old ones'
    places: in one transaction, with the projections' checkpoints, so readers see the old read
    model or the new one, never half of one."""

    url: str
    schema: str | None

    @property
    def building(self) -> str:
        """The schema being built."""
        return f"{self.schema}_rebuilding" if self.schema else "fourlinks_rebuilding"

    @property
    def where(self) -> str:
        return f"schema {self.schema}" if self.schema else "its schema"

    async def exists(self) -> bool:
        """An earlier rebuild left its schema (`--resume` continues it)."""
        engine = create_engine(self.url)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                    {"name": self.building},
                )
        finally:
            await engine.dispose()
        return found is not None

    async def discard(self) -> None:
        """Forget an earlier rebuild that did not finish."""
        engine = create_engine(self.url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.building}" CASCADE'))
        finally:
            await engine.dispose()

    async def engine(self) -> AsyncEngine:
        """An engine whose tables (and checkpoints) are the schema being built."""
        return await create_engine_with_schema(self.url, self.building)

    async def finish(self, engine: AsyncEngine, projections: list[Projection]) -> None:
        """Move the rebuilt tables into the read model's schema in place of the old ones."""
        await engine.dispose()
        target = await create_engine_with_schema(self.url, self.schema)
        try:
            async with target.begin() as conn:
                await self._swap(conn, projections)
        finally:
            await target.dispose()

    async def _swap(self, conn: AsyncConnection, projections: list[Projection]) -> None:
        await conn.run_sync(bookkeeping.create_all)
        schema = self.schema or str(await conn.scalar(text("SELECT current_schema()")))
        tables = sorted({table.name for p in projections for table in p.metadata.sorted_tables})
        for table in tables:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{schema}"."{table}" CASCADE'))
            await conn.execute(text(f'ALTER TABLE "{self.building}"."{table}" SET SCHEMA "{schema}"'))
        names = [p.name for p in projections]
        for kept in (checkpoints, failures):
            built = kept.to_metadata(MetaData(), schema=self.building)
            await conn.execute(kept.delete().where(kept.c.name.in_(names)))
            columns = [c.name for c in kept.columns if not c.primary_key or c.name == "name"]
            rows = select(*(built.c[c] for c in columns)).where(built.c.name.in_(names))
            await conn.execute(insert(kept).from_select(columns, rows))
        await conn.execute(text(f'DROP SCHEMA "{self.building}" CASCADE'))


FreshPlace = FreshFile | FreshSchema
"""Where a rebuild is built beside the read model it replaces."""


def fresh_place(url: str, schema: str | None) -> FreshPlace | None:
    """The fresh place for a read model at this (async) URL, or None for an in-memory one."""
    if url.startswith("postgresql"):
        return FreshSchema(url, schema)
    target = sqlite_file_of(url)
    return FreshFile(target) if target is not None else None


def _rebuild_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-32768")  # 32 MiB
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _with_side_files(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)]


def _durable(path: Path) -> None:
    """fsync a file, or a directory after a rename in it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
