"""`fourlinks nats drop-policy-consumers`: delete the durable consumers an older release read its
policies from, once each policy keeps its own checkpoint with its service's read models (its
first start began after what the consumer had acknowledged: a consumer deleted before that start
would make the policy go through the whole log again)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client

from fourlinks_audit.consumers import DEFINITIONS
from fourlinks_audit.seen import read_model_positions
from fourlinks_kernel.provisioning import ProvisioningError
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect
from fourlinks_runtime.policies import checkpoint_name, durable_name
from fourlinks_runtime.settings import Settings


@dataclass(frozen=True)
class OldConsumer:
    """A policy's durable consumer of an older release, and the checkpoint that replaces it."""

    name: str
    service: str
    checkpoint: str

    @property
    def started(self) -> str:
        """How `read_model_positions` names the policy's checkpoint."""
        return f"{self.service} read model {self.checkpoint}"


async def drop_policy_consumers(settings: Settings, *, force: bool) -> tuple[list[str], bool]:
    """Delete every policy's old durable consumer whose policy has started from its own
    checkpoint (all of them with `force`): a line for each, and whether any was kept."""
    nc = await connect(settings, name="fourlinks-drop-consumers", within=COMMAND_CONNECT_SECONDS)
    try:
        found = await old_consumers(nc, settings)
        started = set() if force else set(await read_model_positions(settings))
        lines, kept = [], False
        for consumer in found:
            if not force and consumer.started not in started:
                kept = True
                lines.append(
                    f"kept consumer {consumer.name}: {consumer.service} has no checkpoint "
                    f"{consumer.checkpoint} in its read model yet (start the service once with this "
                    "release, or --force to make that policy go through the whole log again)"
                )
                continue
            await _delete(nc, settings.stream, consumer.name)
            lines.append(f"deleted consumer {consumer.name}")
        return lines or [f"no policy's durable consumer is left on {settings.stream}"], kept
    finally:
        await nc.close()


async def old_consumers(nc: Client, settings: Settings) -> list[OldConsumer]:
    """The durable consumers on the events stream named after a policy (any version of it)."""
    wanted = {}
    for service, definition in sorted(DEFINITIONS.items()):
        for policy in definition(settings).policies:
            unversioned = re.escape(durable_name(service, policy).rsplit("-v", 1)[0])
            wanted[re.compile(rf"{unversioned}-v\d+")] = (service, checkpoint_name(policy))
    names = await _durable_names(nc, settings.stream)
    return [
        OldConsumer(name, *where)
        for name in names
        for pattern, where in wanted.items()
        if pattern.fullmatch(name)
    ]


async def _durable_names(nc: Client, stream: str) -> list[str]:
    names: list[str] = []
    while True:
        page = await _api(nc, f"CONSUMER.NAMES.{stream}", {"offset": len(names)})
        batch = page.get("consumers") or []
        names += batch
        if not batch or len(names) >= int(page.get("total", 0)):
            return sorted(names)


async def _delete(nc: Client, stream: str, name: str) -> None:
    await _api(nc, f"CONSUMER.DELETE.{stream}.{name}", None)


async def _api(nc: Client, call: str, body: dict[str, Any] | None) -> dict[str, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    reply: dict[str, Any] = json.loads((await nc.request(f"$JS.API.{call}", payload, timeout=10)).data)
    if "error" in reply:  # a KernelError: the command ends in one line
        raise ProvisioningError(f"JetStream {call}: {reply['error'].get('description')}")
    return reply
