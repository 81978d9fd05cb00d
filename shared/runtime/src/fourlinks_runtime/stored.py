"""What the AsyncAPI document shows for each event: the message as the events stream stores it —
the envelope, the event's data with its personal fields sealed, and the headers — not the bare
event payload."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from fourlinks_kernel.crypto import ENCRYPTED_MARK
from fourlinks_kernel.envelope import EVENT_TYPE_HEADER, SCHEMA_VERSION_HEADER, Envelope
from fourlinks_kernel.events import DomainEvent

HEADERS = (
    f"Headers: `Nats-Msg-Id` (the event id: the stream drops a second message with the same id), "
    f"`{EVENT_TYPE_HEADER}` (the event type) and `{SCHEMA_VERSION_HEADER}` (its schema version). "
    "Subject: `<prefix>.<context>.<aggregate type>.<aggregate id>`, one per aggregate."
)


class Sealed(BaseModel):
    """A personal field as stored: AES-GCM under the data subject's own key (wrapped by the master
    key), base64. After the person's erasure the key is gone and the field reads "[erased]"."""

    model_config = ConfigDict(populate_by_name=True)

    sealed: str = Field(alias=ENCRYPTED_MARK, description="base64(nonce ‖ ciphertext ‖ tag)")


def stored_message(contract: type[DomainEvent]) -> type[BaseModel]:
    """The stored message of one event type: `{"envelope": ..., "data": ...}`, sealed fields typed
    as such; the description names the headers and the sealed fields."""
    sealed = set(contract.personal_fields)
    data_fields: dict[str, Any] = {
        name: (
            (Sealed | None),
            Field(default=None, description=f"sealed personal field ({field.description or name})"),
        )
        if name in sealed
        else (field.annotation, field)
        for name, field in contract.model_fields.items()
    }
    data = create_model(f"{contract.event_type}Data", __doc__=(contract.__doc__ or "").strip(), **data_fields)
    sealed_words = f"Sealed fields: {', '.join(sorted(sealed))}. " if sealed else "No personal field. "
    return create_model(
        f"{contract.event_type}Stored",
        __doc__=f"{contract.event_type} v{contract.schema_version} as stored. {sealed_words}{HEADERS}",
        envelope=(Envelope, ...),
        data=(data, ...),
    )


def correlation_in_envelope(document: dict[str, Any]) -> dict[str, Any]:
    """Point every message's correlation id at the envelope, where it is (FastStream names a
    `correlation_id` header no event carries)."""
    for value in document.values() if isinstance(document, dict) else ():
        if isinstance(value, dict):
            correlation_in_envelope(value)
    if isinstance(document.get("correlationId"), dict):
        document["correlationId"] = {
            "location": "$message.payload#/envelope/correlation_id",
            "description": "the command (or reaction) that wrote the event, shared by all it wrote",
        }
    return document
