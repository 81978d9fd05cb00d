"""The history of one thing: every event of an aggregate, or everything that touched a contact.

An auditor reads it, so an anonymous item's sender is shown to them as "anonymous"
(`fourlinks_contracts.visibility`: who sent it is its community's secretaries' alone), in every
event of its aggregate, revealed personal data or not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fourlinks_contracts import visibility
from fourlinks_contracts.assignments import TaskRaised, TaskSource
from fourlinks_feedback.domain.feedback import Feedback
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent, StreamId
from fourlinks_kernel.store import EventStore

SEALED = "[sealed]"
ERASED = "[erased]"
ANONYMOUS = "anonymous"
WISHES_CARRIED_BY = frozenset({"FeedbackSubmitted", "FeedbackRouted", "TaskRaised"})
"""The events that say whether an item (and the task raised from it) is anonymous."""
SENDER_FIELDS = frozenset(
    name
    for fields in (visibility.FEEDBACK_ITEM, visibility.TASK_RAISED_LINE)
    for name, guard in fields.items()
    if guard is visibility.Guard.ANONYMOUS
) | {"data_subject"}
"""The fields naming who sent an anonymous item: its household or enterprise, the person who
submitted it, and the data subject whose key seals its words (the same household)."""


@dataclass
class Anonymity:
    """The ids each anonymous aggregate withholds from an auditor, learnt from the events that carry
    the wish as the log is read, and withheld in every event of that aggregate. A task raised from
    an anonymous item withholds them too, though raised before tasks carried the wish."""

    withheld: dict[str, frozenset[str]] = field(default_factory=dict)  # by aggregate id

    def learn(self, stream: StreamId, event_type: str, data: Mapping[str, Any]) -> None:
        """Note who an event of an anonymous item names as its sender (nothing for any other)."""
        if event_type not in WISHES_CARRIED_BY:
            return
        named = {str(data[name]) for name in SENDER_FIELDS if data.get(name) and data.get("anonymous")}
        if event_type == "TaskRaised":  # the item it was raised from
            named |= self.withheld.get(str(data.get("source_ref")), frozenset())
        if named - {stream.aggregate_id}:
            self.withheld[stream.aggregate_id] = self.of(stream) | (named - {stream.aggregate_id})

    def of(self, stream: StreamId) -> frozenset[str]:
        """The ids withheld in the events of one aggregate."""
        return self.withheld.get(stream.aggregate_id, frozenset())


def readable(
    recorded: RecordedEvent, *, reveal_personal: bool, withheld: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """One event as an auditor reads it: who, when, why, what; personal fields shown only when
    revealed, and shown as erased where the person's key is gone; an anonymous item's sender
    (the `withheld` ids) as "anonymous"."""
    envelope = recorded.envelope
    data = recorded.event.model_dump(mode="json")
    for name in recorded.event.personal_fields:
        if name in recorded.erased_fields:
            data[name] = ERASED
        elif not reveal_personal and data.get(name) is not None:
            data[name] = SEALED
    data = {name: ANONYMOUS if isinstance(v, str) and v in withheld else v for name, v in data.items()}
    return {
        "position": recorded.position,
        "type": envelope.event_type,
        "aggregate": str(envelope.stream),
        "version": envelope.aggregate_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "actor": ANONYMOUS if envelope.actor_id in withheld else envelope.actor_id,
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
    """Every event of one aggregate, in order (an anonymous item's sender withheld, a task's as
    its feedback says, however old the task)."""
    loaded = await store.load(stream)
    anonymity = Anonymity()
    for raised in (r.event for r in loaded.events if isinstance(r.event, TaskRaised)):
        if raised.source == TaskSource.FEEDBACK and raised.source_ref:
            source = Feedback.stream_of(raised.source_ref)
            for recorded in (await store.load(source)).events:
                anonymity.learn(source, recorded.envelope.event_type, recorded.event.model_dump(mode="json"))
    entries = []
    for recorded in loaded.events:
        anonymity.learn(stream, recorded.envelope.event_type, recorded.event.model_dump(mode="json"))
        entries.append(readable(recorded, reveal_personal=reveal_personal, withheld=anonymity.of(stream)))
    return entries


async def touching(
    store: EventStore, thing_id: str, *, reveal_personal: bool
) -> AsyncIterator[dict[str, Any]]:
    """Every event, in any service, whose aggregate or data names `thing_id`; not an anonymous
    item's events that name it only as their sender (who sent it is not the auditor's to learn)."""
    needle = thing_id.encode()
    anonymity = Anonymity()
    async for stored in store.read():
        if stored.event_type in WISHES_CARRIED_BY:
            envelope, data = store.codec.envelope_of(stored)
            anonymity.learn(envelope.stream, envelope.event_type, data)
        if needle in stored.payload and _names(store, stored, thing_id):
            recorded = await store.codec.decode(stored)
            withheld = anonymity.of(recorded.envelope.stream)
            if thing_id not in withheld:
                yield readable(recorded, reveal_personal=reveal_personal, withheld=withheld)


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
