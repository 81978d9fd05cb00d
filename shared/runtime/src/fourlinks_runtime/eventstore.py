"""The JetStream event store as a process opens it, with the cipher over the shared key table and,
for a service, its event signing key."""

from __future__ import annotations

import structlog
from nats.aio.client import Client

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import PersonalDataCipher
from fourlinks_kernel.events import EventRegistry
from fourlinks_kernel.jetstream import JetStreamEventStore, NatsKeyStore
from fourlinks_kernel.signing import EventSigner
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)


def open_event_store(
    nc: Client, settings: Settings, registry: EventRegistry, *, service: str | None = None
) -> tuple[JetStreamEventStore, PersonalDataCipher]:
    """The JetStream event store of `settings`, with the cipher over the shared key table; the
    events `service` appends are signed with its key (a reader needs none)."""
    cipher = PersonalDataCipher(
        master_key=settings.master_key_bytes(), keys=NatsKeyStore(nc, settings.key_bucket)
    )
    codec = EventCodec(registry, cipher, signer=signer_of(settings, service) if service else None)
    return JetStreamEventStore(nc, codec, settings.jetstream()), cipher


def signer_of(settings: Settings, service: str) -> EventSigner | None:
    """The service's signing key; None (and a warning: `audit verify` will report its events
    unsigned) where the deployment configures none."""
    seed = settings.signing_seed(service)
    if seed is None:
        log.warning("events_unsigned", service=service, key_file=str(settings.signing_key_path(service)))
        return None
    return EventSigner.from_seed(service, seed)
