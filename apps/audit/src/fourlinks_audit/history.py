"""The history of one thing: every event of an aggregate, or everything that touched a contact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent, StreamId
from fourlinks_kernel.store import EventStore

SEALED = "[sealed]"
ERASED = "[erased]"


def readable(recorded: RecordedEvent, *, reveal_personal: bool) -> dict[str, Any]:
    """One event as an auditor reads it: who, when, why, what; personal fields shown only when
    revealed, and shown as erased where the person's key is gone."""
    envelope = recorded.envelope
    data = recorded.event.model_dump(mode="json")
    for name in recorded.event.personal_fields:
        if name in recorded.erased_fields:
            data[name] = ERASED
        elif not reveal_personal and data.get(name) is not None:
            data[name] = SEALED
    return {
        "position": recorded.position,
        "type": envelope.event_type,
        "aggregate": str(envelope.stream),
        "version": envelope.aggregate_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "actor": envelope.actor_id,
        "roles": list(envelope.actor_roles),
        "command_id": envelope.command_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "digest": recorded.digest,
        "data": data,
    }


async def aggregate_history(
    store: EventStore, stream: StreamId, *, reveal_personal: bool
) -> list[dict[str, Any]]:
    """Every event of one aggregate, in order."""
    loaded = await store.load(stream)
    return [readable(r, reveal_personal=reveal_personal) for r in loaded.events]


async def touching(
    store: EventStore, thing_id: str, *, reveal_personal: bool
) -> AsyncIterator[dict[str, Any]]:
    """Every event, in any service, whose aggregate or data names `thing_id`."""
    needle = thing_id.encode()
    async for stored in store.read():
        if needle in stored.payload and _names(store, stored, thing_id):
            yield readable(await store.codec.decode(stored), reveal_personal=reveal_personal)


def _names(store: EventStore, stored: StoredEvent, thing_id: str) -> bool:
    envelope, data = store.codec.envelope_of(stored)
    return envelope.aggregate_id == thing_id or thing_id in _values(data)


def _values(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set().union(*(_values(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_values(v) for v in data)) if data else set()
    return {data} if isinstance(data, str) else set()


def as_json_lines(entries: list[dict[str, Any]]) -> str:
    """JSON Lines, UTF-8, one event a line."""
    return "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)


async def reapply_erasures(store: EventStore, cipher: PersonalDataCipher) -> int:
    """Destroy every key the history says was erased: run after restoring the key table from a
    backup older than an erasure, so nobody comes back."""
    registry = store.codec.registry
    erasures = {
        kind: field
        for kind in registry.event_types()
        if (field := registry.contract(kind).erased_person_field) is not None
    }
    erased = 0
    async for stored in store.read():
        field = erasures.get(stored.event_type)
        if field is not None:
            _, data = store.codec.envelope_of(stored)
            await cipher.erase(str(data[field]))
            erased += 1
    return erased
