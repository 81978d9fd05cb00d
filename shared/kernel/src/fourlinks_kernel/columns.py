"""Read-model column types shared by every service's tables (kept apart from the contracts, which
load no database machinery)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from fourlinks_kernel.instants import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """A read-model column of instants: stored as UTC, always read back aware, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse a naive value: the row would hold a time that names no moment."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored as an instant")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite hands back without an offset."""
        return None if value is None else as_utc(value)
