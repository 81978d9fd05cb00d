"""Printed service cards: a unit's cards as they print, each household's copy with a signed link;
the link opens its household's member now without signing in, says when the card printed was
replaced, and refuses a forged or cut-short link; opening one card's link is rate limited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import bearer, running

from fourlinks_contracts.members import ContactKind
from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.doorway import DoorwayLink, NotACardLink, doorway_key, opened, sealed
from fourlinks_runtime.settings import Settings

COMMUNITY = "yuhang/nanyuan/xinghe"
BUILDING = f"{COMMUNITY}/b3"


class Office:
    """An administrator and a secretary writing the directory, reading their own writes."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.admin = bearer(settings, "administrator", scope="yuhang")
        self.secretary = bearer(settings, "secretary", scope=COMMUNITY)
        self.position = 0

    async def send(self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
        reply = await self.client.request(method, path, json=body, headers=headers)
        assert reply.status_code in (200, 201), reply.text
        self.position = max(self.position, reply.json()["position"])
        return str(reply.json()["id"])

    async def get(self, path: str, **params: str) -> httpx.Response:
        headers = {**self.secretary, "X-Min-Position": str(self.position)}
        return await self.client.get(path, params=params, headers=headers)


async def a_member_with_a_household(office: Office) -> tuple[str, str]:
    for code, name, level, parent in [
        ("yuhang", "余杭区", "district", None),
        ("nanyuan", "南苑街道", "street", "yuhang"),
        ("xinghe", "星河社区", "community", "yuhang/nanyuan"),
        ("b3", "3幢", "building", COMMUNITY),
    ]:
        body = {"code": code, "name": name, "level": level, "parent_path": parent}
        await office.send("POST", "/org-units", body, office.admin)
    people = []
    for name, phone in (("吴宇霞", "0571-88880001"), ("陈立", "0571-88880002")):
        body = {"name": name, "public_phone": phone, "party_branch": "星河第一支部", "org_unit": BUILDING}
        people.append(await office.send("POST", "/members", body, office.secretary))
    household = await office.send(
        "POST",
        "/households",
        {"org_unit": BUILDING, "unit_no": "1", "room": "102", "residents": [{"name": "王小明"}]},
        office.secretary,
    )
    card = {"households": [household], "service_matters": ["repairs", "elderly_care"]}
    await office.send("POST", f"/members/{people[0]}/card", card, office.secretary)
    return people[0], household


async def test_a_households_printed_link_opens_its_member_now_and_says_when_the_card_was_replaced(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        office = Office(client, service_settings)
        member, household = await a_member_with_a_household(office)
        printed = await office.get("/cards/print", unit=COMMUNITY)
        assert printed.status_code == 200, printed.text
        [card] = printed.json()
        assert (card["member_name"], card["public_phone"], card["revision"]) == ("吴宇霞", "0571-88880001", 1)
        assert card["service_matters"] == ["repairs", "elderly_care"]
        assert card["scope"] == {"buildings": ["3幢"], "households": 1, "enterprises": 0}
        [copy] = card["contacts"]
        assert copy["place"] == {
            "units": ["星河社区", "3幢"],
            "unit_no": "1",
            "room": "102",
            "name": None,
            "address": None,
        }
        assert household not in copy["link"]  # ids in bytes, no names
        assert "王小明" not in copy["link"]

        door = await client.get(f"/doorway/{copy['link']}")  # nobody signed in
        assert door.status_code == 200, door.text
        assert door.json()["replaced"] is False
        assert door.json()["member"]["name"] == "吴宇霞"
        assert door.json()["member"]["public_phone"] == "0571-88880001"
        assert door.json()["contact_id"] == household

        others = (await office.get("/members", unit=COMMUNITY)).json()["items"]
        newcomer = next(m["member_id"] for m in others if m["member_id"] != member)
        revoke = {"reason": "调离本社区"}
        await office.send("POST", f"/members/{member}/card/revoke", revoke, office.secretary)
        card = {"households": [household], "service_matters": ["repairs"]}
        await office.send("POST", f"/members/{newcomer}/card", card, office.secretary)
        door = await client.get(f"/doorway/{copy['link']}", headers={"X-Min-Position": str(office.position)})
        assert door.json()["replaced"] is True
        assert door.json()["member"]["name"] == "陈立"  # the member now, named on the old card's page

        reprint = await office.get("/cards/print", unit=COMMUNITY, revised_since="2000-01-01")
        assert [c["member_name"] for c in reprint.json()] == ["陈立"]
        assert (await office.get("/cards/print", unit=COMMUNITY, revised_since="2099-01-01")).json() == []


async def test_a_forged_or_cut_short_link_is_refused_and_one_cards_link_is_rate_limited(
    service_settings: Settings,
) -> None:
    async with running(create_app(service_settings)) as client:
        office = Office(client, service_settings)
        await a_member_with_a_household(office)
        [card] = (await office.get("/cards/print", unit=COMMUNITY)).json()
        link = card["contacts"][0]["link"]
        forged = link[:-2] + ("AA" if link[-2:] != "AA" else "BB")
        for wrong in (forged, link[:-5], "not-a-link"):
            refused = await client.get(f"/doorway/{wrong}")
            assert refused.status_code == 404, (wrong, refused.text)
        answers = [(await client.get(f"/doorway/{link}")).status_code for _ in range(30)]
        assert answers.count(200) == 20  # 20 a minute per card
        assert answers[-1] == 429


def test_a_link_is_short_holds_no_personal_data_and_only_its_key_opens_it() -> None:
    key, other = doorway_key(b"m" * 32), doorway_key(b"n" * 32)
    link = DoorwayLink(
        card_id="0190aaaa-0000-7000-8000-000000000001",
        contact_kind=ContactKind.HOUSEHOLD,
        contact_id="0190aaaa-0000-7000-8000-000000000002",
        revision=7,
    )
    token = sealed(link, key)
    assert len(token) == 63
    assert opened(token, key) == link
    with pytest.raises(NotACardLink):
        opened(token, other)
