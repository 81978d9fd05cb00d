"""Order-independent digests of read models, to compare two rebuilds byte for byte.

Each row is turned into canonical JSON (sorted keys; datetimes as UTC ISO-8601, a naive one taken
as UTC; dates ISO; floats to 6 decimals; booleans and nulls as JSON), the lines of a table are
sorted, and the table digest is the SHA-256 of them joined by newlines. The read model's digest is
the SHA-256 of "<table> <digest>" lines in table-name order. SQLite and PostgreSQL give the same
digest for the same history.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return round(float(value), 6)
    return value


async def table_digests(engine: AsyncEngine, metadata: MetaData) -> dict[str, tuple[int, str]]:
    """Row count and digest of every table of a read model."""
    result: dict[str, tuple[int, str]] = {}
    async with engine.connect() as conn:
        for table in sorted(metadata.tables.values(), key=lambda t: t.name):
            rows = (await conn.execute(select(table))).mappings().all()
            lines = sorted(
                json.dumps({k: _normal(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False)
                for row in rows
            )
            result[table.name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return result


def overall(digests: dict[str, tuple[int, str]]) -> str:
    """One digest for a whole read model."""
    lines = [f"{name} {digest}" for name, (_, digest) in sorted(digests.items())]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
