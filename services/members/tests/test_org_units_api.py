"""The members service end to end: HTTP command → JetStream → projection → HTTP query."""

from __future__ import annotations

import asyncio

from conftest import bearer, running, wait_ready

from fourlinks_kernel.projection import checkpoints
from fourlinks_members.bootstrap import create_app
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.settings import Settings


async def test_an_administrator_builds_the_org_tree_and_sees_it_in_the_read_model(
    service_settings: Settings,
) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        district = await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        assert district.status_code == 201, district.text
        street = await client.post(
            "/org-units",
            json={"code": "nanyuan", "name": "南苑街道", "level": "street", "parent_path": "yuhang"},
            headers=admin,
        )
        assert street.status_code == 201, street.text
        renamed = await client.patch(
            f"/org-units/{street.json()['id']}", json={"name": "南苑"}, headers=admin
        )
        position = str(renamed.json()["position"])
        listed = await client.get("/org-units", headers={**admin, "X-Min-Position": position})
        assert [(u["path"], u["name"]) for u in listed.json()] == [
            ("yuhang", "余杭区"),
            ("yuhang/nanyuan", "南苑"),
        ]
        ready = await wait_ready(client)
        assert ready.status_code == 200, ready.text


async def test_bad_input_and_missing_parents_get_clear_4xx_and_nothing_is_written(
    service_settings: Settings,
) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        orphan = await client.post(
            "/org-units",
            json={"code": "xinghe", "name": "星河社区", "level": "community", "parent_path": "yuhang/x"},
            headers=admin,
        )
        assert orphan.status_code == 404
        assert "does not exist" in orphan.json()["detail"]
        bad = await client.post(
            "/org-units", json={"code": "Not Valid!", "name": "x", "level": "district"}, headers=admin
        )
        assert bad.status_code == 422
        first = await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        twice = await client.post(
            "/org-units", json={"code": "yuhang", "name": "again", "level": "district"}, headers=admin
        )
        assert (first.status_code, twice.status_code) == (201, 409)
        wrong_level = await client.post(
            "/org-units",
            json={"code": "b1", "name": "1幢", "level": "building", "parent_path": "yuhang"},
            headers=admin,
        )
        assert wrong_level.status_code == 422
        assert "cannot sit under" in wrong_level.json()["detail"]


async def test_tokens_roles_and_scopes_are_enforced(service_settings: Settings) -> None:
    body = {"code": "yuhang", "name": "余杭区", "level": "district"}
    async with running(create_app(service_settings)) as client:
        assert (await client.post("/org-units", json=body)).status_code == 401
        forged = {"Authorization": "Bearer not.a.token"}
        assert (await client.post("/org-units", json=body, headers=forged)).status_code == 401
        secretary = bearer(service_settings, "secretary", scope="yuhang")
        assert (await client.post("/org-units", json=body, headers=secretary)).status_code == 403
        elsewhere = bearer(service_settings, "administrator", scope="linping")
        refused = await client.post("/org-units", json=body, headers=elsewhere)
        assert refused.status_code == 403
        assert "outside your scope" in refused.json()["detail"]


async def test_a_retried_request_with_the_same_idempotency_key_is_recorded_once(
    service_settings: Settings,
) -> None:
    admin = {
        **bearer(service_settings, "administrator", scope="yuhang"),
        "Idempotency-Key": "create-yuhang-0001",
    }
    body = {"code": "yuhang", "name": "余杭区", "level": "district"}
    async with running(create_app(service_settings)) as client:
        first = await client.post("/org-units", json=body, headers=admin)
        again = await client.post("/org-units", json=body, headers=admin)
        assert (first.status_code, again.status_code) == (201, 201)
        assert (again.json()["id"], again.json()["position"]) == (
            first.json()["id"],
            first.json()["position"],
        )
        assert again.json()["duplicate"]


async def test_operations_endpoints_describe_and_measure_the_service(service_settings: Settings) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        metrics = (await client.get("/metrics")).text
        assert 'fourlinks_commands_total{command="CreateOrgUnit",outcome="ok"} 1.0' in metrics
        assert "fourlinks_projection_lag" in metrics
        asyncapi = (await client.get("/asyncapi.json")).json()
        assert any("OrgUnitCreated" in name for name in asyncapi["channels"])
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/health/live")).json() == {"status": "live"}


async def test_readiness_turns_red_when_a_projection_halts_on_a_log_regression(
    service_settings: Settings,
) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(create_app(service_settings)) as client:
        created = await client.post(
            "/org-units", json={"code": "yuhang", "name": "余杭区", "level": "district"}, headers=admin
        )
        seen = {**admin, "X-Min-Position": str(created.json()["position"])}
        assert len((await client.get("/org-units", headers=seen)).json()) == 1
    engine = await create_engine_with_schema(*service_settings.read_model_database("members"))
    async with engine.begin() as conn:
        await conn.execute(checkpoints.update().values(position=10_000))  # as if the log lost writes
    await engine.dispose()
    async with running(create_app(service_settings)) as client:
        for _ in range(100):
            ready = await client.get("/health/ready")
            if ready.json()["projections"]["members.org_units"]["halted_reason"]:
                break
            await asyncio.sleep(0.02)
        assert ready.status_code == 503
        assert "log regression" in ready.json()["projections"]["members.org_units"]["halted_reason"]
        metrics = (await client.get("/metrics")).text
        assert 'fourlinks_projection_halted{projection="members.org_units"} 1.0' in metrics
