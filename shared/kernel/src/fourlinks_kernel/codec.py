"""Turns events into stored bytes and back, encrypting personal fields on the way in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from fourlinks_kernel.crypto import ENCRYPTED_MARK, PersonalDataCipher
from fourlinks_kernel.envelope import (
    SIGNATURE_HEADER,
    CommandContext,
    Envelope,
    RecordedEvent,
    StoredEvent,
    StreamId,
    canonical_json,
    now_utc,
    type_headers,
)
from fourlinks_kernel.errors import CorruptEvent, PersonalDataError
from fourlinks_kernel.events import DomainEvent, EventRegistry
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.instants import FROM_THE_LOG
from fourlinks_kernel.signing import EventSigner


class _StoredBody(BaseModel):
    """The stored JSON, parsed and its envelope validated in one pass (pydantic's own JSON parser:
    half the cost of `json.loads` and a validation of the dict it made)."""

    envelope: Envelope
    data: dict[str, Any]


@dataclass(frozen=True)
class EncodedEvent:
    """An event ready to append: its id, type and exact bytes."""

    event_id: str
    event_type: str
    schema_version: int
    payload: bytes
    command_id: str
    signature: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """What a reader learns without parsing the payload: the event's type and version, and
        which service's key vouches for its bytes."""
        headers = type_headers(self.event_type, self.schema_version)
        if self.signature:
            headers[SIGNATURE_HEADER] = self.signature
        return headers


class EventCodec:
    """Canonical JSON `{"envelope": ..., "data": ...}` with personal fields sealed."""

    def __init__(
        self,
        registry: EventRegistry,
        cipher: PersonalDataCipher | None = None,
        clock: Callable[[], datetime] = now_utc,
        signer: EventSigner | None = None,
    ) -> None:
        self.registry = registry
        self.cipher = cipher
        self.clock = clock  # when events occur: the wall clock, or a simulated one (benchmark data sets)
        self.signer = signer  # the writing service's key; None writes unsigned events

    async def encode(
        self,
        event: DomainEvent,
        *,
        stream: StreamId,
        version: int,
        prev_hash: str,
        context: CommandContext,
    ) -> EncodedEvent:
        """Seal personal fields and produce the canonical stored bytes of one event."""
        self.registry.contract(event.event_type)
        envelope = Envelope(
            event_id=new_id(),
            event_type=event.event_type,
            schema_version=event.schema_version,
            context=stream.context,
            aggregate_type=stream.aggregate_type,
            aggregate_id=stream.aggregate_id,
            aggregate_version=version,
            occurred_at=context.occurred_at or self.clock(),
            actor_id=context.actor.id,
            actor_roles=context.actor.roles,
            command_id=context.command_id,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            prev_hash=prev_hash,
        )
        data = await self._seal(event)
        payload = canonical_json({"envelope": envelope.model_dump(mode="json"), "data": data})
        signature = self.signer.sign(stream.context, payload) if self.signer else ""
        return EncodedEvent(
            envelope.event_id, event.event_type, event.schema_version, payload, context.command_id, signature
        )

    def envelope_of(self, stored: StoredEvent) -> tuple[Envelope, dict[str, Any]]:
        """Parse the envelope and raw data without decrypting or validating the contract."""
        try:
            body = _StoredBody.model_validate_json(stored.payload, context=FROM_THE_LOG)
            return body.envelope, body.data
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptEvent(
                f"event at position {stored.position} ({stored.subject}) does not decode: {exc}"
            ) from exc

    def headers_of(self, stored: StoredEvent) -> dict[str, str]:
        """The type headers of a stored event, read from its envelope (copying a log whose
        headers are missing or not to be trusted)."""
        envelope, _ = self.envelope_of(stored)
        return {**type_headers(envelope.event_type, envelope.schema_version), **stored.signature_headers()}

    async def decode(self, stored: StoredEvent) -> RecordedEvent:
        """Decode stored bytes into an envelope and a validated, upcast contract."""
        envelope, data = self.envelope_of(stored)
        if envelope.event_type != stored.event_type:
            raise CorruptEvent(
                f"event at position {stored.position} ({stored.subject}) is a {envelope.event_type} "
                f"but its headers name {stored.event_type or 'no type'}"
            )
        contract = self.registry.contract(envelope.event_type)
        data, erased = await self._open(contract, data)
        event = self.registry.load(envelope.event_type, envelope.schema_version, data)
        if contract.erased_person_field is not None and self.cipher is not None:
            self.cipher.forget(str(getattr(event, contract.erased_person_field)))
        return RecordedEvent(envelope, event, stored.position, stored.digest, erased)

    async def _seal(self, event: DomainEvent) -> dict[str, Any]:
        data: dict[str, Any] = event.model_dump(mode="json")
        subject = event.data_subject_id()
        if not event.personal_fields or subject is None:
            return data
        if self.cipher is None:
            raise PersonalDataError(f"{event.event_type} carries personal data but no cipher is set")
        for name in event.personal_fields:
            if data.get(name) is not None:
                data[name] = await self.cipher.encrypt(subject=subject, field_name=name, value=data[name])
        return data

    async def _open(
        self, contract: type[DomainEvent], data: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        sealed = [
            name
            for name in contract.personal_fields
            if isinstance(data.get(name), dict) and ENCRYPTED_MARK in data[name]
        ]
        if not sealed:
            return data, ()
        subject = str(data.get(contract.data_subject_field or "", ""))
        if self.cipher is None:
            raise PersonalDataError(f"{contract.event_type} carries personal data but no cipher is set")
        opened = dict(data)
        erased: list[str] = []
        for name in sealed:
            try:
                opened[name] = await self.cipher.decrypt(subject=subject, field_name=name, sealed=data[name])
            except KeyError:
                opened[name] = None
                erased.append(name)
        return opened, tuple(erased)
