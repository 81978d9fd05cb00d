"""Search through HTTP with real NATS and SQLite (and PostgreSQL when configured): a secretary finds
a resident by what she would type — the start of a phone, its last 4 digits, the name, 2
characters of it, its pinyin initials — a household by building and room, an enterprise by name
or credit code; only in her scope; and never someone who was erased."""

from __future__ import annotations

from datetime import date
from typing import Any

from conftest import bearer, running, service_runtime
from services.members.tests.test_members_api import COMMUNITY, CREDIT_CODE, Desk
from sqlalchemy import select

from fourlinks_members.bootstrap import create_app
from fourlinks_members.projections.search import search_entries, search_terms
from fourlinks_runtime.settings import Settings


def _found(answer: dict[str, Any], group: str, key: str) -> list[str]:
    return [hit[key] for hit in answer[group]]


async def _district(desk: Desk) -> dict[str, str]:
    """A member, three households (room 502 in both buildings) and an enterprise."""
    await desk.build_community()
    member = await desk.post(
        "/members",
        {
            "name": "张建国",
            "public_phone": "0571-88880001",
            "party_branch": "星河第一支部",
            "org_unit": f"{COMMUNITY}/b1",
        },
    )
    wang = await desk.household("b1", "101", "王小明", "139 1234 5678")
    b1_502 = await desk.household("b1", "502", "赵丽", "13800001111")
    b2_502 = await desk.household("b2", "502", "钱多多", "13700002222")
    firm = await desk.post(
        "/enterprises",
        {
            "org_unit": COMMUNITY,
            "name": "星河便利店",
            "credit_code": CREDIT_CODE,
            "address": "星河路1号",
            "contact_name": "孙老板",
            "contact_phone": "13600003333",
        },
    )
    return {"member": member, "wang": wang, "b1_502": b1_502, "b2_502": b2_502, "firm": firm}


async def test_a_resident_is_found_by_phone_start_last_four_name_part_and_initials(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        made = await _district(desk)
        for typed in (
            "1391",
            "139-1234",
            "139123456",
            "13912345678",
            "5678",
            "王小明",
            "小明",
            "王小",
            "wxm",
        ):
            found = await desk.get("/search", q=typed)
            assert _found(found, "residents", "household_id") == [made["wang"]], typed
        hit = (await desk.get("/search", q="wxm"))["residents"][0]
        assert (hit["name"], hit["phone_tail"], hit["room"]) == ("王小明", "5678", "101")
        assert "phone" not in hit  # a hit tells two people apart by 4 digits, never shows the number
        assert (await desk.get("/search", q="王大明"))["residents"] == []
        assert (await desk.get("/search", q="139123400"))["residents"] == []  # its first 7 digits match


async def test_households_by_room_and_building_members_and_enterprises_by_what_people_type(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        made = await _district(desk)
        assert set(_found(await desk.get("/search", q="502"), "households", "household_id")) == {
            made["b1_502"],
            made["b2_502"],
        }
        for typed in ("2幢502", "2-1-502", "2栋502室"):
            found = await desk.get("/search", q=typed)
            assert _found(found, "households", "household_id") == [made["b2_502"]], typed
        assert (await desk.get("/search", q="2幢502"))["households"][0]["residents"] == ["钱多多"]
        assert _found(await desk.get("/search", q="张建国"), "members", "member_id") == [made["member"]]
        assert _found(await desk.get("/search", q="8888"), "members", "member_id") == [made["member"]]
        for typed in ("星河便利店", "便利", CREDIT_CODE.lower(), "孙老板", "1360000"):
            found = await desk.get("/search", q=typed)
            assert _found(found, "enterprises", "enterprise_id") == [made["firm"]], typed


async def test_a_search_finds_only_what_the_reader_may_see_in_their_scope(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        await _district(desk)
        elsewhere = bearer(service_settings, "secretary", scope="yuhang/nanyuan/other")
        for typed in ("王小明", "1391", "502", "张建国", "星河便利店"):
            found = await desk.get("/search", headers=elsewhere, q=typed)
            assert not any(found[g] for g in ("residents", "members", "households", "enterprises")), typed
        inspector = bearer(service_settings, "inspector", scope=COMMUNITY)
        checked = await desk.get("/search", headers=inspector, q="张建国")
        assert _found(checked, "members", "name") == ["张建国"]
        assert (await desk.get("/search", headers=inspector, q="王小明"))["residents"] == []
        resident = bearer(service_settings, "resident", scope=COMMUNITY)
        assert (await client.get("/search", params={"q": "王小明"}, headers=resident)).status_code == 403
        wider = await client.get("/search", params={"q": "王小明", "unit": "yuhang"}, headers=desk.secretary)
        assert wider.status_code == 403


async def test_an_erased_resident_or_household_is_found_by_nothing_and_leaves_no_index_row(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        made = await _district(desk)
        household = await desk.get(f"/households/{made['wang']}")
        resident_id = household["residents"][0]["resident_id"]
        engine = service_runtime(client).engine
        async with engine.connect() as conn:
            kept = (
                await conn.execute(select(search_terms).where(search_terms.c.entry_id == resident_id))
            ).all()
        assert len(kept) > 10
        assert all(len(row.token) == 32 for row in kept)

        await desk.post(f"/households/{made['wang']}/residents/{resident_id}/erase", {})
        for typed in ("1391", "5678", "王小明", "小明", "wxm"):
            assert (await desk.get("/search", q=typed))["residents"] == [], typed
        async with engine.connect() as conn:
            entries = select(search_entries).where(search_entries.c.entry_id == resident_id)
            terms = select(search_terms).where(search_terms.c.entry_id == resident_id)
            assert (await conn.execute(entries)).all() == []
            assert (await conn.execute(terms)).all() == []
        assert _found(await desk.get("/search", q="101"), "households", "household_id") == [made["wang"]]

        await desk.post(f"/households/{made['b2_502']}/erase", {})  # the household with its residents
        assert (await desk.get("/search", q="钱多多"))["residents"] == []
        assert _found(await desk.get("/search", q="502"), "households", "household_id") == [made["b1_502"]]
        async with engine.connect() as conn:
            theirs = select(search_entries).where(search_entries.c.target_id == made["b2_502"])
            assert (await conn.execute(theirs)).all() == []


async def test_a_household_page_reads_its_visits_latest_first(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        made = await _district(desk)
        visit = {
            "member_id": made["member"],
            "contact_kind": "household",
            "contact_id": made["wang"],
            "visited_on": date.today().isoformat(),
            "problem": {"category": "repairs", "description": "楼道灯坏了", "urgency": "general"},
        }
        await desk.post("/visits", visit)
        visits = await desk.get(f"/households/{made['wang']}/visits")
        assert [(v["member_id"], v["problem_category"]) for v in visits] == [(made["member"], "repairs")]
        elsewhere = bearer(service_settings, "secretary", scope="yuhang/nanyuan/other")
        refused = await client.get(f"/households/{made['wang']}/visits", headers=elsewhere)
        assert refused.status_code == 403
