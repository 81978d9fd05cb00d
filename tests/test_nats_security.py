"""The shipped NATS accounts on a real server: each service can do what it needs, nothing more,
and the three services run their whole loop under their own users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import nats
import nats.errors
import pytest
from conftest import (
    NATS_PASSWORDS,
    TEST_JWT_SECRET,
    TEST_MASTER_KEY,
    District,
    community_with_a_covered_household,
    eventually,
    free_ports,
    running,
    templated_cluster_config,
    wait_ready,
)
from nats.aio.client import Client
from pydantic import SecretStr

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_audit.consumers import durable_consumers
from fourlinks_cli.nats_accounts import USERS
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_kernel.provisioning import ProvisionOptions, ensure_consumers, provision
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_runtime.embedded import EmbeddedNats, run_nats_config
from fourlinks_runtime.settings import Settings


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """One node with the shipped accounts.conf, passwords from the environment."""
    directory = tmp_path_factory.mktemp("secured")
    client, monitor, route = free_ports(3)
    config = templated_cluster_config(
        directory, name="secured", client=client, monitor=monitor, route=route, routes=None
    )
    server = run_nats_config(
        config, data_dir=directory, store_dir=directory / "js", env={**os.environ, **NATS_PASSWORDS}
    )
    yield server
    server.stop()


async def login(server: EmbeddedNats, user: str) -> Client:
    violations: list[str] = []

    async def on_error(exc: Exception) -> None:
        violations.append(str(exc))

    client = await nats.connect(
        server.url, user=user, password=f"{user}-secret", error_cb=on_error, allow_reconnect=False
    )
    client.violations = violations  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="module")
async def provisioned(secured_server: EmbeddedNats) -> EmbeddedNats:
    """The init job's work, as the admin user: stream, key bucket, every policy's durable consumer."""
    admin = await login(secured_server, "admin")
    options = ProvisionOptions(monitor_url=secured_server.monitor_url)
    await provision(admin, options)
    settings = Settings(stream="FOURLINKS_EVENTS", subject_prefix="fourlinks")
    consumers = durable_consumers(settings)
    await ensure_consumers(admin, "FOURLINKS_EVENTS", consumers)
    other = {"name": "OTHER", "subjects": ["other.>"], "storage": "file"}
    await admin.request("$JS.API.STREAM.CREATE.OTHER", json.dumps(other).encode(), timeout=5)
    await admin.close()
    return secured_server


async def allowed(client: Client, subject: str, payload: bytes = b"{}") -> bool:
    """Whether a request gets any answer (a denied publish is dropped by the server). Events go with
    an expectation that cannot hold, so the server answers without storing anything."""
    headers = (
        {"Nats-Expected-Last-Subject-Sequence": "999999999"} if subject.startswith("fourlinks.") else None
    )
    try:
        reply = await client.request(subject, payload, timeout=0.3, headers=headers)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return False
    return "error" not in json.loads(reply.data or b"{}") or b"10071" in reply.data


@pytest.mark.parametrize(
    ("user", "own", "foreign"),
    [
        (
            "members",
            "fourlinks.members.org_unit.x",
            "fourlinks.feedback.feedback.x",
        ),
        (
            "assignments",
            "fourlinks.assignments.task.x",
            "fourlinks.members.member.x",
        ),
        (
            "feedback",
            "fourlinks.feedback.feedback.x",
            "fourlinks.assignments.task.x",
        ),
    ],
)
async def test_each_service_publishes_only_its_own_events_and_cannot_harm_the_stream(
    provisioned: EmbeddedNats, user: str, own: str, foreign: str
) -> None:
    client = await login(provisioned, user)
    try:
        assert await allowed(client, own)
        assert not await allowed(client, foreign)
        assert await allowed(client, "$JS.API.STREAM.INFO.FOURLINKS_EVENTS", b"")
        assert await allowed(client, "$JS.API.DIRECT.GET.FOURLINKS_EVENTS", json.dumps({"seq": 1}).encode())
        for harmful in (
            "STREAM.DELETE.FOURLINKS_EVENTS",
            "STREAM.PURGE.FOURLINKS_EVENTS",
            "STREAM.UPDATE.FOURLINKS_EVENTS",
            "STREAM.CREATE.MINE",
            "STREAM.MSG.DELETE.FOURLINKS_EVENTS",
            "CONSUMER.DELETE.FOURLINKS_EVENTS.feedback-callback-on-closure-v2",
            "STREAM.INFO.OTHER",
            "DIRECT.GET.OTHER",
        ):
            assert not await allowed(client, f"$JS.API.{harmful}", b"{}"), harmful
        await asyncio.sleep(0.1)
        assert any("permissions violation" in v.lower() for v in client.violations)  # type: ignore[attr-defined]
    finally:
        await client.close()


async def test_the_auditor_reads_the_stream_and_nothing_else(provisioned: EmbeddedNats) -> None:
    client = await login(provisioned, "auditor")
    try:
        assert await allowed(client, "$JS.API.STREAM.INFO.FOURLINKS_EVENTS", b"")
        assert await allowed(client, "$JS.API.DIRECT.GET.FOURLINKS_EVENTS", json.dumps({"seq": 1}).encode())
        assert await allowed(client, "$JS.API.CONSUMER.LIST.FOURLINKS_EVENTS", b"{}")  # how far each got
        for refused in (
            "fourlinks.members.org_unit.x",
            "$JS.API.CONSUMER.MSG.NEXT.FOURLINKS_EVENTS.feedback-callback-on-closure-v2",
            "$JS.API.STREAM.INFO.KV_FOURLINKS_KEYS",
            "$JS.API.DIRECT.GET.KV_FOURLINKS_KEYS.$KV.FOURLINKS_KEYS.x",
            "$JS.API.CONSUMER.CREATE.FOURLINKS_EVENTS",
            "$JS.API.STREAM.DELETE.FOURLINKS_EVENTS",
        ):
            assert not await allowed(client, refused), refused
    finally:
        await client.close()


async def test_the_three_services_run_the_loop_under_their_own_users(
    provisioned: EmbeddedNats, tmp_path: Path
) -> None:
    base = Settings(
        var_dir=tmp_path,
        nats_url=provisioned.url,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="WARNING",
    )
    apps = [
        make(base.model_copy(update={"nats_user": user, "nats_password": SecretStr(f"{user}-secret")}))
        for make, user in (
            (members_app, "members"),
            (assignments_app, "assignments"),
            (feedback_app, "feedback"),
        )
    ]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        for client in clients:
            assert (await wait_ready(client)).status_code == 200
        members, assignments, feedback = clients
        d = District(base, members, assignments, feedback)
        member, household = await community_with_a_covered_household(d)
        submitted = await d.post(
            d.feedback,
            "/feedback",
            {"category": "repairs", "household_id": household, "description": "楼道灯坏了"},
            d.token("resident", household),
        )
        task_id = (await d.get(d.feedback, f"/feedback/{submitted['id']}", d.secretary))["task_id"]

        async def assigned() -> bool:
            reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
            return reply.status_code == 200 and reply.json()["assignee"] == member

        assert await eventually(assigned)

        # The members service reads only its own context; the log's end, written by the other two,
        # is reached through what its user may ask the stream (the province demo found it stalled).
        admin = await login(provisioned, "admin")
        info = json.loads((await admin.request("$JS.API.STREAM.INFO.FOURLINKS_EVENTS", b"", timeout=5)).data)
        await admin.close()
        last = int(info["state"]["last_seq"])

        async def members_reached_the_end() -> bool:
            ready = (await members.get("/health/ready")).json()
            return all(p["position"] >= last for p in ready["projections"].values())

        assert await eventually(members_reached_the_end)


async def test_a_store_written_before_the_server_had_users_keeps_its_events_when_it_gets_them(
    tmp_path: Path,
) -> None:
    from fourlinks_cli.nats_accounts import render
    from fourlinks_cli.nats_users import move_unlocked_store, nats_users
    from fourlinks_runtime.embedded import start_nats

    nats_dir = tmp_path / "nats"
    open_server = start_nats(nats_dir)
    try:
        client = await nats.connect(open_server.url)
        config = {"name": "FOURLINKS_EVENTS", "subjects": ["fourlinks.>"], "storage": "file"}
        await client.request("$JS.API.STREAM.CREATE.FOURLINKS_EVENTS", json.dumps(config).encode(), timeout=5)
        await client.jetstream().publish("fourlinks.members.org_unit.x", b"an event of the past")
        await client.close()
    finally:
        open_server.stop()
    assert move_unlocked_store(nats_dir)
    assert not move_unlocked_store(nats_dir)  # once
    passwords = nats_users(tmp_path)
    locked = start_nats(nats_dir, accounts=render(), env={**os.environ, **passwords})
    try:
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(locked.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
        admin = await nats.connect(
            locked.url,
            user="admin",
            password=passwords["FOURLINKS_NATS_ADMIN_PASSWORD"],
            allow_reconnect=False,
        )
        info = json.loads((await admin.request("$JS.API.STREAM.INFO.FOURLINKS_EVENTS", b"", timeout=5)).data)
        assert info["state"]["messages"] == 1
        await admin.close()
    finally:
        locked.stop()


@pytest.mark.parametrize("user", ["members", "assignments", "feedback", "notifications"])
async def test_a_services_live_feed_may_answer_flow_control(provisioned: EmbeddedNats, user: str) -> None:
    """An ordered consumer answers the server's flow-control messages; denied, the service's feed
    stops under load while it still says it is caught up (the soak found it)."""
    client = await login(provisioned, user)
    try:
        await client.publish("$JS.FC.FOURLINKS_EVENTS.consumer.1.2.3", b"")
        await client.publish("$JS.FC.KV_FOURLINKS_REVOKED.consumer.1.2.3", b"")
        await client.flush()
        await asyncio.sleep(0.3)
        assert client.violations == []  # type: ignore[attr-defined]
    finally:
        await client.close()


async def test_a_services_live_feed_reads_a_long_log_under_its_own_user(provisioned: EmbeddedNats) -> None:
    admin = await login(provisioned, "admin")
    js = admin.jetstream()
    for n in range(2000):
        await js.publish(f"fourlinks.members.org_unit.flow{n % 10}", b"x" * 2048)
    await admin.close()
    client = await login(provisioned, "members")
    try:
        subscription = await client.jetstream().subscribe(
            "fourlinks.members.org_unit.*", stream="FOURLINKS_EVENTS", ordered_consumer=True
        )
        received = 0

        async def read_all() -> None:
            nonlocal received
            async for _ in subscription.messages:
                received += 1
                if received == 2000:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read_all(), timeout=30)
        assert received == 2000  # a stalled feed stops short of the log's end
        await subscription.unsubscribe()
    finally:
        await client.close()


def test_every_password_made_for_nats_is_read_by_nats_server_as_a_string(tmp_path: Path) -> None:
    """nats-server reads a $VAR that starts with '-' as a number and refuses to start: a password of
    the old kind (token_urlsafe) did that now and then."""
    from fourlinks_cli.nats_accounts import render
    from fourlinks_cli.nats_users import new_password
    from fourlinks_runtime.embedded import nats_server_binary

    (tmp_path / "accounts.conf").write_text(render())
    (tmp_path / "server.conf").write_text("listen: 127.0.0.1:-1\ninclude accounts.conf\n")
    for _ in range(20):
        passwords = {name: new_password() for name in (f"FOURLINKS_NATS_{u.upper()}_PASSWORD" for u in USERS)}
        checked = subprocess.run(
            [str(nats_server_binary()), "-t", "-c", str(tmp_path / "server.conf")],
            env={**os.environ, **passwords},
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
    for bad in ("-Istarts-with-a-dash",):  # what token_urlsafe made one time in 64
        refused = subprocess.run(
            [str(nats_server_binary()), "-t", "-c", str(tmp_path / "server.conf")],
            env={**os.environ, **dict.fromkeys((f"FOURLINKS_NATS_{u.upper()}_PASSWORD" for u in USERS), bad)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0  # the check can fail
