"""The shipped cluster config on three loopback nodes from the pinned binary: the stream with three
replicas, a node killed while commands flow, no acknowledged event lost, commands still accepted,
and the node catching up when it comes back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
from conftest import (
    NATS_PASSWORDS,
    TEST_JWT_SECRET,
    TEST_MASTER_KEY,
    Cluster,
    bearer,
    provision_when_formed,
    running,
    service_runtime,
    stream_info,
    wait_ready,
)
from pydantic import SecretStr

from fourlinks_kernel.envelope import EVENT_TYPE_HEADER
from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.org_units import unit_id_for
from fourlinks_runtime.settings import Settings


async def test_a_node_killed_while_commands_flow_loses_no_acknowledged_event_and_catches_up(
    cluster: Cluster, tmp_path: Path
) -> None:
    await provision_when_formed(cluster)
    info = await stream_info(cluster.urls)
    assert info["config"]["num_replicas"] == 3
    settings = Settings(
        var_dir=tmp_path,
        nats_url=cluster.urls,
        nats_user="members",
        nats_password=SecretStr("members-secret"),
        master_key=TEST_MASTER_KEY,
        jwt_secret=TEST_JWT_SECRET,
        log_level="WARNING",
    )
    admin = bearer(settings, "administrator", scope="yuhang")
    acknowledged: list[str] = []
    refused: list[int] = []
    async with running(create_app(settings)) as client:
        assert (await wait_ready(client)).status_code == 200
        assert service_runtime(client).nc.max_payload == 8 * 1024 * 1024  # the shipped config's limit
        created = await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        assert created.status_code == 201

        async def flow(start: int, count: int) -> None:
            """Commands as a client sends them: retried with the same key while the answer is 503."""
            for n in range(start, start + count):
                body = {"code": f"s{n:03d}", "name": f"街道{n}", "level": "street", "parent_path": "yuhang"}
                for _ in range(200):
                    reply = await client.post(
                        "/org-units", json=body, headers={**admin, "Idempotency-Key": f"street-{n:04d}"}
                    )
                    if reply.status_code != 503:
                        break
                    refused.append(reply.status_code)
                    await asyncio.sleep(0.1)
                if reply.status_code == 201:
                    acknowledged.append(f"yuhang/s{n:03d}")
                else:
                    refused.append(reply.status_code)

        await flow(0, 20)
        cluster.kill(1)
        await flow(20, 40)
        after_kill = [path for path in acknowledged if int(path[-3:]) >= 20]
        assert len(after_kill) >= 20, f"commands stopped being accepted: {refused}"
        assert set(refused) <= {409, 503}  # a leader election answers "retry", never a wrong success

    cluster.nodes[1] = cluster.start(1)
    for _ in range(60):
        info = await stream_info(cluster.urls)
        replicas = info.get("cluster", {}).get("replicas", [])
        if len(replicas) == 2 and all(r.get("current") and not r.get("lag") for r in replicas):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"the restarted node did not catch up: {info.get('cluster')}")

    nc = await nats.connect(
        cluster.urls.split(","), user="admin", password=NATS_PASSWORDS["FOURLINKS_NATS_ADMIN_PASSWORD"]
    )
    try:
        for path in acknowledged:
            subject = f"fourlinks.members.org_unit.{unit_id_for(path)}"
            reply = await nc.request(
                "$JS.API.DIRECT.GET.FOURLINKS_EVENTS",
                json.dumps({"last_by_subj": subject}).encode(),
                timeout=5,
            )
            headers = reply.headers or {}
            assert headers.get("Nats-Subject") == subject, f"acknowledged {path} is missing"
            assert headers.get(EVENT_TYPE_HEADER) == "OrgUnitCreated"
    finally:
        await nc.close()
    assert info["state"]["messages"] >= len(acknowledged) + 1
