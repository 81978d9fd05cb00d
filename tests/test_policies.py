"""Policies run as FastStream subscribers: a handler that raises gets the event again, never loses it,
and a redelivered event has no second effect."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from conftest import bearer, loaded, running, service_runtime

from fourlinks_contracts import full_registry
from fourlinks_contracts.members import OrgUnitCreated
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import RecordedEvent, reaction_context
from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_members.bootstrap import definition as members_definition
from fourlinks_runtime.app import create_app
from fourlinks_runtime.definition import Policy, ServiceDefinition
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
