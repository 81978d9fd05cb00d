"""A unit's visit ledger (走访台账): the visits to its households and enterprises in a month,
oldest first, for the staff of the unit only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from conftest import bearer, running

from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.rules import credit_code_check_char
from fourlinks_runtime.settings import Settings

COMMUNITY = "yuhang/nanyuan/xinghe"
NEIGHBOURS = "yuhang/nanyuan/linping"
CREDIT_CODE = "91330110MA2B00002" + credit_code_check_char("91330110MA2B00002")


class Desk:
    """A community's secretary (and the district's administrator) writing and reading."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.admin = bearer(settings, "administrator", scope="yuhang")
        self.secretary = bearer(settings, "secretary", scope=COMMUNITY)
        self.position = 0

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        reply = await self.client.post(path, json=body, headers=headers or self.secretary)
        assert reply.status_code == 201, reply.text
        self.position = max(self.position, reply.json()["position"])
        return str(reply.json()["id"])

    async def ledger(self, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await self.client.get(
            "/visits",
            params=params,
            headers={**(headers or self.secretary), "X-Min-Position": str(self.position)},
        )


async def a_community(desk: Desk) -> tuple[str, str, str]:
    """A community with a building, a member, a household and an enterprise."""
    for code, level, parent in [
        ("yuhang", "district", None),
        ("nanyuan", "street", "yuhang"),
        ("xinghe", "community", "yuhang/nanyuan"),
        ("linping", "community", "yuhang/nanyuan"),
        ("b3", "building", COMMUNITY),
    ]:
        await desk.post(
            "/org-units", {"code": code, "name": code, "level": level, "parent_path": parent}, desk.admin
        )
    member = await desk.post(
        "/members",
        {
            "name": "吴宇霞",
            "public_phone": "0571-88880001",
            "party_branch": "星河第一支部",
            "org_unit": f"{COMMUNITY}/b3",
        },
    )
    household = await desk.post("/households", {"org_unit": f"{COMMUNITY}/b3", "unit_no": "1", "room": "102"})
    enterprise = await desk.post(
        "/enterprises",
        {
            "org_unit": COMMUNITY,
            "name": "星河便利店",
            "credit_code": CREDIT_CODE,
            "address": "星河路1号",
            "contact_name": "孙老板",
        },
    )
    return member, household, enterprise


async def test_the_ledger_lists_a_months_visits_with_the_problem_found_and_the_enterprise_named(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        member, household, enterprise = await a_community(desk)
        today = date.today()
        last_month = today.replace(day=1) - timedelta(days=1)
        problem = {"category": "repairs", "description": "楼道灯坏了", "urgency": "general"}
        for contact_kind, contact_id, visited_on, found in [
            ("household", household, today, problem),
            ("enterprise", enterprise, today, None),
            ("household", household, last_month, None),
        ]:
            visit = {
                "member_id": member,
                "contact_kind": contact_kind,
                "contact_id": contact_id,
                "visited_on": visited_on.isoformat(),
                "notes": "老人独居",
                **({"problem": found} if found else {}),
            }
            await desk.post("/visits", visit)

        answer = await desk.ledger(unit=COMMUNITY, month=today.strftime("%Y-%m"))
        assert answer.status_code == 200, answer.text
        ledger = answer.json()
        assert ledger["total"] == 2
        by_kind = {v["contact_kind"]: v for v in ledger["items"]}
        assert by_kind["household"]["contact_id"] == household
        assert by_kind["household"]["member_id"] == member
        assert (by_kind["household"]["problem_category"], by_kind["household"]["problem_description"]) == (
            "repairs",
            "楼道灯坏了",
        )
        assert (by_kind["enterprise"]["enterprise_name"], by_kind["enterprise"]["enterprise_address"]) == (
            "星河便利店",
            "星河路1号",
        )
        assert by_kind["enterprise"]["problem_found"] is False
        assert "notes" not in by_kind["household"]  # the member's notes stay on the member's record
        earlier = (await desk.ledger(unit=COMMUNITY, month=last_month.strftime("%Y-%m"))).json()
        assert [v["visited_on"] for v in earlier["items"]] == [last_month.isoformat()]


async def test_the_ledger_is_for_the_staff_of_the_unit_only(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        desk = Desk(client, service_settings)
        member, _, _ = await a_community(desk)
        month = date.today().strftime("%Y-%m")
        neighbour = bearer(service_settings, "secretary", scope=NEIGHBOURS)
        assert (await desk.ledger(neighbour, unit=COMMUNITY, month=month)).status_code == 403
        a_member = bearer(service_settings, "member", scope=COMMUNITY, subject=member)
        assert (await desk.ledger(a_member, unit=COMMUNITY, month=month)).status_code == 403
        assert (await desk.ledger(unit=COMMUNITY, month="2026-13")).status_code == 422
