"""Read-model database engines: SQLite (WAL, one setup for every connection) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fourlinks_kernel.rows import sqlite_pragmas


async def create_engine_with_schema(url: str, schema: str | None) -> AsyncEngine:
    """An engine whose tables live in `schema` (PostgreSQL), created if missing."""
    if schema is None:
        return create_engine(url)
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    await admin.dispose()
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": {"search_path": schema}},
    )


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block the projection."""
    if url.startswith("sqlite"):
        _make_directory_of(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sqlalchemy_event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _make_directory_of(sqlite_url: str) -> None:
    """A new SQLite file's directory (`--database-url sqlite:///new/dir/members.db` just works)."""
    database = make_url(sqlite_url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
