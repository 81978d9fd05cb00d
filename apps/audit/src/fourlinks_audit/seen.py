"""How far others have seen the log reach: the position each service's read model has applied and
each durable consumer has been delivered. A log that now ends before any of them went backwards —
its tail cut off, or an older copy of the store restored — even after the last signed checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from nats.aio.client import Client
from nats.errors import Error as NatsError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from fourlinks_audit.services import READ_MODELS
from fourlinks_audit.verify import Finding
from fourlinks_kernel.projection import checkpoints
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.settings import Settings

API_SECONDS = 5.0


async def read_model_positions(settings: Settings) -> dict[str, int]:
    """`<service> read model <projection>` → the last position it applied, for every read model
    this configuration reaches (a missing database or table is skipped: nothing seen there)."""
    seen: dict[str, int] = {}
    for service in sorted(READ_MODELS):
        url, schema = settings.read_model_database(service)
        if _no_sqlite_file(url):
            continue  # opening it would create an empty file
        engine = await create_engine_with_schema(url, schema)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(checkpoints.c.name, checkpoints.c.position))).all()
        except (OperationalError, ProgrammingError, OSError):
            rows = []
        finally:
            await engine.dispose()
        seen.update({f"{service} read model {name}": int(position) for name, position in rows})
    return seen


def _no_sqlite_file(url: str) -> bool:
    database = make_url(url).database
    return url.startswith("sqlite") and (not database or not Path(database).exists())


async def consumer_positions(nc: Client, stream: str) -> dict[str, int]:
    """`consumer <durable>` → the last stream position delivered to it (none when the server
    refuses the listing: the NATS user may not read it)."""
    try:
        reply = await nc.request(f"$JS.API.CONSUMER.LIST.{stream}", b"{}", timeout=API_SECONDS)
    except (NatsError, TimeoutError):
        return {}
    listing = json.loads(reply.data)
    return {
        f"consumer {consumer['name']}": int(consumer["delivered"]["stream_seq"])
        for consumer in listing.get("consumers") or []
        if consumer.get("config", {}).get("durable_name")
    }


def went_back(log_end: int, seen: Mapping[str, int]) -> list[Finding]:
    """A finding for each reader that has seen a position past the log's end."""
    return [
        Finding(
            log_end + 1,
            who,
            "rewound",
            f"the log ends at position {log_end:,} but the {who} has seen position {position:,}: "
            f"positions {log_end + 1:,}..{position:,} are gone (cut off, or an older copy of the store "
            "was restored), even if no signed checkpoint covered them",
        )
        for who, position in sorted(seen.items())
        if position > log_end
    ]
