"""The JetStream event store as a process opens it, with the cipher over the shared key table."""

from __future__ import annotations

from nats.aio.client import Client

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.events import EventRegistry
from fourlinks_kernel.jetstream import JetStreamEventStore, NatsKeyStore
from fourlinks_runtime.settings import Settings


def open_event_store(
    nc: Client, settings: Settings, registry: EventRegistry
) -> tuple[JetStreamEventStore, PersonalDataCipher]:
    """The JetStream event store of `settings`, with the cipher over the shared key table."""
    cipher = PersonalDataCipher(
        master_key=settings.master_key_bytes(), keys=NatsKeyStore(nc, settings.key_bucket)
    )
    return JetStreamEventStore(nc, EventCodec(registry, cipher), settings.jetstream()), cipher
