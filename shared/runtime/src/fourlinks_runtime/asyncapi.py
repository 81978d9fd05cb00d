"""The AsyncAPI document of a service: the events it publishes and its policies, described by a
FastStream broker that is never started (policies ride the service's feed: `policies`)."""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.security import BaseSecurity, SASLPlaintext

from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.natsconn import connect_options
from fourlinks_runtime.policies import durable_name
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.stored import stored_message


def build_broker(definition: ServiceDefinition, settings: Settings) -> NatsBroker:
    """A FastStream broker that describes the published events (and, with `document_policies`,
    the policies) for the AsyncAPI document; it is never started."""
    options = connect_options(settings, name=f"fourlinks-{definition.name}-docs")
    servers, user, password, tls = (options.pop(k, None) for k in ("servers", "user", "password", "tls"))
    security: BaseSecurity | None = None
    if user is not None:  # FastStream takes credentials and TLS as a security object
        security = SASLPlaintext(username=user, password=password or "", ssl_context=tls)
    elif tls is not None:
        security = BaseSecurity(ssl_context=tls)
    broker = NatsBroker(
        servers,
        logger=logging.getLogger("fourlinks.faststream"),
        security=security,
        **{k: v for k, v in options.items() if k != "name"},
    )
    stream = JStream(settings.stream, declare=False)
    for contract in definition.publishes:
        broker.publisher(
            f"{settings.subject_prefix}.{definition.name}.*.*",
            title=contract.event_type,
            description=(contract.__doc__ or "").strip(),
            schema=stored_message(contract),
            stream=stream,
        )
    return broker


def document_policies(definition: ServiceDefinition, settings: Settings, broker: NatsBroker) -> None:
    """Each policy as a subscription in the AsyncAPI document: what it reads, named after it."""
    for policy in definition.policies:
        broker.subscriber(
            policy.subject,
            stream=JStream(settings.stream, declare=False),
            durable=durable_name(definition.name, policy),
            pull_sub=PullSub(batch_size=1),
            max_workers=policy.concurrency,
            ack_policy=AckPolicy.MANUAL,
            title=f"{definition.name}.{policy.name}",
            description=policy.description,
        )(_documented)


async def _documented(message: NatsMessage) -> None:  # pragma: no cover - documentation only
    return None
