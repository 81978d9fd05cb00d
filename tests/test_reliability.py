"""Faults survived and bad input refused: NATS away and back, hostile strings, several processes
writing one aggregate, redelivery in any order."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from conftest import (
    TEST_JWT_SECRET,
    TEST_MASTER_KEY,
    bearer,
    command_env,
    eventually,
    free_ports,
    running,
    service_runtime,
    wait_ready,
)

from fourlinks_audit import digest
from fourlinks_contracts import full_registry
from fourlinks_contracts.members import OrgUnitRenamed
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.provisioning import ProvisionOptions, provision
from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_members.projections.directory import DirectoryProjection
from fourlinks_members.projections.org_units import OrgUnitsProjection
from fourlinks_members.seed import seed_district
from fourlinks_runtime.embedded import SERVER_CONFIG, run_nats_config, start_nats
from fourlinks_runtime.engines import create_engine
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

HOSTILE = [
    "Robert'); DROP TABLE residents;--",
    "<script>alert('x')</script>&amp;",
    "王小明 محمد Ωμέγα 🙂 ñ",
    "tab\there\nnew line\u0007bell\u200bzero-width",
    "x" * 100,
]


async def test_nats_away_gives_a_fast_503_and_the_service_comes_back_by_itself(tmp_path: Path) -> None:
    port, monitor = free_ports(2)
    server = start_nats(tmp_path / "nats", port=port, monitor_port=monitor)
    settings = Settings(
        var_dir=tmp_path,
        nats_url=server.url,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="WARNING",
    )
    nc = await connect(settings, name="init")
    await provision(nc, ProvisionOptions(monitor_url=server.monitor_url))
    await nc.close()
    admin = bearer(settings, "administrator", scope="yuhang")
    try:
        async with running(create_app(settings)) as client:
            assert (await wait_ready(client)).status_code == 200
            server.stop(kill=True)
            away = await client.post(
                "/org-units",
                json={"code": "yuhang", "name": "余杭区", "level": "district"},
                headers={**admin, "Idempotency-Key": "district-yuhang-1"},
            )
            assert away.status_code == 503
            assert "retry" in away.json()["detail"]
            not_ready = await client.get("/health/ready")
            assert not_ready.status_code == 503
            assert not_ready.json()["missing"] == ["NATS unreachable"]  # says what is missing, in words
            assert (await client.get("/health/live")).status_code == 200  # reconnecting is not dead
            server = start_nats(tmp_path / "nats", port=port, monitor_port=monitor)

            async def accepted() -> httpx.Response | None:
                reply = await client.post(
                    "/org-units",
                    json={"code": "yuhang", "name": "余杭区", "level": "district"},
                    headers={**admin, "Idempotency-Key": "district-yuhang-1"},
                )
                return reply if reply.status_code == 201 else None

            created = await eventually(accepted, timeout=30)

            async def projected() -> list[str]:  # the projection resumes by itself after the restart
                reply = await client.get("/org-units", headers=admin)
                return [u["path"] for u in reply.json()] if reply.status_code == 200 else []

            assert await eventually(projected, timeout=60) == ["yuhang"]
            assert created.json()["position"] >= 1
            assert (await wait_ready(client)).status_code == 200
    finally:
        server.stop()


async def test_hostile_strings_are_stored_and_returned_intact(service_settings: Settings) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        for code, level, parent in [
            ("yuhang", "district", None),
            ("nanyuan", "street", "yuhang"),
            ("xinghe", "community", "yuhang/nanyuan"),
            ("b1", "building", "yuhang/nanyuan/xinghe"),
        ]:
            reply = await client.post(
                "/org-units",
                json={"code": code, "name": HOSTILE[1], "level": level, "parent_path": parent},
                headers=admin,
            )
            assert reply.status_code == 201, reply.text
        names = [text for text in HOSTILE if text.isprintable()]
        controls = await client.post(
            "/households",
            json={"org_unit": "yuhang/nanyuan/xinghe/b1", "room": "101", "residents": [{"name": HOSTILE[3]}]},
            headers=bearer(service_settings, "secretary", scope="yuhang"),
        )
        assert controls.status_code == 422  # a name with control characters is refused, never trimmed
        assert controls.json()["detail"][0]["loc"] == ["body", "residents", 0, "name"]
        residents = [{"name": text, "phone": "13912345678"} for text in names]
        reply = await client.post(
            "/households",
            json={"org_unit": "yuhang/nanyuan/xinghe/b1", "room": "101", "residents": residents},
            headers=bearer(service_settings, "secretary", scope="yuhang"),
        )
        assert reply.status_code == 201, reply.text
        position = reply.json()["position"]
        household = await client.get(
            f"/households/{reply.json()['id']}", headers={**admin, "X-Min-Position": str(position)}
        )
        assert household.headers["content-type"].startswith("application/json")
        assert sorted(r["name"] for r in household.json()["residents"]) == sorted(names)
        units = await client.get("/org-units", headers=admin)
        assert {u["name"] for u in units.json()} == {HOSTILE[1]}


WRITER = """
import asyncio, sys
from fourlinks_contracts import full_registry
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.unit_of_work import run_command
from fourlinks_members.domain.org_units import OrgUnit
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.settings import Settings

