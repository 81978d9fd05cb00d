"""`fourlinks nats init`: creates the stream once, verifies it after, refuses unsafe servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client

from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import (
    DurableConsumer,
    ProvisioningError,
    ProvisionOptions,
    ensure_consumers,
    parse_version,
    provision,
)
from fourlinks_runtime.embedded import NatsEndpoint, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings


async def test_init_is_idempotent_and_the_stream_has_the_safe_settings(
    nc: Client, nats_server: NatsEndpoint
) -> None:
    options = ProvisionOptions(
        monitor_url=nats_server.monitor_url, jetstream=JetStreamSettings(stream="INIT_T", prefix="init")
    )
    first = await provision(nc, options)
    second = await provision(nc, options)
    assert first[0].startswith("created stream")
    assert second[0].startswith("verified stream")
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.INIT_T", b"")).data)["config"]
    assert (info["storage"], info["discard"], info["deny_delete"], info["deny_purge"]) == (
        "file",
        "new",
        True,
        True,
    )
    assert (info["allow_direct"], info["allow_atomic"]) == (True, True)
    assert info["duplicate_window"] == 120_000_000_000
    assert (info["max_msgs"], info["max_bytes"], info["max_age"]) == (-1, -1, 0)


async def test_a_consumer_keeps_its_position_when_its_concurrency_is_raised(
    nc: Client, nats_server: NatsEndpoint
) -> None:
    options = ProvisionOptions(
        monitor_url=nats_server.monitor_url, jetstream=JetStreamSettings(stream="CONS_T", prefix="cons")
    )
    await provision(nc, options)
    for n in range(3):
        await nc.request(f"cons.a.b.{n}.Happened", b"{}", timeout=5)
    serial = DurableConsumer("cons-policy-v1", ("cons.>",))
    assert await ensure_consumers(nc, "CONS_T", [serial]) == ["created consumer cons-policy-v1"]
    pull = await nc.jetstream().pull_subscribe_bind("cons-policy-v1", stream="CONS_T")
    for msg in await pull.fetch(1, timeout=5):
        await msg.ack_sync()
    wider = DurableConsumer("cons-policy-v1", ("cons.>",), max_ack_pending=16)
    assert (await ensure_consumers(nc, "CONS_T", [wider]))[0].startswith("updated consumer")
    assert (await ensure_consumers(nc, "CONS_T", [wider]))[0].startswith("verified consumer")
    info = await nc.jetstream().consumer_info("CONS_T", "cons-policy-v1")
    assert (info.config.max_ack_pending, info.num_pending, info.delivered.stream_seq) == (16, 2, 1)


async def test_an_existing_stream_with_a_history_limit_is_refused(
    nc: Client, nats_server: NatsEndpoint
) -> None:
    unsafe = {"name": "LIMITED", "subjects": ["limited.>"], "storage": "file", "max_age": 3_600_000_000_000}
    await nc.request("$JS.API.STREAM.CREATE.LIMITED", json.dumps(unsafe).encode())
    options = ProvisionOptions(
        monitor_url=nats_server.monitor_url, jetstream=JetStreamSettings(stream="LIMITED", prefix="limited")
    )
    with pytest.raises(ProvisioningError, match="max_age limits history"):
        await provision(nc, options)


async def test_a_server_without_sync_always_is_refused_unless_explicitly_allowed(tmp_path: Path) -> None:
    server = start_nats(tmp_path, sync_always=False)
    client = await connect(Settings(nats_url=server.url), name="t")
    try:
        with pytest.raises(ProvisioningError, match="sync_interval: always"):
            await provision(client, ProvisionOptions(monitor_url=server.monitor_url))
        with pytest.raises(ProvisioningError, match="cannot verify"):
            await provision(client, ProvisionOptions())
        allowed = await provision(
            client, ProvisionOptions(monitor_url=server.monitor_url, allow_unsafe_server=True)
        )
        assert allowed[0].startswith("warning")
    finally:
        await client.close()
        server.stop()


def test_server_versions_compare_numerically() -> None:
    assert parse_version("2.9.10") < (2, 12, 3) <= parse_version("v2.12.3") < parse_version("2.15.1-beta")
