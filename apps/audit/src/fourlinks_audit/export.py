"""Evidence for an auditor: events as JSON Lines, KPI read models as CSV, and a manifest of counts
and SHA-256 digests. Personal data only when asked for (and the master key is at hand)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_audit.history import Anonymity, readable
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.cells import inert
from fourlinks_runtime.progress import Progress

UNIT_FIELDS = ("org_unit", "path", "community", "to_unit", "from_unit")
PERSONAL_COLUMNS = frozenset(
    {
        "description",
        "answer",
        "comment",
        "notes",
        "name",
        "phone",
        "contact_name",
        "contact_phone",
        "problem_description",
    }
)


async def export_events(
    store: EventStore,
    out: Path,
    *,
    since: datetime | None,
    until: datetime | None,
    unit: str | None,
    include_personal: bool,
) -> int:
    """Write events.jsonl: a time range and/or everything of the aggregates that lived in a unit
    (an anonymous item's sender withheld, as in `history`)."""
    streams = await _streams_in(store, unit) if unit else None
    count = 0
    bar = Progress("export", await store.last_position())
    anonymity = Anonymity()
    with (out / "events.jsonl").open("w", encoding="utf-8") as sink:
        async for stored in store.read():
            bar.advance()
            envelope, data = store.codec.envelope_of(stored)
            anonymity.learn(envelope.stream, envelope.event_type, data)
            if (since and envelope.occurred_at < since) or (until and envelope.occurred_at > until):
                continue
            if streams is not None and str(envelope.stream) not in streams:
                continue
            withheld = anonymity.of(envelope.stream)
            entry = readable(
                await store.codec.decode(stored), reveal_personal=include_personal, withheld=withheld
            )
            sink.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    bar.finish()
    return count


async def _streams_in(store: EventStore, unit: str) -> set[str]:
    unit = unit.strip("/")
    found: set[str] = set()
    async for stored in store.read():
        envelope, data = store.codec.envelope_of(stored)
        places = [data.get(f) for f in UNIT_FIELDS]
        if any(isinstance(p, str) and (p == unit or p.startswith(unit + "/")) for p in places):
            found.add(str(envelope.stream))
    return found


async def export_table(engine: AsyncEngine, table: Table, out: Path, *, include_personal: bool) -> int:
    """Write one read-model table as CSV (personal columns left out unless asked for)."""
    columns = [c for c in table.columns if include_personal or c.name not in PERSONAL_COLUMNS]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*columns).order_by(*table.primary_key.columns))).all()
    with (out / f"{table.name}.csv").open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow([c.name for c in columns])
        writer.writerows([inert(cell) for cell in row] for row in rows)
    return len(rows)


def write_manifest(
    out: Path, *, counts: dict[str, int], requested_by: str, include_personal: bool, **scope: Any
) -> Path:
    """manifest.json: what is in the export, how many rows each file has, and its SHA-256."""
    files = {
        path.name: {"rows": counts.get(path.name, 0), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for path in sorted(out.iterdir())
        if path.name != "manifest.json"
    }
    manifest = {
        "generated_at": datetime.now(UTC).isoformat(),
        "requested_by": requested_by,
        "personal_data_included": include_personal,
        "scope": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in scope.items()},
        "files": files,
    }
    target = out / "manifest.json"
    target.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return target
