"""A rolling upgrade on the loopback cluster (docs/operations.md, "Upgrade a service"): a release
whose projections have new versions builds its read models into a database of its own while the
old release keeps taking commands and answering reads; once it is ready it takes over, and every
command the old release acknowledged, before and during the rebuild, is in its answers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import (
    TEST_JWT_SECRET,
    TEST_MASTER_KEY,
    Cluster,
    bearer,
    provision_when_formed,
    running,
    service_runtime,
    wait_ready,
)
from pydantic import SecretStr
from sqlalchemy import select

from fourlinks_kernel.projection import Projection, checkpoints
from fourlinks_members.bootstrap import definition
from fourlinks_runtime.app import create_app
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.settings import Settings


def next_release(released: ServiceDefinition) -> ServiceDefinition:
    """The same service with every projection one version on, as a release that changes them."""

    def bumped(factory: Callable[[], Projection]) -> Callable[[], Projection]:
        kind = type(factory())
        return type(kind.__name__, (kind,), {"version": kind.version + 1})

    return dataclasses.replace(released, projections=tuple(bumped(p) for p in released.projections))


def settings_on(cluster: Cluster, var_dir: Path) -> Settings:
    """A members replica on the cluster, its read models in a SQLite file under `var_dir`."""
    return Settings(
        var_dir=var_dir,
        nats_url=cluster.urls,
        nats_user="members",
        nats_password=SecretStr("members-secret"),
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="WARNING",
    )


async def streets_created(
    old: httpx.AsyncClient, admin: dict[str, str], made: dict[str, int], stop: asyncio.Event
) -> None:
    """A district office adding streets through the old release until told to stop: each street's
    path and the position its event was acknowledged at."""
    n = 0
    while not stop.is_set():
        body = {"code": f"s{n:03d}", "name": f"街道{n}", "level": "street", "parent_path": "yuhang"}
        reply = await old.post(
            "/org-units", json=body, headers={**admin, "Idempotency-Key": f"street-{n:04d}"}
        )
        assert reply.status_code == 201, reply.text
        made[f"yuhang/s{n:03d}"] = reply.json()["position"]
        n += 1


async def test_a_new_projection_version_rebuilds_beside_the_old_release_and_takes_over(
    cluster: Cluster, tmp_path: Path
) -> None:
    await provision_when_formed(cluster)
    old_settings = settings_on(cluster, tmp_path / "release-1")
    admin = bearer(old_settings, "administrator", scope="yuhang")
    made: dict[str, int] = {}
    stop = asyncio.Event()
    async with running(create_app(definition(), old_settings)) as old:
        assert (await wait_ready(old)).status_code == 200
        created = await old.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        assert created.status_code == 201
        writing = asyncio.create_task(streets_created(old, admin, made, stop))
        while len(made) < 10:
            await asyncio.sleep(0.02)
        upgraded = next_release(definition())
        async with running(create_app(upgraded, settings_on(cluster, tmp_path / "release-2"))) as new:
            during = len(made)
            assert (await wait_ready(new, timeout=60)).status_code == 200
            listed = await old.get("/org-units", headers=admin)  # the old release still answers reads
            assert listed.status_code == 200
            while len(made) < during + 10:
                await asyncio.sleep(0.02)
            stop.set()
            await writing
            # The old release stops here; the new one answers with everything it acknowledged.
            last = str(max(made.values()))
            answer = await new.get("/org-units", headers={**admin, "X-Min-Position": last})
            assert answer.status_code == 200
            paths = {unit["path"] for unit in answer.json()}
            assert set(made) <= paths, sorted(set(made) - paths)
            assert during >= 10  # acknowledged by the old release before the new one started, and after
            async with service_runtime(new).engine.connect() as conn:
                rows = await conn.execute(select(checkpoints.c.name, checkpoints.c.version))
                versions = {str(name): int(version) for name, version in rows}
    assert versions == {p().name: p().version for p in upgraded.projections}
    assert all(version >= 2 for version in versions.values())
