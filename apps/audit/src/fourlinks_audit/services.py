"""The services whose read models the audit tools rebuild, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fourlinks_assignments.bootstrap import definition as assignments
from fourlinks_feedback.bootstrap import definition as feedback
from fourlinks_kernel.provisioning import DurableConsumer
from fourlinks_members.bootstrap import definition as members
from fourlinks_runtime.service import ServiceDefinition
from fourlinks_runtime.settings import Settings

DEFINITIONS: dict[str, Callable[[Settings], ServiceDefinition]] = {
    "members": members,
    "assignments": assignments,
    "feedback": feedback,
}


def definition_of(service: str, settings: Settings) -> ServiceDefinition:
    """One service's definition, or a clear error naming the known ones."""
    try:
        return DEFINITIONS[service](settings)
    except KeyError:
        raise SystemExit(f"unknown service {service!r}; choose from {', '.join(DEFINITIONS)}") from None


def durable_consumers(settings: Settings) -> list[DurableConsumer]:
    """The durable consumer of every policy of every service (`fourlinks nats init --consumers`)."""
    found = []
    for name, definition in sorted(DEFINITIONS.items()):
        for policy in definition(settings).policies:
            consumer = DurableConsumer(f"{name}-{policy.name}-v{policy.version}", policy.subjects)
            found.append(replace(consumer, max_ack_pending=policy.concurrency))
    return found
