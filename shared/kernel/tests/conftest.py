"""The event-store contract suite runs on both implementations through the `store` fixture."""

from __future__ import annotations

import base64
import os

import pytest
from nats.aio.client import Client

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.jetstream import JetStreamEventStore, JetStreamSettings, NatsKeyStore
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.store import EventStore

from .sample import sample_registry

MASTER = base64.b64encode(os.urandom(32)).decode()


def master_key() -> bytes:
    return base64.b64decode(MASTER)


@pytest.fixture
def memory_store() -> InMemoryEventStore:
    """An empty in-memory store."""
    cipher = PersonalDataCipher(master_key=master_key(), keys=InMemoryKeyStore())
    return InMemoryEventStore(EventCodec(sample_registry(), cipher))


@pytest.fixture
def jetstream_store(nc: Client, jetstream_settings: JetStreamSettings) -> JetStreamEventStore:
    """A JetStream store on a fresh stream of the test server."""
    settings = jetstream_settings
    cipher = PersonalDataCipher(master_key=master_key(), keys=NatsKeyStore(nc, settings.key_bucket))
    return JetStreamEventStore(nc, EventCodec(sample_registry(), cipher), settings)


@pytest.fixture(params=["memory", "jetstream"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """An empty event store of each kind, with a cipher over a key table of the same kind."""
    chosen: EventStore = request.getfixturevalue(f"{request.param}_store")
    return chosen
