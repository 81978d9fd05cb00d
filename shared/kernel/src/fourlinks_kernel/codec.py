"""Turns events into stored bytes and back, encrypting personal fields on the way in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

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

    async def decode(self, stored: StoredEvent, fields: frozenset[str] | None = None) -> RecordedEvent:
        """Decode stored bytes into an envelope and a validated, upcast contract; with `fields`,
        only those data fields (see `_decode_fields`)."""
        envelope, data = self.envelope_of(stored)
        if envelope.event_type != stored.event_type:
            raise CorruptEvent(
                f"event at position {stored.position} ({stored.subject}) is a {envelope.event_type} "
                f"but its headers name {stored.event_type or 'no type'}"
            )
        contract = self.registry.contract(envelope.event_type)
        if contract.erased_person_field is not None and self.cipher is not None:
            # Checked before anything is decrypted: the erasure wins even if the rest fails.
            self.cipher.forget(str(data.get(contract.erased_person_field)))
        partial = _partial_contract(contract, fields) if fields is not None else None
        if partial is not None and partial.fits(envelope.schema_version, data):
            event, erased = await self._decode_fields(partial, contract, data)
        else:
            event, erased = await self._decode_whole(contract, envelope.schema_version, data)
        return RecordedEvent(envelope, event, stored.position, stored.digest, erased)

    async def _decode_whole(
        self, contract: type[DomainEvent], schema_version: int, data: dict[str, Any]
    ) -> tuple[DomainEvent, tuple[str, ...]]:
        """Every field, opened, upcast and validated (the registry is asked again only for an older
        schema version: most events are of the current one)."""
        erased: tuple[str, ...] = ()
        if contract.personal_fields:
            data, erased = await self._open(contract, data, contract.personal_fields)
        if schema_version == contract.schema_version:
            return contract.model_validate(data, context=FROM_THE_LOG), erased
        return self.registry.load(contract.event_type, schema_version, data), erased

    async def _decode_fields(
        self, partial: _PartialContract, contract: type[DomainEvent], data: dict[str, Any]
    ) -> tuple[DomainEvent, tuple[str, ...]]:
        """The contract with only `fields` set, validated as the full contract validates them; a
        personal field among them is opened exactly as in a full decode, the others are never
        decrypted, and reading any field not asked for raises AttributeError (never a default).
        What it saves: decrypting personal fields nobody reads, and validating what is skipped."""
        opened, erased = await self._open(contract, data, partial.personal)
        values = partial.model.model_validate(opened, context=FROM_THE_LOG).__dict__
        return _constructed(contract, values), erased

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
        self, contract: type[DomainEvent], data: dict[str, Any], names: Iterable[str]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Decrypt the sealed personal fields among `names`; an erased person's read as None."""
        sealed = [name for name in names if isinstance(data.get(name), dict) and ENCRYPTED_MARK in data[name]]
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


@dataclass(frozen=True)
class _PartialContract:
    """What a decode of some fields of a contract validates them with, and which are personal."""

    model: type[BaseModel]
    personal: tuple[str, ...]
    current: int  # the contract's schema version
    known: frozenset[str]  # every field of the contract
    required: frozenset[str]  # the fields without a default

    def fits(self, schema_version: int, data: dict[str, Any]) -> bool:
        """Whether these fields can be decoded alone: the stored data has the current schema
        version (an older one is upcast whole: an upcaster may move a field) and every field the
        contract requires and none it does not know (otherwise the full decode says what is wrong)."""
        keys = data.keys()
        return schema_version == self.current and self.required <= keys <= self.known


@cache
def _partial_contract(contract: type[DomainEvent], fields: frozenset[str]) -> _PartialContract:
    """A model of just these fields of the contract (their types, constraints and defaults as
    declared there), ignoring the others; built once per contract and set of fields."""
    unknown = fields - contract.model_fields.keys()
    if unknown:
        raise ValueError(f"{contract.event_type} has no field {', '.join(sorted(unknown))}")
    known = contract.model_fields
    declared = {name: (known[name].annotation, known[name]) for name in fields}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{contract.__name__}Fields", __config__=ConfigDict(extra="ignore"), **declared
    )
    checks = contract.__pydantic_decorators__
    if contract.__pydantic_post_init__ or checks.field_validators or checks.model_validators:
        raise ValueError(f"{contract.event_type} runs its own checks: decode it whole")
    return _PartialContract(
        model,
        personal=tuple(n for n in contract.personal_fields if n in fields),
        current=contract.schema_version,
        known=frozenset(contract.model_fields),
        required=frozenset(n for n, info in contract.model_fields.items() if info.is_required()),
    )


def _constructed(contract: type[DomainEvent], values: dict[str, Any]) -> DomainEvent:
    """An instance of the contract holding only `values` (already validated). `model_construct`
    would fill every field left out with its default, so a projection reading a field it did not
    ask for would read a default instead of failing; this sets the same four attributes and no
    more."""
    event = contract.__new__(contract)
    object.__setattr__(event, "__dict__", dict(values))
    object.__setattr__(event, "__pydantic_fields_set__", set(values))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event
