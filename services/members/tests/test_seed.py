"""The district generator goes through the real commands and gives coverage something to show."""

from __future__ import annotations

from conftest import bearer, running, wait_ready

from fourlinks_members.bootstrap import create_app
from fourlinks_members.seed import plan_size, seed_district
from fourlinks_runtime.settings import Settings


async def test_a_small_district_is_seeded_once_and_mostly_covered(service_settings: Settings) -> None:
    made = await seed_district(service_settings, district="yuhang", scale=0.02, seed=7)
    assert made == {"members": 100, "households": 500, "enterprises": 100, "cards": 100}
    assert plan_size(0.02)["households"] == 500
    assert await seed_district(service_settings, district="yuhang", scale=0.02, seed=7) is None
    async with running(create_app(service_settings)) as client:
        assert (await wait_ready(client, timeout=60)).status_code == 200
        coverage = (
            await client.get("/coverage", headers=bearer(service_settings, "secretary", scope="yuhang"))
        ).json()
    assert coverage["households"]["total"] == 500
    assert coverage["enterprises"]["total"] == 100
    assert coverage["members_active"] == 100
    assert coverage["members_over_capacity"] == 0
    assert 0.85 < coverage["coverage_rate"] < 1.0  # a few contacts are left uncovered on purpose


async def test_a_district_seeded_under_its_own_name_has_its_own_streets(service_settings: Settings) -> None:
    """`make province` seeds three districts: each reads as itself, not as Yuhang."""
    await seed_district(service_settings, district="gongshu", scale=0.01, seed=8, name="拱墅区")
    async with running(create_app(service_settings)) as client:
        assert (await wait_ready(client, timeout=60)).status_code == 200
        reader = bearer(service_settings, "secretary", scope="gongshu")
        names = (
            await client.get("/names/units", params={"paths": ["gongshu", "gongshu/s01"]}, headers=reader)
        ).json()
    assert "拱墅区" in str(names)
    assert "米市巷街道" in str(names)
    assert "余杭区" not in str(names)
