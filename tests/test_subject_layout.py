"""One literal subject per aggregate, and the move of a stream written in the old layout (event
type in the subject): same bytes at the same positions, chains intact, policies resumed where they
were, refused the second time, resumed after a crash."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from conftest import TEST_MASTER_KEY, org_tree, unprotected_store
from nats.aio.client import Client

from fourlinks_audit.verify import verify
from fourlinks_cli.migrate import migrate_subjects
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import LAYOUT_KEY, SUBJECT_LAYOUT, StoredEvent
from fourlinks_kernel.errors import OldSubjectLayout
from fourlinks_kernel.jetstream import JetStreamEventStore, JetStreamSettings
from fourlinks_kernel.provisioning import ProvisioningError, ProvisionOptions, provision, stream_config
from fourlinks_kernel.relayout import RelayoutRefused, relayout
from fourlinks_runtime.embedded import NatsEndpoint
from fourlinks_runtime.settings import Settings


async def old_layout_stream(
    nc: Client, name: str, *, protected: bool = True
) -> tuple[JetStreamEventStore, list[StoredEvent]]:
    """A stream as the previous release wrote it: `<aggregate>.<event type>` subjects, no type
    headers, no layout in its metadata; five events of three org units."""
    written = await unprotected_store(nc, f"{name}_NEW")
    await org_tree(written)
    events = [s async for s in written.read()]
    settings = JetStreamSettings(stream=name, prefix=name.lower())
    config = {k: v for k, v in stream_config(ProvisionOptions(jetstream=settings)).items() if k != "metadata"}
    if not protected:  # so a test can punch a hole
        config.update(deny_delete=False, deny_purge=False)
    await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode(), timeout=5)
    prefix = written.prefix
    for stored in events:
        old_subject = f"{settings.prefix}{stored.subject.removeprefix(prefix)}.{stored.event_type}"
        await nc.request(old_subject, stored.payload, timeout=5)
    store = JetStreamEventStore(nc, EventCodec(full_registry()), settings)
    return store, events


def settings_of(store: JetStreamEventStore, nats_server: NatsEndpoint) -> Settings:
    js = store.settings
    return Settings(
        nats_url=nats_server.url, stream=js.stream, subject_prefix=js.prefix, master_key=TEST_MASTER_KEY
    )


async def acknowledge(nc: Client, stream: str, consumer: str, count: int) -> None:
    """An old policy consumer that has handled the first `count` events."""
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(consumer, stream)
    for msg in await sub.fetch(count, timeout=5):
        await msg.ack_sync()
    await sub.unsubscribe()


async def create_consumer(nc: Client, stream: str, name: str, filter_subject: str) -> None:
    config = {"durable_name": name, "filter_subject": filter_subject, "ack_policy": "explicit"}
    body = json.dumps({"stream_name": stream, "config": config}).encode()
    reply = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{stream}.{name}", body, timeout=5)).data)
    assert "error" not in reply, reply


async def consumer_start(nc: Client, stream: str, name: str) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{stream}.{name}", b"", timeout=5)
    config: dict[str, Any] = json.loads(reply.data)["config"]
    return config


async def test_an_old_stream_moves_with_its_bytes_positions_and_policy_positions(
    nc: Client, nats_server: NatsEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    store, written = await old_layout_stream(nc, "MOVE_OK")
    await create_consumer(nc, "MOVE_OK", "assignments-raise-from-feedback-v1", "move_ok.>")
    await acknowledge(nc, "MOVE_OK", "assignments-raise-from-feedback-v1", 3)
    settings = settings_of(store, nats_server)
    with pytest.raises(OldSubjectLayout, match="migrate-subjects"):
        await store.check_layout()  # a service refuses to start on it

    assert await migrate_subjects(settings) == 0

    moved = [s async for s in store.read()]
    assert [(s.position, s.payload, s.event_type) for s in moved] == [
        (s.position, s.payload, s.event_type) for s in written
    ]
    assert {s.subject.count(".") for s in moved} == {3}  # <prefix>.<context>.<type>.<id>
    report = await verify(store, progress=False)
    assert (report.ok, report.events, report.aggregates) == (True, 5, 3)
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.MOVE_OK", b"", timeout=5)).data)
    assert info["config"]["metadata"][LAYOUT_KEY] == SUBJECT_LAYOUT
    assert info["config"]["deny_delete"]  # the moved stream is made as `nats init` makes it
    assert info["config"]["allow_atomic"]
    resumed = await consumer_start(nc, "MOVE_OK", "assignments-raise-from-feedback-v2")
    assert resumed["opt_start_seq"] == 4  # after what the old consumer had acknowledged
    fresh = await consumer_start(nc, "MOVE_OK", "feedback-callback-on-closure-v2")
    assert fresh["opt_start_seq"] == 6  # no old consumer: after the moved history
    await store.check_layout()
    out = capsys.readouterr().out
    assert "moved 5 events" in out

    assert await migrate_subjects(settings) == 1  # never twice, refused before reading the log
    second = capsys.readouterr()
    assert "current layout already" in second.err
    assert "verified" not in second.out


async def test_a_move_interrupted_anywhere_is_finished_by_running_it_again(
    nc: Client, nats_server: NatsEndpoint
) -> None:
    store, written = await old_layout_stream(nc, "MOVE_CRASH")
    copied: list[int] = []

    def crash_after_the_first_batch(done: int, total: int) -> None:
        copied.append(done)
        if len(copied) == 4:  # aside in three batches, the old stream gone, one batch copied back
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("fourlinks_kernel.relayout.BATCH", 2)
        with pytest.raises(KeyboardInterrupt):
            await relayout(nc, store.settings, advance=crash_after_the_first_batch)
        report = await relayout(nc, store.settings)
    assert report.copied_back == 3
    moved = [s async for s in store.read()]
    assert [(s.position, s.payload) for s in moved] == [(s.position, s.payload) for s in written]
    assert (await verify(store, progress=False)).ok


async def test_init_refuses_an_old_stream_and_names_the_command(
    nc: Client, nats_server: NatsEndpoint
) -> None:
    store, _ = await old_layout_stream(nc, "MOVE_INIT")
    options = ProvisionOptions(monitor_url=nats_server.monitor_url, jetstream=store.settings)
    with pytest.raises(ProvisioningError, match="fourlinks nats migrate-subjects"):
        await provision(nc, options)


async def test_a_stream_with_gaps_is_refused_before_anything_moves(nc: Client) -> None:
    store, _ = await old_layout_stream(nc, "MOVE_GAPS", protected=False)
    settings = replace(store.settings)
    config = json.loads((await nc.request("$JS.API.STREAM.INFO.MOVE_GAPS", b"", timeout=5)).data)["config"]
    assert not config["deny_delete"]
    await nc.request("$JS.API.STREAM.MSG.DELETE.MOVE_GAPS", json.dumps({"seq": 2}).encode(), timeout=5)
    with pytest.raises(RelayoutRefused, match="gaps"):
        await relayout(nc, settings)
    assert len([s async for s in store.read()]) == 4  # untouched
