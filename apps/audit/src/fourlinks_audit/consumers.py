"""Every service's policies, and their durable consumers of a release before policies rode their
service's feed: a policy's first start begins after what its consumer acknowledged, so the bench
data set and `fourlinks nats migrate-subjects` still make them to say where policies start (this
loads the whole services, policies included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fourlinks_assignments.bootstrap import definition as assignments
from fourlinks_feedback.bootstrap import definition as feedback
from fourlinks_kernel.provisioning import DurableConsumer
from fourlinks_members.bootstrap import definition as members
from fourlinks_notifications.bootstrap import definition as notifications
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.policies import durable_name
from fourlinks_runtime.settings import Settings

DEFINITIONS: dict[str, Callable[[Settings], ServiceDefinition]] = {
    "members": members,
    "assignments": assignments,
    "feedback": feedback,
    "notifications": notifications,
}


def durable_consumers(settings: Settings) -> list[DurableConsumer]:
    """The durable consumer of every policy of every service, as older releases made them."""
    found = []
    for name, definition in sorted(DEFINITIONS.items()):
        for policy in definition(settings).policies:
            consumer = DurableConsumer(durable_name(name, policy), policy.subjects)
            found.append(replace(consumer, max_ack_pending=policy.concurrency))
    return found
