"""Creates and verifies the events stream and key bucket: the one init step."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError

from fourlinks_kernel.envelope import LAYOUT_KEY, SUBJECT_LAYOUT
from fourlinks_kernel.errors import KernelError
from fourlinks_kernel.jetstream import (
    IDEMPOTENCY_BUCKET_BYTES,
    JetStreamSettings,
    idempotency_bucket_config,
    key_bucket_stream,
    subject_layout,
)

MIN_SERVER_VERSION = (2, 12, 3)
DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000
STREAM_NOT_FOUND = 10059
REVOKED_BUCKET = "FOURLINKS_REVOKED"
REVOKED_HOURS = 30 * 24
"""Tokens signed out before they expire are remembered this long: no token may live longer."""
SESSIONS_BUCKET = "FOURLINKS_CONSOLE_SESSIONS"
SESSIONS_HOURS = 24
"""The console's sessions (encrypted) are forgotten a day after their last use at the latest."""


class ProvisioningError(KernelError):
    """The server or an existing stream does not meet what the event store needs."""


@dataclass(frozen=True)
class ProvisionOptions:
    """What init creates and what it insists on."""

    replicas: int = 1
    monitor_url: str | None = None
    allow_unsafe_server: bool = False
    jetstream: JetStreamSettings = field(default_factory=JetStreamSettings)


def stream_config(options: ProvisionOptions) -> dict[str, Any]:
    """The events stream exactly as EVENTSTORE.md asks: no limits, nothing can be deleted."""
    js = options.jetstream
    return {
        "name": js.stream,
        "subjects": [f"{js.prefix}.>"],
        "storage": "file",
        "retention": "limits",
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0,
        "max_msgs_per_subject": -1,
        "discard": "new",
        "deny_delete": True,
        "deny_purge": True,
        "allow_direct": True,
        "allow_atomic": True,
        "duplicate_window": DUPLICATE_WINDOW_NS,
        "num_replicas": options.replicas,
        "metadata": {LAYOUT_KEY: SUBJECT_LAYOUT},
    }


REQUIRED_FLAGS = ("storage", "discard", "deny_delete", "deny_purge", "allow_direct", "allow_atomic")
UNLIMITED = ("max_msgs", "max_bytes", "max_msgs_per_subject")


def parse_version(text: str) -> tuple[int, int, int]:
    """`2.15.1` or `v2.12.3-beta` as a comparable triple."""
    core = text.lstrip("v").split("-", 1)[0]
    major, minor, patch = (int(part) for part in [*core.split("."), "0", "0"][:3])
    return major, minor, patch


def check_server(nc: Client, options: ProvisionOptions) -> list[str]:
    """Reasons this server is unfit for the system of record (empty when fit)."""
    version = str(nc._server_info.get("version", "0.0.0"))
    problems = []
    if parse_version(version) < MIN_SERVER_VERSION:
        floor = ".".join(map(str, MIN_SERVER_VERSION))
        problems.append(f"nats-server {version} is older than {floor} (no atomic batch, lost writes)")
    if not nc._server_info.get("jetstream"):
        problems.append("JetStream is not enabled on the server")
    if options.monitor_url is None:
        problems.append("cannot verify sync_interval: always without --monitor-url")
    elif not _syncs_always(options.monitor_url):
        problems.append("the server does not run with jetstream { sync_interval: always }")
    return problems


def _syncs_always(monitor_url: str) -> bool:
    varz_url = f"{monitor_url.rstrip('/')}/varz"
    try:
        with urllib.request.urlopen(varz_url, timeout=5) as reply:  # noqa: S310
            varz = json.load(reply)
    except (OSError, ValueError) as exc:  # URLError is an OSError; ValueError: not JSON
        raise ProvisioningError(f"cannot read the NATS monitor at {varz_url}: {exc}") from exc
    return bool(varz.get("jetstream", {}).get("config", {}).get("sync_always"))


