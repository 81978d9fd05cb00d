"""Policies ride the service's feed: a handler that raises gets the event again, never loses it,
and an event reacted to again (a retry, a process stopped before its checkpoint) has no second
effect. A policy's first start begins after what its old durable consumer had acknowledged, or,
without one, at the first event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
from conftest import bearer, eventually, loaded, running, service_runtime
from nats.aio.client import Client
from sqlalchemy import select

from fourlinks_audit.fresh import FreshFile
from fourlinks_contracts import full_registry
from fourlinks_contracts.members import OrgUnitCreated
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import RecordedEvent, reaction_context
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.projection import bookkeeping, checkpoints
from fourlinks_kernel.provisioning import DurableConsumer, ensure_consumers
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_members.bootstrap import definition as members_definition
from fourlinks_runtime.app import create_app
from fourlinks_runtime.definition import Policy, ServiceDefinition
from fourlinks_runtime.engines import create_engine
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.policies import durable_name
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings


class UnitNoticed(DomainEvent):
    event_type: ClassVar[str] = "UnitNoticed"
    unit_id: str


class Notice(Aggregate):
    context: ClassVar[str] = "watcher"
    aggregate_type: ClassVar[str] = "notice"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.count = 0

    def notice(self) -> None:
        self._record(UnitNoticed(unit_id=self.id))

    def apply(self, event: DomainEvent) -> None:
        self.count += 1


@dataclass(frozen=True)
class NoticeUnit:
    unit_id: str


async def notice_unit_once(command: NoticeUnit, uow: UnitOfWork) -> None:
    (await uow.get(Notice, command.unit_id)).notice()


async def test_a_failing_policy_gets_the_event_again_and_records_its_effect_once(
    service_settings: Settings,
) -> None:
    calls: list[str] = []
    handed: list[str] = []

    async def notice_unit(event: RecordedEvent, runtime: ServiceRuntime) -> None:
        handed.append(event.envelope.event_type)
        assert isinstance(event.event, OrgUnitCreated)
        calls.append(event.envelope.event_id)
        context = reaction_context(event, policy="notice-units")
        unit_id = event.event.unit_id

        await runtime.dispatch(NoticeUnit(unit_id), notice_unit_once, context)
        if len(calls) == 1:
            raise RuntimeError("a transient failure after the write")

    registry = full_registry()
    registry.register(UnitNoticed)
    watcher = ServiceDefinition(
        name="watcher",
        title="watcher",
        description="test policy host",
        registry=registry,
        policies=(
            Policy(
                name="notice-units",
                version=1,
                # every event of every org unit arrives; only this type is handed to the handler
                subjects=(f"{service_settings.subject_prefix}.members.org_unit.*",),
                event_type="OrgUnitCreated",
                handle=notice_unit,
            ),
        ),
    )
    admin = bearer(service_settings, "administrator", scope="yuhang")
    members_app = create_app(members_definition(), service_settings)
    async with (
        running(members_app) as members,
        running(create_app(watcher, service_settings)) as watcher_client,
    ):
        created = await members.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        unit_id = created.json()["id"]
        renamed = await members.patch(f"/org-units/{unit_id}", json={"name": "余杭"}, headers=admin)
        assert renamed.status_code == 200, renamed.text
        runtime = service_runtime(watcher_client)
        for _ in range(300):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.02)
        notice = await loaded(runtime.store, Notice, unit_id)
        await asyncio.sleep(0.3)  # the rename, after the creation on the same subject, is acked unread
        assert handed == ["OrgUnitCreated", "OrgUnitCreated"]
        assert len(calls) == 2
        assert calls[0] == calls[1]
        assert notice.count == 1


Reaction = Callable[[RecordedEvent, ServiceRuntime], Awaitable[None]]


def watcher(settings: Settings, handle: Reaction) -> ServiceDefinition:
    """A service with one policy: a created org unit is noticed (once per unit)."""
    registry = full_registry()
    registry.register(UnitNoticed)
    policy = Policy(
        name="notice-units",
        version=1,
        subjects=(f"{settings.subject_prefix}.members.org_unit.*",),
        event_type="OrgUnitCreated",
        handle=handle,
    )
    return ServiceDefinition(
        name="watcher", title="watcher", description="test policy host", registry=registry, policies=(policy,)
    )


async def notice(event: RecordedEvent, runtime: ServiceRuntime) -> None:
    """The reaction: note the unit, with the event's id as the command id."""
    assert isinstance(event.event, OrgUnitCreated)
    await runtime.dispatch(
        NoticeUnit(event.event.unit_id), notice_unit_once, reaction_context(event, policy="notice-units")
    )


async def created_units(settings: Settings, codes: list[str], *, district: bool = True) -> list[str]:
    """Org units created through the members service, in this order: their ids (the district
    first, then its streets)."""
    admin = bearer(settings, "administrator", scope="yuhang")
    units = [{"code": "yuhang", "name": "余杭区", "level": "district"}] if district else []
    units += [{"code": code, "name": code, "level": "street", "parent_path": "yuhang"} for code in codes]
    ids = []
    async with running(create_app(members_definition(), settings)) as members:
        for unit in units:
            reply = await members.post("/org-units", json=unit, headers=admin)
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["id"])
    return ids


