"""Audit replay: verification catches tampering, rebuilds equal the live read models (SQLite and
PostgreSQL alike), point-in-time answers do not move, erased people stay erased."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    COMMUNITY,
    District,
    command_env,
    community_with_a_covered_household,
    eventually,
    org_tree,
    postgres_database,
    unprotected_store,
    work_and_close,
)
from nats.aio.client import Client
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_audit import digest, export, replay
from fourlinks_audit.fresh import FreshFile, sqlite_file_of
from fourlinks_audit.history import reapply_erasures
from fourlinks_audit.services import projections_of
from fourlinks_audit.verify import verify
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import EVENT_TYPE_HEADER
from fourlinks_kernel.jetstream import NatsKeyStore
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import checkpoints
from fourlinks_kernel.store import EventStore
from fourlinks_members.domain.org_units import unit_id_for
from fourlinks_members.projections.directory import residents
from fourlinks_members.projections.org_units import org_units
from fourlinks_runtime.engines import create_engine
from fourlinks_runtime.runtime import ServiceRuntime


async def kinds(store: EventStore) -> list[tuple[int, str]]:
    return [(f.position, f.kind) for f in (await verify(store, progress=False)).findings]


async def test_an_intact_history_verifies(nc: Client) -> None:
    store = await unprotected_store(nc, "AUDIT_OK")
    await org_tree(store)
    report = await verify(store, progress=False)
    assert (report.ok, report.events, report.aggregates) == (True, 5, 3)


async def test_a_deleted_event_is_reported_missing_at_the_next_one(nc: Client) -> None:
    store = await unprotected_store(nc, "AUDIT_DELETED")
    await org_tree(store)
    await nc.request("$JS.API.STREAM.MSG.DELETE.AUDIT_DELETED", json.dumps({"seq": 4}).encode(), timeout=5)
    assert await kinds(store) == [(5, "missing")]


async def test_a_replaced_event_is_reported_missing_and_reordered(nc: Client) -> None:
    store = await unprotected_store(nc, "AUDIT_REPLACED")
    await org_tree(store)
    original = await anext(store.read(from_position=4, until_position=4))
    forged = original.payload.replace("南苑".encode(), "北苑".encode())
    await nc.request("$JS.API.STREAM.MSG.DELETE.AUDIT_REPLACED", json.dumps({"seq": 4}).encode(), timeout=5)
    await nc.request(original.subject, forged, timeout=5, headers={EVENT_TYPE_HEADER: original.event_type})
    assert await kinds(store) == [(5, "missing"), (6, "reordered")]


async def test_an_event_whose_headers_contradict_its_envelope_is_reported_misfiled(nc: Client) -> None:
    store = await unprotected_store(nc, "AUDIT_MISFILED")
    await org_tree(store)
    last = [s async for s in store.read()][-1]
    await nc.request(
        f"{last.subject}", last.payload, timeout=5, headers={EVENT_TYPE_HEADER: "OrgUnitCreated"}
    )
    assert (6, "misfiled") in await kinds(store)


async def test_an_event_altered_in_place_breaks_the_chain_at_the_next_one() -> None:
    store = InMemoryEventStore(
        EventCodec(full_registry(), PersonalDataCipher(master_key=b"k" * 32, keys=InMemoryKeyStore()))
    )
    await org_tree(store)
    stored = [s async for s in store.read()][3]
    store.tamper(stored.position, stored.payload.replace("南苑".encode(), "北苑".encode()))
    assert await kinds(store) == [(5, "altered")]


async def test_garbage_under_an_aggregate_subject_is_reported_corrupt(nc: Client) -> None:
    store = await unprotected_store(nc, "AUDIT_CORRUPT")
    await org_tree(store)
    await nc.request(
        f"audit_corrupt.members.org_unit.{unit_id_for('yuhang')}",
        b"{oops",
        timeout=5,
        headers={EVENT_TYPE_HEADER: "OrgUnitRenamed"},
    )
    assert await kinds(store) == [(6, "corrupt")]


async def service_digest(d: District, client: Any, service: str, engine: AsyncEngine | None = None) -> str:
    runtime: ServiceRuntime = d.runtime(client)
    await runtime.wait_for_all(await runtime.store.last_position())
    tables: dict[str, tuple[int, str]] = {}
    for factory in runtime.definition.projections:
        tables.update(await digest.table_digests(engine or runtime.engine, factory().metadata))
    return digest.overall(tables)


async def rebuilt_digest(d: District, service: str, url: str, *, until: int | None = None) -> str:
    runtime: ServiceRuntime = d.runtime(d.members)
    engine = create_engine(url)
    try:
        await replay.rebuild(
            projections_of(service), store=runtime.store, engine=engine, until_position=until, progress=False
        )
        tables: dict[str, tuple[int, str]] = {}
        for factory in projections_of(service):
            tables.update(await digest.table_digests(engine, factory().metadata))
        return digest.overall(tables)
    finally:
        await engine.dispose()


async def busy_scenario(d: District) -> tuple[str, str]:
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    for words in ("楼道灯坏了", "垃圾没人清"):
        submitted = await d.post(
            d.feedback,
            "/feedback",
            {"category": "repairs", "household_id": household, "description": words},
            resident,
        )
        task_id = (await d.get(d.feedback, f"/feedback/{submitted['id']}", resident))["task_id"]
        await eventually(lambda task_id=task_id: _assigned(d, task_id))
        await work_and_close(d, task_id, member, accept=True)
    return member, household


async def _assigned(d: District, task_id: str) -> bool:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["state"] == "assigned"


async def test_rebuilding_every_service_gives_byte_identical_read_models(
    district: District, tmp_path: Path
) -> None:
    d = district
    await busy_scenario(d)
    for client, service in ((d.members, "members"), (d.assignments, "assignments"), (d.feedback, "feedback")):
        live = await service_digest(d, client, service)
        # beside the live read model's file (tmp_path/<service>.db), never over it
        rebuilt = f"sqlite+aiosqlite:///{tmp_path / f'rebuilt-{service}'}.db"
        assert await rebuilt_digest(d, service, rebuilt) == live, service


async def test_rebuilding_all_services_at_once_from_the_command_line_matches_the_live_read_models(
    district: District, tmp_path: Path
) -> None:
    d = district
    await busy_scenario(d)
    live = {
        service: await service_digest(d, client, service)
        for client, service in (
            (d.members, "members"),
            (d.assignments, "assignments"),
            (d.feedback, "feedback"),
        )
    }
    env = command_env(d.settings)
    # What a crashed earlier rebuild and a live read model leave behind: a half-built file, and the
    # old file's write-ahead log (which SQLite would replay into the new file if it stayed).
    (tmp_path / "members.db.rebuilding").write_bytes(b"half a rebuild")
    (tmp_path / "members.db").write_bytes(b"the old read model")
    (tmp_path / "members.db-wal").write_bytes(b"the old read model's log")
    command = [sys.executable, "-m", "fourlinks_cli", "replay", "rebuild", "--all"]
    command += ["--database-url", f"sqlite:///{tmp_path}/{{service}}.db"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "rebuilt members, assignments, feedback, notifications from one read of the log" in done.stdout
    assert "swapped in whole" in done.stdout
    left = os.listdir(tmp_path)
    assert not [name for name in left if ".rebuilding" in name]
    assert "members.db-wal" not in left
    for service, digest_live in live.items():
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / service}.db")
        try:
            tables: dict[str, tuple[int, str]] = {}
            for factory in projections_of(service):
                tables.update(await digest.table_digests(engine, factory().metadata))
        finally:
            await engine.dispose()
        assert digest.overall(tables) == digest_live, service


async def test_point_in_time_answers_do_not_change_when_more_events_arrive(
    district: District, tmp_path: Path
) -> None:
    d = district
    member, household = await busy_scenario(d)
    runtime: ServiceRuntime = d.runtime(d.members)
    cut = await runtime.store.last_position()
    before = await rebuilt_digest(d, "feedback", f"sqlite+aiosqlite:///{tmp_path / 'then.db'}", until=cut)
    await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "又坏了"},
        d.token("resident", household),
    )
    assert await runtime.store.last_position() > cut
    later = await rebuilt_digest(d, "feedback", f"sqlite+aiosqlite:///{tmp_path / 'again.db'}", until=cut)
    assert later == before
    assert member


async def test_erased_people_stay_erased_through_rebuild_and_export(
    district: District, tmp_path: Path
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    resident_id = (await d.get(d.members, f"/households/{household}", d.secretary))["residents"][0][
        "resident_id"
    ]
    await d.post(d.members, f"/households/{household}/residents/{resident_id}/erase", {}, d.secretary)
    url = f"sqlite+aiosqlite:///{tmp_path / 'rebuilt-members.db'}"  # not the live read model's file
    await rebuilt_digest(d, "members", url)
    engine = create_engine(url)
    async with engine.connect() as conn:
        row = (await conn.execute(select(residents).where(residents.c.resident_id == resident_id))).one()
    await engine.dispose()
    assert (row.name, row.phone, row.erased) == (None, None, True)

    out = tmp_path / "export"
    out.mkdir()
    runtime: ServiceRuntime = d.runtime(d.members)
    count = await export.export_events(
        runtime.store, out, since=None, until=None, unit=COMMUNITY, include_personal=True
    )
    assert count > 0
    text = (out / "events.jsonl").read_text(encoding="utf-8")
    assert "王小明" not in text
    assert "13912345678" not in text
    assert '"name": "[erased]"' in text
    manifest = json.loads(
        export.write_manifest(
            out,
            counts={"events.jsonl": count},
            requested_by="auditor-1",
            include_personal=True,
            unit=COMMUNITY,
        ).read_text()
    )
    assert manifest["files"]["events.jsonl"]["rows"] == count


async def test_erasures_are_reapplied_after_restoring_an_old_key_table(district: District) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    resident_id = (await d.get(d.members, f"/households/{household}", d.secretary))["residents"][0][
        "resident_id"
    ]
    await d.post(d.members, f"/households/{household}/residents/{resident_id}/erase", {}, d.secretary)
    runtime: ServiceRuntime = d.runtime(d.members)
    keys = NatsKeyStore(runtime.nc, d.settings.key_bucket)
    await keys.replace(resident_id, b"a key restored from an old backup")
    assert await keys.get(resident_id) is not None
    assert await reapply_erasures(runtime.store, runtime.cipher) == 1
    assert await keys.get(resident_id) is None


def test_a_fresh_file_takes_the_old_read_model_s_place_whole_and_its_old_log_goes_first(
    tmp_path: Path,
) -> None:
    """The rebuilt file replaces the old one in one rename; the old file's write-ahead log and
    shared memory are removed first, so the new file is never read through the old log."""
    target = tmp_path / "members.db"
    old = sqlite3.connect(target)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE t (v TEXT)")
    old.execute("INSERT INTO t VALUES ('old')")
    old.commit()
    fresh = FreshFile(target)
    new = sqlite3.connect(fresh.building)
    new.execute("CREATE TABLE t (v TEXT)")
    new.execute("INSERT INTO t VALUES ('new')")
    new.commit()
    new.close()
    assert (tmp_path / "members.db-wal").exists()  # the old read model, still open and logging
    assert old.execute("SELECT v FROM t").fetchall() == [("old",)]
    fresh.swap_in()
    old.close()
    assert not fresh.building.exists()
    assert sqlite3.connect(target).execute("SELECT v FROM t").fetchall() == [("new",)]
    assert sqlite_file_of("sqlite+aiosqlite:////var/x/members.db") == Path("/var/x/members.db")
    assert sqlite_file_of("postgresql+asyncpg://u@h/db") is None
    assert sqlite_file_of("sqlite+aiosqlite:///:memory:") is None


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="needs the PostgreSQL of DATABASE_URL")
async def test_a_postgresql_rebuild_is_built_in_its_own_schema_and_swapped_in_whole(
    district: District,
) -> None:
    """The old read model answers until the rebuilt one replaces it in one transaction; a schema an
    earlier rebuild left half built is discarded; the checkpoints come with the tables."""
    d = district
    await busy_scenario(d)
    live = await service_digest(d, d.members, "members")
    env = command_env(d.settings)
    async with postgres_database() as url:
        rebuild = [sys.executable, "-m", "fourlinks_cli", "replay", "rebuild", "members"]
        rebuild += ["--database-url", url]
        done = await asyncio.to_thread(
            subprocess.run, [*rebuild, "--in-place"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:  # the old read model, with names no rebuild makes
                await conn.execute(org_units.update().values(name="不是重建的"))
                await conn.execute(text("CREATE SCHEMA fourlinks_rebuilding"))
                await conn.execute(text("CREATE TABLE fourlinks_rebuilding.org_units (half TEXT)"))
            done = await asyncio.to_thread(
                subprocess.run, rebuild, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stderr[-2000:]
            assert "swapped in whole" in done.stdout
            async with engine.connect() as conn:
                named = text("SELECT schema_name FROM information_schema.schemata")
                schemas = set(await conn.scalars(named))
                kept = select(checkpoints.c.name, checkpoints.c.position)
                positions = dict((await conn.execute(kept)).all())
            tables: dict[str, tuple[int, str]] = {}
            for factory in projections_of("members"):
                tables.update(await digest.table_digests(engine, factory().metadata))
        finally:
            await engine.dispose()
    assert "fourlinks_rebuilding" not in schemas
    assert digest.overall(tables) == live
    last = await d.runtime(d.members).store.last_position()
    assert positions == {factory().name: last for factory in projections_of("members")}