def config_problems(actual: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Differences between an existing stream's config and the one the event store needs."""
    problems = [
        f"{key} is {actual.get(key)!r}, needs {wanted[key]!r}"
        for key in REQUIRED_FLAGS
        if bool(actual.get(key)) != bool(wanted[key]) or (key == "storage" and actual.get(key) != wanted[key])
    ]
    problems += [
        f"{key} limits history ({actual.get(key)})" for key in UNLIMITED if actual.get(key, -1) not in (-1, 0)
    ]
    if actual.get("max_age", 0):
        problems.append(f"max_age limits history ({actual['max_age']})")
    if wanted["subjects"][0] not in actual.get("subjects", []):
        problems.append(f"subjects {actual.get('subjects')} do not include {wanted['subjects'][0]}")
    return problems


async def provision(nc: Client, options: ProvisionOptions) -> list[str]:
    """Create or verify the events stream and key bucket; idempotent. Returns what it did."""
    problems = await asyncio.to_thread(check_server, nc, options)
    if problems and not options.allow_unsafe_server:
        raise ProvisioningError("; ".join(problems) + " (pass --allow-unsafe-server to go on anyway)")
    done = [f"warning: {p}" for p in problems]
    done.append(await _ensure_stream(nc, stream_config(options)))
    done.append(await _ensure_key_bucket(nc, options))
    done.append(await _ensure_idempotency_bucket(nc, options))
    for config in (revoked_bucket_config(options.replicas), sessions_bucket_config(options.replicas)):
        done.append(await _ensure_bucket(nc, config))
    return done


async def _ensure_stream(nc: Client, wanted: dict[str, Any]) -> str:
    name = wanted["name"]
    info = await _api(nc, f"STREAM.INFO.{name}", b"")
    error = info.get("error")
    if error and error.get("err_code") == STREAM_NOT_FOUND:
        created = await _api(nc, f"STREAM.CREATE.{name}", json.dumps(wanted).encode())
        if "error" in created:
            raise ProvisioningError(f"cannot create stream {name}: {created['error'].get('description')}")
        return f"created stream {name} ({wanted['num_replicas']} replica(s))"
    if error:
        raise ProvisioningError(f"cannot read stream {name}: {error.get('description')}")
    problems = config_problems(info["config"], wanted)
    if problems:
        raise ProvisioningError(f"stream {name} exists with unsafe settings: " + "; ".join(problems))
    if subject_layout(info) != SUBJECT_LAYOUT:
        if info["state"]["messages"]:
            raise ProvisioningError(
                f"stream {name} holds {info['state']['messages']} events in the old subject layout; "
                "stop the services and run `fourlinks nats migrate-subjects` (docs/operations.md)"
            )
        await _name_layout(nc, info["config"])
    return f"verified stream {name} ({info['state']['messages']} events)"


async def _name_layout(nc: Client, config: dict[str, Any]) -> None:
    """An empty stream made before layouts were named takes the current one."""
    metadata = {**(config.get("metadata") or {}), LAYOUT_KEY: SUBJECT_LAYOUT}
    body = json.dumps({**config, "metadata": metadata}).encode()
    updated = await _api(nc, f"STREAM.UPDATE.{config['name']}", body)
    if "error" in updated:
        reason = updated["error"].get("description")
        raise ProvisioningError(f"cannot name the layout of stream {config['name']}: {reason}")


async def _ensure_key_bucket(nc: Client, options: ProvisionOptions) -> str:
    js = nc.jetstream()
    bucket = options.jetstream.key_bucket
    try:
        await js.key_value(bucket)
    except BucketNotFoundError:
        await js.add_stream(key_bucket_stream(bucket, options.replicas))
        return f"created key bucket {bucket}"
    return f"verified key bucket {bucket}"


async def _ensure_idempotency_bucket(nc: Client, options: ProvisionOptions) -> str:
    js = nc.jetstream()
    settings = options.jetstream
    try:
        await js.key_value(settings.idempotency_bucket)
    except BucketNotFoundError:
        config = idempotency_bucket_config(
            settings.idempotency_bucket, options.replicas, settings.idempotency_hours
        )
        await js.create_key_value(config)
        return f"created idempotency bucket {settings.idempotency_bucket}"
    stream = (await js.stream_info(f"KV_{settings.idempotency_bucket}")).config
    if stream.max_bytes is None or stream.max_bytes < 0:  # made before the bucket had a bound
        stream.max_bytes, stream.max_msg_size = IDEMPOTENCY_BUCKET_BYTES, 1024
        await js.update_stream(stream)
        return f"bounded idempotency bucket {settings.idempotency_bucket}"
    return f"verified idempotency bucket {settings.idempotency_bucket}"


def revoked_bucket_config(replicas: int) -> KeyValueConfig:
    """Revoked tokens (a key per token, its expiry as value), read by every service."""
    return KeyValueConfig(
        bucket=REVOKED_BUCKET,
        history=1,
        ttl=REVOKED_HOURS * 3600,
        storage=StorageType.FILE,
        replicas=replicas,
        max_bytes=64 * 1024 * 1024,
        max_value_size=64,
    )


def sessions_bucket_config(replicas: int) -> KeyValueConfig:
    """The console's sessions, shared by its replicas: each value sealed with its session's id."""
    return KeyValueConfig(
        bucket=SESSIONS_BUCKET,
        history=1,
        ttl=SESSIONS_HOURS * 3600,
        storage=StorageType.FILE,
        replicas=replicas,
        max_bytes=256 * 1024 * 1024,
        max_value_size=64 * 1024,
    )


async def _ensure_bucket(nc: Client, config: KeyValueConfig) -> str:
    js = nc.jetstream()
    try:
        await js.key_value(config.bucket)
    except BucketNotFoundError:
        await js.create_key_value(config)
        return f"created bucket {config.bucket}"
    return f"verified bucket {config.bucket}"


@dataclass(frozen=True)
class DurableConsumer:
    """A policy's durable pull consumer: created here so services never need to create one."""

    name: str
    filter_subjects: tuple[str, ...]
    start_after: int | None = None  # a log whose history was reacted to already (a restored data set)
    max_ack_pending: int = 1  # the policy's concurrency

    def config(self) -> dict[str, Any]:
        """Explicit acks, one in flight (order kept), redelivered until acked."""
        start: dict[str, Any] = {"deliver_policy": "all"}
        if self.start_after is not None:
            start = {"deliver_policy": "by_start_sequence", "opt_start_seq": self.start_after + 1}
        return {
            "durable_name": self.name,
            "name": self.name,
            **_filters(self.filter_subjects),
            **start,
            "ack_policy": "explicit",
            "ack_wait": 30_000_000_000,
            "max_ack_pending": self.max_ack_pending,
            "max_deliver": -1,
        }


def _filters(subjects: tuple[str, ...]) -> dict[str, Any]:
    if len(subjects) == 1:
        return {"filter_subject": subjects[0]}
    return {"filter_subjects": list(subjects)}


async def ensure_consumers(nc: Client, stream: str, consumers: list[DurableConsumer]) -> list[str]:
    """Create the durable consumers that do not exist yet. One that does keeps its position and
    settings; only its max_ack_pending follows the policy's concurrency."""
    done = []
    for consumer in consumers:
        info = await _api(nc, f"CONSUMER.INFO.{stream}.{consumer.name}", b"")
        if "error" not in info:
            if info["config"].get("max_ack_pending") == consumer.max_ack_pending:
                done.append(f"verified consumer {consumer.name}")
                continue
            config = {**info["config"], "max_ack_pending": consumer.max_ack_pending}
            await _create(nc, stream, consumer.name, config, action="update")
            done.append(f"updated consumer {consumer.name} (max_ack_pending {consumer.max_ack_pending})")
            continue
        await _create(nc, stream, consumer.name, consumer.config(), action="create")
        done.append(f"created consumer {consumer.name}")
    return done


async def _create(nc: Client, stream: str, name: str, config: dict[str, Any], *, action: str) -> None:
    body = json.dumps({"stream_name": stream, "config": config, "action": action}).encode()
    created = await _api(nc, f"CONSUMER.CREATE.{stream}.{name}", body)
    if "error" in created:
        raise ProvisioningError(f"cannot {action} consumer {name}: {created['error'].get('description')}")


async def _api(nc: Client, call: str, payload: bytes) -> dict[str, Any]:
    msg = await nc.request(f"$JS.API.{call}", payload, timeout=10)
    body: dict[str, Any] = json.loads(msg.data)
    return body
