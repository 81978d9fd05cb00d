"""A SQLite read model rebuilt into a fresh file beside the old one, and put in its place whole:
the old read model stays intact until the new one is complete (a rebuild that dies leaves it as it
was), and the fresh file is written with settings only a rebuild can afford."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_runtime.engines import create_engine

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

    def engine(self) -> AsyncEngine:
        """An engine on the file being built: no disk sync per transaction (the file is nobody's
        until it is swapped in: a crash only costs the rebuild) and a larger page cache."""
        engine = create_engine(f"sqlite+aiosqlite:///{self.building}")
        sqlalchemy_event.listen(engine.sync_engine, "connect", _rebuild_pragmas)
        return engine

    def discard(self) -> None:
        """Forget an earlier rebuild that did not finish."""
        for path in _with_side_files(self.building):
            path.unlink(missing_ok=True)

    async def finish(self, engine: AsyncEngine) -> None:
        """Fold the write-ahead log into the file, close it, and swap it in."""
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()
        self.swap_in()

    def swap_in(self) -> None:
        """Put the finished file in the old one's place in one rename. The old file's write-ahead
        log goes first: left beside the new file, SQLite would replay it into the new one."""
        _durable(self.building)
        for side in _with_side_files(self.target)[1:]:
            side.unlink(missing_ok=True)
        os.replace(self.building, self.target)
        _durable(self.target.parent)


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
