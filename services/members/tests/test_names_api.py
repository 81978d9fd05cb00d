"""Names many at once, only those the reader may see: a page turns the ids and paths it holds into
unit names, member names and addresses in one request per kind."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import bearer, running

from fourlinks_members.bootstrap import create_app
from fourlinks_runtime.settings import Settings

COMMUNITY = "yuhang/nanyuan/xinghe"
NEIGHBOURS = "yuhang/nanyuan/linping"


class Office:
    """An administrator and a secretary writing the directory, reading their own writes."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.admin = bearer(settings, "administrator", scope="yuhang")
        self.secretary = bearer(settings, "secretary", scope=COMMUNITY)
        self.position = 0

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
        reply = await self.client.post(path, json=body, headers=headers)
        assert reply.status_code == 201, reply.text
        self.position = max(self.position, reply.json()["position"])
        return str(reply.json()["id"])

    async def names(self, kind: str, headers: dict[str, str], **wanted: list[str]) -> httpx.Response:
        return await self.client.get(
            f"/names/{kind}", params=wanted, headers={**headers, "X-Min-Position": str(self.position)}
        )


async def a_district(office: Office) -> tuple[str, str]:
    """Two communities of one street, a building in ours with a member and a household."""
    for code, name, level, parent in [
        ("yuhang", "余杭区", "district", None),
        ("nanyuan", "南苑街道", "street", "yuhang"),
        ("xinghe", "星河社区", "community", "yuhang/nanyuan"),
        ("linping", "临平社区", "community", "yuhang/nanyuan"),
        ("b3", "3幢", "building", COMMUNITY),
    ]:
        body = {"code": code, "name": name, "level": level, "parent_path": parent}
        await office.post("/org-units", body, office.admin)
    member = await office.post(
        "/members",
        {
            "name": "吴宇霞",
            "public_phone": "0571-88880001",
            "party_branch": "星河第一支部",
            "org_unit": f"{COMMUNITY}/b3",
        },
        office.secretary,
    )
    household = await office.post(
        "/households",
        {"org_unit": f"{COMMUNITY}/b3", "unit_no": "1", "room": "102", "residents": [{"name": "王小明"}]},
        office.secretary,
    )
    return member, household


async def test_a_secretary_reads_the_names_of_her_community_and_above_it_never_a_neighbours(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        office = Office(client, service_settings)
        member, household = await a_district(office)
        paths = ["yuhang", "yuhang/nanyuan", COMMUNITY, f"{COMMUNITY}/b3", NEIGHBOURS, "yuhang/nowhere"]

        units = await office.names("units", office.secretary, paths=paths)
        assert units.status_code == 200, units.text
        assert {u["path"]: u["name"] for u in units.json()} == {
            "yuhang": "余杭区",
            "yuhang/nanyuan": "南苑街道",
            COMMUNITY: "星河社区",
            f"{COMMUNITY}/b3": "3幢",
        }
        people = await office.names("members", office.secretary, ids=[member])
        assert people.json() == [{"member_id": member, "name": "吴宇霞"}]
        places = await office.names("households", office.secretary, ids=[household])
        assert places.json() == [
            {
                "household_id": household,
                "org_unit": f"{COMMUNITY}/b3",
                "unit_name": "3幢",
                "unit_no": "1",
                "room": "102",
            }
        ]

        neighbour = bearer(service_settings, "secretary", scope=NEIGHBOURS)
        theirs = await office.names("units", neighbour, paths=paths)
        assert {u["path"] for u in theirs.json()} == {"yuhang", "yuhang/nanyuan", NEIGHBOURS}
        assert (await office.names("members", neighbour, ids=[member])).json() == []
        assert (await office.names("households", neighbour, ids=[household])).json() == []


async def test_a_member_reads_their_own_name_and_an_inspector_reads_whose_work_it_was(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        office = Office(client, service_settings)
        member, household = await a_district(office)
        themself = bearer(service_settings, "member", scope=f"{COMMUNITY}/b3", subject=member)
        another = bearer(service_settings, "member", scope=f"{COMMUNITY}/b3")
        inspector = bearer(service_settings, "inspector", scope="yuhang")

        assert [m["name"] for m in (await office.names("members", themself, ids=[member])).json()] == [
            "吴宇霞"
        ]
        assert (await office.names("members", another, ids=[member])).json() == []
        assert [m["name"] for m in (await office.names("members", inspector, ids=[member])).json()] == [
            "吴宇霞"
        ]
        assert (await office.names("households", inspector, ids=[household])).json() == []
        building = await office.names("units", another, paths=[f"{COMMUNITY}/b3", COMMUNITY, NEIGHBOURS])
        assert {u["path"] for u in building.json()} == {f"{COMMUNITY}/b3", COMMUNITY}


async def test_a_request_for_too_many_names_or_malformed_ids_is_refused(service_settings: Settings) -> None:
    async with running(create_app(service_settings)) as client:
        office = Office(client, service_settings)
        too_many = [f"0190aaaa-0000-7000-8000-{n:012d}" for n in range(201)]
        assert (await office.names("members", office.secretary, ids=too_many)).status_code == 422
        assert (await office.names("members", office.secretary, ids=["not-an-id"])).status_code == 422
        assert (await office.names("units", office.secretary, paths=["Not A Path"])).status_code == 422
        assert (await office.names("units", office.secretary)).status_code == 422
        unsigned = await client.get("/names/units", params={"paths": ["yuhang"]})
        assert unsigned.status_code == 401
