"""The members service through HTTP with real NATS and SQLite (and PostgreSQL when configured)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from conftest import bearer, running, wait_ready

from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.rules import credit_code_check_char
from fourlinks_runtime.settings import Settings

COMMUNITY = "yuhang/nanyuan/xinghe"
CREDIT_CODE = "91330110MA2B00001" + credit_code_check_char("91330110MA2B00001")


class Desk:
    """A secretary's desk: posts commands and reads their results."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.admin = bearer(settings, "administrator", scope="yuhang")
        self.secretary = bearer(settings, "secretary", scope=COMMUNITY, subject="secretary-xinghe")
        self.position = 0

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        reply = await self.client.post(path, json=body, headers=headers or self.secretary)
        assert reply.status_code in (200, 201), reply.text
        self.position = max(self.position, reply.json()["position"])
        return str(reply.json()["id"])

    async def put(self, path: str, body: dict[str, Any]) -> None:
        reply = await self.client.put(path, json=body, headers=self.secretary)
        assert reply.status_code == 200, reply.text
        self.position = max(self.position, reply.json()["position"])

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        reply = await self.client.get(
            path, params=params, headers={**(headers or self.secretary), "X-Min-Position": str(self.position)}
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def build_community(self) -> None:
        for code, level, parent in [
            ("yuhang", "district", None),
            ("nanyuan", "street", "yuhang"),
            ("xinghe", "community", "yuhang/nanyuan"),
            ("b1", "building", COMMUNITY),
            ("b2", "building", COMMUNITY),
        ]:
            await self.post(
                "/org-units", {"code": code, "name": code, "level": level, "parent_path": parent}, self.admin
            )

    async def household(self, building: str, room: str, name: str, phone: str) -> str:
        body = {
            "org_unit": f"{COMMUNITY}/{building}",
            "unit_no": "1",
            "room": room,
            "residents": [{"name": name, "phone": phone, "elderly_living_alone": True}],
        }
        return await self.post("/households", body)


async def test_a_community_is_covered_served_revised_and_uncovered_through_the_api(
    service_settings: Settings, tmp_path: Path
) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        await desk.build_community()
        near = await desk.post(
            "/members",
            {
                "name": "张建国",
                "public_phone": "0571-88880001",
                "party_branch": "星河第一支部",
                "org_unit": f"{COMMUNITY}/b1",
                "capacity": 3,
            },
        )
        spare = await desk.post(
            "/members",
            {
                "name": "李红梅",
                "public_phone": "0571-88880002",
                "party_branch": "星河第二支部",
                "org_unit": f"{COMMUNITY}/b2",
            },
        )
        h1 = await desk.household("b1", "101", "王小明", "13912345678")
        h2 = await desk.household("b1", "102", "赵丽", "13912345679")
        h3 = await desk.household("b2", "201", "钱多", "13912345670")
        e1 = await desk.post(
            "/enterprises",
            {
                "org_unit": COMMUNITY,
                "name": "星河便利店",
                "credit_code": CREDIT_CODE,
                "address": "星河路1号",
                "contact_name": "孙老板",
                "contact_phone": "13800000001",
            },
        )
        card = await desk.post(
            f"/members/{near}/card",
            {"households": [h1, h2], "enterprises": [e1], "service_matters": ["repairs", "elderly_care"]},
        )

        household_token = bearer(service_settings, "resident", scope=COMMUNITY, subject=h1)
        own_card = await desk.get(f"/households/{h1}/card", headers=household_token)
        assert own_card["member"]["name"] == "张建国"
        assert own_card["card"]["public_phone"] == "0571-88880001"
        assert [m["code"] for m in own_card["card"]["service_matters"]] == ["repairs", "elderly_care"]
        other_household = bearer(service_settings, "resident", scope=COMMUNITY, subject=h3)
        refused = await client.get(f"/households/{h1}/card", headers=other_household)
        assert refused.status_code == 404

        dashboard = await desk.get(
            f"/members/{near}/dashboard",
            headers=bearer(service_settings, "member", scope=COMMUNITY, subject=near),
        )
        assert {h["household_id"] for h in dashboard["households"]} == {h1, h2}
        assert dashboard["households"][0]["residents"][0]["name"] in {"王小明", "赵丽"}
        not_mine = await client.get(
            f"/members/{spare}/dashboard",
            headers=bearer(service_settings, "member", scope=COMMUNITY, subject=near),
        )
        assert not_mine.status_code == 403

        coverage = await desk.get("/coverage", unit=COMMUNITY)
        assert (
            coverage["households"]["covered"],
            coverage["enterprises"]["covered"],
            coverage["coverage_rate"],
        ) == (2, 1, 0.75)

        taken = await client.post(
            f"/members/{spare}/card",
            json={"households": [h1], "service_matters": ["repairs"]},
            headers=desk.secretary,
        )
        assert taken.status_code == 409
        assert "already in the scope" in taken.json()["detail"]
        assert taken.json()["code"] == "contact_on_other_card"  # the console words it by its code
        assert taken.json()["params"] == {"kind": "household", "contact": h1, "member": near}

        await desk.put(
            f"/members/{near}/card",
            {
                "households": [h1, h3],
                "enterprises": [e1],
                "service_matters": ["repairs"],
                "reason": "b2 joins",
            },
        )
        history = await desk.get(f"/cards/{card}/history")
        assert [(r["revision"], r["households"]) for r in history] == [(1, [h1, h2]), (2, [h1, h3])]
        assert (await desk.get(f"/households/{h1}/member-on", on=date.today().isoformat()))[
            "member_id"
        ] == near

        await desk.post(f"/members/{near}/deactivate", {"reason": "moved_away", "note": "搬迁"})
        after = await desk.get("/coverage", unit=COMMUNITY)
        assert after["coverage_rate"] == 0.0
        uncovered = await desk.get("/coverage/uncovered", unit=COMMUNITY, kind="household")
        assert uncovered["total"] == 3
        assert all(item["suggested_members"][0]["member_id"] == spare for item in uncovered["items"])
        both = await desk.get("/coverage/uncovered", unit=COMMUNITY, limit=3, offset=2)
        assert (both["total"], after["uncovered"]) == (4, 4)  # the enterprise too, after the households
        assert [bool(i["household_id"]) for i in both["items"]] == [True, False]
        assert both["items"][1]["enterprise_id"] == e1
        suggestions = await desk.get(f"/households/{h3}/suggested-members")
        assert suggestions[0]["nearness"] == 4  # same building b2 beats the community

        answers = {
            "coverage": after,
            "uncovered": sorted(i["household_id"] for i in uncovered["items"]),
            "card": await desk.get(f"/households/{h1}/card"),
            "history": [(r["revision"], r["households"], r["reason"]) for r in history],
        }
        assert await wait_ready(client)

    rebuilt = service_settings.model_copy(
        update={"members_database_url": f"sqlite:///{tmp_path / 'rebuilt.db'}"}
    )
    async with running(create_app(rebuilt)) as client:
        assert (await wait_ready(client)).status_code == 200
        desk = Desk(client, rebuilt)
        history = await desk.get(f"/cards/{card}/history")
        uncovered = await desk.get("/coverage/uncovered", unit=COMMUNITY, kind="household")
        assert {
            "coverage": await desk.get("/coverage", unit=COMMUNITY),
            "uncovered": sorted(i["household_id"] for i in uncovered["items"]),
            "card": await desk.get(f"/households/{h1}/card"),
            "history": [(r["revision"], r["households"], r["reason"]) for r in history],
        } == answers


async def test_visits_overdue_households_erasure_and_phone_lookup(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
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
        household = await desk.household("b1", "101", "王小明", "139 1234 5678")
        found = await desk.get("/households/lookup", phone="13912345678")
        assert [h["household_id"] for h in found] == [household]

        member_token = bearer(service_settings, "member", scope=COMMUNITY, subject=member)
        visit = {
            "member_id": member,
            "contact_kind": "household",
            "contact_id": household,
            "visited_on": date.today().isoformat(),
            "notes": "老人独居，楼道灯坏了",
            "problem": {"category": "repairs", "description": "楼道灯坏了", "urgency": "general"},
        }
        await desk.post("/visits", visit, headers=member_token)
        someone_else = bearer(service_settings, "member", scope=COMMUNITY, subject="another-member")
        assert (await client.post("/visits", json=visit, headers=someone_else)).status_code == 403
        overdue = await desk.get("/households", unit=COMMUNITY, overdue=True)
        assert overdue["total"] == 0

        details = await desk.get(f"/households/{household}")
        resident_id = details["residents"][0]["resident_id"]
        await desk.post(f"/households/{household}/residents/{resident_id}/erase", {})
        erased = (await desk.get(f"/households/{household}"))["residents"][0]
        assert (erased["name"], erased["phone"], erased["erased"]) == (None, None, True)
        assert await desk.get("/households/lookup", phone="13912345678") == []
        again = await client.post(
            f"/households/{household}/residents/{resident_id}/erase", json={}, headers=desk.secretary
        )
        assert again.status_code == 409

        firm_body = {
            "org_unit": COMMUNITY,
            "name": "星河便利店",
            "credit_code": CREDIT_CODE,
            "address": "星河路1号",
            "contact_name": "孙老板",
            "contact_phone": "13800000001",
        }
        enterprise = await desk.post("/enterprises", firm_body)
        await desk.post(f"/enterprises/{enterprise}/contact/erase", {})
        firm = await desk.get(f"/enterprises/{enterprise}")
        assert (firm["contact_name"], firm["contact_phone"], firm["contact_erased"]) == (None, None, True)
        assert firm["name"] == "星河便利店"


async def test_bad_input_gets_clear_4xx_and_writes_nothing(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        await desk.build_community()
        bad_code = await client.post(
            "/enterprises",
            headers=desk.secretary,
            json={
                "org_unit": COMMUNITY,
                "name": "x",
                "credit_code": CREDIT_CODE[:-1] + ("0" if CREDIT_CODE[-1] != "0" else "1"),
                "address": "y",
                "contact_name": "z",
            },
        )
        assert bad_code.status_code == 422
        assert "checksum" in bad_code.json()["detail"]
        no_unit = await client.post(
            "/members",
            headers=desk.secretary,
            json={
                "name": "a",
                "public_phone": "0571-1234567",
                "party_branch": "b",
                "org_unit": f"{COMMUNITY}/b9",
            },
        )
        assert no_unit.status_code == 404
        outside = await client.post(
            "/members",
            headers=desk.secretary,
            json={
                "name": "a",
                "public_phone": "0571-1234567",
                "party_branch": "b",
                "org_unit": "yuhang/nanyuan",
            },
        )
        assert outside.status_code == 403
        unknown_member = await client.post(
            f"/members/{uuid.uuid4()}/card", headers=desk.secretary, json={"service_matters": ["repairs"]}
        )
        assert unknown_member.status_code == 404
        malformed_member = await client.post(
            "/members/nobody/card", headers=desk.secretary, json={"service_matters": ["repairs"]}
        )
        assert malformed_member.status_code == 422
        assert (
            await client.get("/members", headers=bearer(service_settings, "resident", scope=COMMUNITY))
        ).status_code == 403
        assert (await desk.get("/households", unit=COMMUNITY))["total"] == 0
