"""Policies as FastStream subscribers: one subscriber configuration for running and for the
AsyncAPI document, manual acks, nak with a growing delay (never term)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.security import BaseSecurity, SASLPlaintext

from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.errors import DomainError
from fourlinks_runtime.definition import Policy, ServiceDefinition
from fourlinks_runtime.logs import bind_context, clear_context
from fourlinks_runtime.natsconn import connect_options
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.stored import stored_message

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

log = structlog.get_logger(__name__)


def build_broker(definition: ServiceDefinition, settings: Settings, *, running: bool = False) -> NatsBroker:
    """The FastStream broker: policy subscribers and the AsyncAPI description of published events.

    Running, it injects nothing and decodes nothing: a handler gets the message as received. A
    policy's consumer receives every event of the aggregates it watches and acknowledges all but
    one type unread, and FastStream's dependency injection resolved the message argument in a
    worker thread for each (and parsed each payload as JSON): about half a millisecond of CPU an
    event. The AsyncAPI document is built with injection on, from the same subscriptions."""
    options = connect_options(settings, name=f"fourlinks-{definition.name}-policies")
    servers, user, password, tls = (options.pop(k, None) for k in ("servers", "user", "password", "tls"))
    security: BaseSecurity | None = None
    if user is not None:  # FastStream takes credentials and TLS as a security object
        security = SASLPlaintext(username=user, password=password or "", ssl_context=tls)
    elif tls is not None:
        security = BaseSecurity(ssl_context=tls)
    broker = NatsBroker(
        servers,
        apply_types=not running,
        logger=logging.getLogger("fourlinks.faststream"),
        security=security,
        **{k: v for k, v in options.items() if k != "name"},
    )
    if running:  # publishing goes through the event store: these only document what is stored
        return broker
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


def durable_name(service: str, policy: Policy) -> str:
    """The durable consumer of a service's policy (created by `fourlinks nats init --consumers`)."""
    return f"{service}-{policy.name}-v{policy.version}"


def start_policies(runtime: ServiceRuntime) -> NatsBroker:
    """The broker with every policy of the service subscribed (not yet started)."""
    broker = build_broker(runtime.definition, runtime.settings, running=True)
    for policy in runtime.definition.policies:
        _subscribe(broker, runtime.definition, runtime.settings, policy, _policy_handler(runtime, policy))
    return broker


def document_policies(definition: ServiceDefinition, settings: Settings, broker: NatsBroker) -> None:
    """Subscribe every policy with a handler that does nothing: for the AsyncAPI document only."""
    for policy in definition.policies:
        _subscribe(broker, definition, settings, policy, _documented)


async def _documented(message: NatsMessage) -> None:  # pragma: no cover - documentation only
    return None


def _subscribe(
    broker: NatsBroker,
    definition: ServiceDefinition,
    settings: Settings,
    policy: Policy,
    handler: Callable[[NatsMessage], Awaitable[None]],
) -> None:
    # The durable consumer (created by `fourlinks nats init --consumers`) filters by the exact
    # subjects; the subscriber binds to it by name and is named by one filter covering them.
    broker.subscriber(
        policy.subject,
        stream=JStream(settings.stream, declare=False),
        durable=durable_name(definition.name, policy),
        # One message a fetch: a fetch for more waits until it has them all or its timeout ends
        # (seconds of latency at a quiet hour); the workers still handle `concurrency` at once.
        pull_sub=PullSub(batch_size=1),
        max_workers=policy.concurrency,
        ack_policy=AckPolicy.MANUAL,
        decoder=_as_received,
        title=f"{definition.name}.{policy.name}",
        description=policy.description,
    )(handler)


async def _as_received(message: NatsMessage) -> NatsMessage:
    """The message itself as the handler's argument: the payload is decoded by the codec, and
    only for the event type the policy reacts to."""
    return message


def _policy_handler(runtime: ServiceRuntime, policy: Policy) -> Callable[[NatsMessage], Awaitable[None]]:
    """Manual acks: ack after the handler succeeded, nak with a growing delay when it raised."""

    async def handle(message: NatsMessage) -> None:
        raw = message.raw_message
        stored = StoredEvent.of(raw.metadata.sequence.stream, raw.subject, raw.data, raw.headers)
        if stored.event_type != policy.event_type:
            await message.ack()  # another event of a watched aggregate: nothing to do, nothing decoded
            return
        clear_context()
        bind_context(policy=policy.name, position=stored.position)
        try:
            event = await runtime.store.codec.decode(stored)
            bind_context(correlation_id=event.envelope.correlation_id)
            await policy.handle(event, runtime)
        except DomainError as exc:  # the same event would be refused again: say so and move on
            log.warning("policy_refused", error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:
            attempt = raw.metadata.num_delivered
            log.warning("policy_failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}"[:300])
            await message.nack(delay=min(0.1 * 2**attempt, 60.0))
            return
        await message.ack()

    return handle