async def main() -> None:
    settings = Settings()
    nc = await connect(settings, name="writer")
    store, _ = open_event_store(nc, settings, full_registry())
    actor = Actor(id=f"writer-{sys.argv[2]}", roles=("administrator",), scope="yuhang")
    for n in range(int(sys.argv[3])):
        async def rename(uow, n=n):
            (await uow.get(OrgUnit, sys.argv[1])).rename(f"{sys.argv[2]}-{n}")
        context = CommandContext.new(actor)
        for _ in range(50):  # as a client does when told "too many concurrent writers; try again"
            try:
                await run_command(store, context, rename)
                break
            except ConcurrencyConflict:
                await asyncio.sleep(0.05)
        else:
            raise SystemExit("gave up after 50 tries")
    await nc.close()

asyncio.run(main())
"""


async def test_several_processes_writing_one_aggregate_lose_no_update_and_leave_no_gap(
    service_settings: Settings, tmp_path: Path
) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        created = await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        unit_id = created.json()["id"]
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        env = {
            **os.environ,
            "FOURLINKS_NATS_URL": service_settings.nats_url,
            "FOURLINKS_STREAM": service_settings.stream,
            "FOURLINKS_SUBJECT_PREFIX": service_settings.subject_prefix,
            "FOURLINKS_KEY_BUCKET": service_settings.key_bucket,
            "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        writers = [
            await asyncio.create_subprocess_exec(sys.executable, str(script), unit_id, f"w{i}", "8", env=env)
            for i in range(3)
        ]
        for writer in writers:
            assert await asyncio.wait_for(writer.wait(), 120) == 0
        runtime = service_runtime(client)
        loaded = await runtime.store.load(OrgUnit.stream_of(unit_id))
        versions = [e.envelope.aggregate_version for e in loaded.events]
        assert versions == list(range(1, 26))
        names = {e.event.name for e in loaded.events[1:] if isinstance(e.event, OrgUnitRenamed)}
        assert names == {f"w{i}-{n}" for i in range(3) for n in range(8)}


def _serve_members(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = command_env(
        settings,
        FOURLINKS_JWT_SECRET=TEST_JWT_SECRET,
        FOURLINKS_VAR_DIR=str(settings.var_dir),
        FOURLINKS_LOG_LEVEL="ERROR",
        FOURLINKS_PROJECTION_BATCH_SIZE="50",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "fourlinks_runtime.serve", "members", "--port", str(port)], env=env
    )


async def _directory_position(port: int) -> int | None:
    try:
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)).json()
    except (httpx.TransportError, ValueError):
        return None
    position: int = ready["projections"]["members.directory"]["position"]
    return position


async def test_a_service_killed_mid_projection_again_and_again_ends_equal_to_a_fresh_rebuild(
    tmp_path: Path,
) -> None:
    server = start_nats(tmp_path / "nats")
    settings = Settings(
        var_dir=tmp_path, nats_url=server.url, master_key=TEST_MASTER_KEY, jwt_secret=TEST_JWT_SECRET
    )
    try:
        nc = await connect(settings, name="init")
        await provision(nc, ProvisionOptions(monitor_url=server.monitor_url))
        await nc.close()
        await seed_district(settings, district="yuhang", scale=0.02, seed=3)
        target = await _last_position(settings)
        kills = 0
        (port,) = free_ports(1)
        while kills < 3:
            service = _serve_members(settings, port)
            try:
                for _ in range(600):
                    position = await _directory_position(port)
                    if position and 0 < position < target:
                        break
                    await asyncio.sleep(0.01)
            finally:
                service.send_signal(signal.SIGKILL)
                await asyncio.to_thread(service.wait, 30)
            kills += 1
        service = _serve_members(settings, port)
        try:
            assert await eventually(lambda: _caught_up(port, target), timeout=120)
        finally:
            service.terminate()
            await asyncio.to_thread(service.wait, 30)
        live = await _digest(settings.database_url_for("members"))
        async with running(
            create_app(
                settings.model_copy(update={"members_database_url": f"sqlite:///{tmp_path / 'fresh.db'}"})
            )
        ) as client:
            assert (await wait_ready(client, timeout=120)).status_code == 200
        assert await _digest(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}") == live
    finally:
        server.stop()


async def _caught_up(port: int, target: int) -> bool:
    return (await _directory_position(port) or 0) >= target


async def _last_position(settings: Settings) -> int:
    nc = await connect(settings, name="probe")
    try:
        store, _ = open_event_store(nc, settings, full_registry())
        return await store.last_position()
    finally:
        await nc.close()


async def _digest(url: str) -> str:
    engine = create_engine(url)
    try:
        tables: dict[str, tuple[int, str]] = {}
        for factory in (OrgUnitsProjection, DirectoryProjection):
            tables.update(await digest.table_digests(engine, factory().metadata))
        return digest.overall(tables)
    finally:
        await engine.dispose()


async def test_nats_killed_again_and_again_under_load_loses_no_success_and_retries_never_write_twice(
    tmp_path: Path,
) -> None:
    port, monitor = free_ports(2)
    holder = {"server": start_nats(tmp_path / "nats", port=port, monitor_port=monitor)}
    settings = Settings(
        var_dir=tmp_path,
        nats_url=holder["server"].url,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="ERROR",
    )
    nc = await connect(settings, name="init")
    await provision(nc, ProvisionOptions(monitor_url=holder["server"].monitor_url))
    await nc.close()
    admin = bearer(settings, "administrator", scope="yuhang")
    statuses: list[int] = []
    try:
        async with running(create_app(settings)) as client:
            assert (await wait_ready(client)).status_code == 200

            async def command(body: Mapping[str, str | None], key: str) -> int:
                for _ in range(400):  # a client retrying with the same key until it is told "done"
                    reply = await client.post(
                        "/org-units", json=body, headers={**admin, "Idempotency-Key": key}
                    )
                    statuses.append(reply.status_code)
                    if reply.status_code == 201:
                        return int(reply.json()["position"])
                    await asyncio.sleep(0.05)
                raise AssertionError(f"{key} never succeeded")

            async def chaos() -> None:
                # three kills at least, and more until one hits a command in flight (on a busy
                # machine a kill can fall between two commands)
                for kill in range(10):
                    if kill >= 3 and 503 in statuses:
                        return
                    await asyncio.sleep(0.4)
                    holder["server"].stop(kill=True)
                    await asyncio.sleep(0.3)
                    holder["server"] = start_nats(tmp_path / "nats", port=port, monitor_port=monitor)

            await command(
                {"code": "yuhang", "name": "余杭区", "level": "district", "parent_path": None},
                "district-0001",
            )
            killer = asyncio.create_task(chaos())
            streets = 0
            while not killer.done() or streets < 20:
                body = {
                    "code": f"s{streets:03d}",
                    "name": f"街道{streets}",
                    "level": "street",
                    "parent_path": "yuhang",
                }
                await command(body, f"street-{streets:04d}")
                streets += 1
            await killer
            runtime = service_runtime(client)
            await eventually(lambda: _connected(runtime), timeout=30)
            created = [s async for s in runtime.store.read() if s.event_type == "OrgUnitCreated"]
    finally:
        holder["server"].stop()
    assert set(statuses) <= {201, 503}, set(statuses)
    assert 503 in statuses  # the kills did hit commands in flight
    assert len(created) == streets + 1  # every acknowledged creation is there, and none twice


async def _connected(runtime: ServiceRuntime) -> bool:
    return bool(runtime.nc.is_connected)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs, so a full disk can be produced for real."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_under_the_read_models_stalls_the_projection_which_recovers_when_space_returns(
    service_settings: Settings, small_disk: Path
) -> None:
    if service_settings.database_url:
        pytest.skip("this case is about the SQLite file; PostgreSQL manages its own disk")
    ballast = small_disk / "ballast"
    settings = service_settings.model_copy(
        update={"members_database_url": f"sqlite:///{small_disk / 'members.db'}"}
    )
    admin = bearer(settings, "administrator", scope="yuhang")
    async with running(create_app(settings)) as client:
        assert (await wait_ready(client)).status_code == 200
        await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        ballast.write_bytes(b"\0" * (free - 4096))
        positions = []
        for n in range(60):
            body = {"code": f"s{n:02d}", "name": "街" * 150, "level": "street", "parent_path": "yuhang"}
            reply = await client.post("/org-units", json=body, headers=admin)
            assert reply.status_code == 201  # commands go to the event log, not to this disk
            positions.append(reply.json()["position"])
        runtime = service_runtime(client)
        runner = next(r for r in runtime.runners if r.projection.name == "members.org_units")
        await asyncio.sleep(1.0)
        assert runner.status.position < positions[-1]  # stalled on the full disk, not skipping
        assert runner.status.halted_reason is None  # a full disk is transient, not a halt
        ballast.unlink()

        async def caught_up() -> bool:
            return bool(runner.status.position >= positions[-1])

        assert await eventually(caught_up, timeout=60)
        listed = await client.get("/org-units", headers=admin)
        assert len(listed.json()) == 61


async def test_a_full_disk_under_nats_reports_no_success_and_the_node_recovers_once_space_returns(
    small_disk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "nats.conf"
    store = small_disk / "js"
    config.write_text(
        SERVER_CONFIG.format(
            host="127.0.0.1", name="small", port=-1, monitor_port=-1, store_dir=store, sync="always"
        ).replace(
            "sync_interval: always", "sync_interval: always\n  max_file_store: 1GB"
        )  # the disk, not a quota, runs out
    )
    stats = os.statvfs(small_disk)
    (small_disk / "ballast").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 400_000))
    server = run_nats_config(config, data_dir=tmp_path, store_dir=store)
    settings = Settings(
        var_dir=tmp_path,
        nats_url=server.url,
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="ERROR",
    )
    nc = await connect(settings, name="init")
    await provision(nc, ProvisionOptions(monitor_url=server.monitor_url))
    await nc.close()
    admin = bearer(settings, "administrator", scope="yuhang")
    refused: dict[str, object] = {}
    try:
        async with running(create_app(settings)) as client:
            assert (await wait_ready(client)).status_code == 200
            runtime = service_runtime(client)
            assert isinstance(runtime.store, JetStreamEventStore)
            runtime.store.settings = dataclasses.replace(
                runtime.store.settings, publish_timeout=0.5, publish_attempts=2
            )
            await client.post(
                "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
            )
            for n in range(2000):
                body = {"code": f"s{n:04d}", "name": "街" * 190, "level": "street", "parent_path": "yuhang"}
                reply = await client.post("/org-units", json=body, headers=admin)
                if reply.status_code != 201:
                    refused = {
                        "code": body["code"],
                        "status": reply.status_code,
                        "detail": reply.json()["detail"],
                    }
                    break
        assert refused["status"] == 503, refused
        assert "retry" in str(refused["detail"])
    finally:
        server.stop()
    (small_disk / "ballast").unlink()
    server = run_nats_config(config, data_dir=tmp_path, store_dir=store)  # space back, node restarted
    try:
        recovered = settings.model_copy(update={"nats_url": server.url})
        async with running(create_app(recovered)) as client:
            assert (await wait_ready(client, timeout=60)).status_code == 200
            runtime = service_runtime(client)
            written = {s.subject.split(".")[3] async for s in runtime.store.read()}
            assert unit_id_for(f"yuhang/{refused['code']}") not in written  # refused means not written
            again = {"code": "after", "name": "恢复", "level": "street", "parent_path": "yuhang"}
            assert (await client.post("/org-units", json=again, headers=admin)).status_code == 201
    finally:
        server.stop()


async def test_oversized_input_is_refused_before_anything_is_written(service_settings: Settings) -> None:
    secretary = bearer(service_settings, "secretary", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        too_many = [{"name": f"r{n}"} for n in range(31)]
        crowded = await client.post(
            "/households",
            json={"org_unit": "yuhang/b", "room": "1", "residents": too_many},
            headers=secretary,
        )
        long_name = await client.post(
            "/households",
            json={"org_unit": "yuhang/b", "room": "1", "residents": [{"name": "名" * 101}]},
            headers=secretary,
        )
        huge = await client.post(
            "/households",
            content=b'{"room": "' + b"x" * 2_000_000 + b'"}',
            headers={**secretary, "Content-Type": "application/json"},
        )
        assert (crowded.status_code, long_name.status_code, huge.status_code) == (422, 422, 413)
        runtime = service_runtime(client)
        assert await runtime.store.last_position() == 0