async def old_consumer_acknowledged(settings: Settings, nc: Client, count: int) -> None:
    """The durable consumer a release before this one read the policy from, as `nats init
    --consumers` made it, with the first `count` events handled and acknowledged."""
    definition = watcher(settings, notice)
    name = durable_name("watcher", definition.policies[0])
    await ensure_consumers(nc, settings.stream, [DurableConsumer(name, definition.policies[0].subjects)])
    subscription = await nc.jetstream().pull_subscribe_bind(name, settings.stream)
    for _ in range(count):  # one in flight at a time, as the policy's concurrency was
        (message,) = await subscription.fetch(1, timeout=5)
        await message.ack_sync()


async def policy_position(client: httpx.AsyncClient) -> int | None:
    """The policy's checkpoint as its row holds it."""
    runtime = service_runtime(client)
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            select(checkpoints.c.position).where(checkpoints.c.name == "policy:notice-units-v1")
        )
    return None if found is None else int(found)


async def reactions_settle(client: httpx.AsyncClient) -> None:
    """Until the policy has passed the log's end (everything it would react to, it has)."""
    runtime = service_runtime(client)
    last = await runtime.store.last_position()

    async def passed() -> bool:
        return runtime.policies[0].position >= last

    await eventually(passed)


async def test_a_policy_starts_after_what_its_old_durable_consumer_acknowledged(
    service_settings: Settings,
) -> None:
    units = await created_units(service_settings, ["a", "b", "c", "d"])
    nc = await connect(service_settings, name="old-release")
    try:
        await old_consumer_acknowledged(service_settings, nc, 3)
    finally:
        await nc.close()
    handed: list[str] = []

    async def noticed(event: RecordedEvent, runtime: ServiceRuntime) -> None:
        assert isinstance(event.event, OrgUnitCreated)
        handed.append(event.event.unit_id)
        await notice(event, runtime)

    async with running(create_app(watcher(service_settings, noticed), service_settings)) as client:
        await reactions_settle(client)
        assert handed == units[3:]  # exactly the rest, in log order
        assert await policy_position(client) == len(units)  # durable at the last event it reacted to
    async with running(create_app(watcher(service_settings, noticed), service_settings)) as client:
        await reactions_settle(client)
    assert handed == units[3:]  # started again: from its own checkpoint, nothing twice


async def test_a_new_deployment_s_policy_reacts_to_every_event_from_the_first(
    service_settings: Settings,
) -> None:
    units = await created_units(service_settings, ["a", "b"])
    handed: list[str] = []

    async def noticed(event: RecordedEvent, runtime: ServiceRuntime) -> None:
        assert isinstance(event.event, OrgUnitCreated)
        handed.append(event.event.unit_id)
        await notice(event, runtime)

    async with running(create_app(watcher(service_settings, noticed), service_settings)) as client:
        await reactions_settle(client)
        more = await created_units(service_settings, ["c"], district=False)  # and live, from the feed
        await reactions_settle(client)
    assert handed == units + more


async def test_a_reaction_cut_off_before_its_checkpoint_is_done_again_with_one_effect(
    service_settings: Settings,
) -> None:
    (unit,) = await created_units(service_settings, [])
    written = asyncio.Event()
    calls: list[str] = []

    async def stalls_after_writing(event: RecordedEvent, runtime: ServiceRuntime) -> None:
        calls.append(event.envelope.event_id)
        await notice(event, runtime)
        if len(calls) == 1:
            written.set()
            await asyncio.Event().wait()  # the process stops here: its checkpoint never moved

    definition = watcher(service_settings, stalls_after_writing)
    async with running(create_app(definition, service_settings)) as client:
        await asyncio.wait_for(written.wait(), 30)
        assert await policy_position(client) == 0
    async with running(create_app(definition, service_settings)) as client:
        await reactions_settle(client)
        noticed = await loaded(service_runtime(client).store, Notice, unit)
    assert len(calls) == 2
    assert calls[0] == calls[1]
    assert noticed.count == 1


async def test_a_rebuilt_sqlite_read_model_keeps_the_policies_checkpoints(tmp_path: Path) -> None:
    """A rebuild replays the read models, not the reactions: without its checkpoint a policy would
    go through the whole log again."""
    target = tmp_path / "feedback.db"
    live = create_engine(f"sqlite+aiosqlite:///{target}")
    async with live.begin() as conn:
        await conn.run_sync(bookkeeping.create_all)
        await conn.execute(
            checkpoints.insert(),
            [
                {"name": name, "version": 2, "position": 40, "updated_at": datetime.now(UTC)}
                for name in ("policy:callback-on-closure-v2", "feedback.inbox")
            ],
        )
    await live.dispose()
    fresh = FreshFile(target)
    building = await fresh.engine()
    async with building.begin() as conn:
        await conn.run_sync(bookkeeping.create_all)  # the rebuilt projections' own checkpoints
    await fresh.finish(building, [])
    swapped = create_engine(f"sqlite+aiosqlite:///{target}")
    async with swapped.connect() as conn:
        rows = dict((await conn.execute(select(checkpoints.c.name, checkpoints.c.position))).all())
    await swapped.dispose()
    assert rows == {"policy:callback-on-closure-v2": 40}
