"""A secretary finds anyone from the header's box — residents, households, members, enterprises,
tasks, feedback, grouped — opens a household's page from what she found, and fills every form
that asks for an id by searching: as she types (the list htmx fills), or without scripts through
the search page's "choose" links back to the form.

The services are faked over HTTP, as the console calls them; what they were asked is kept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from apps.console.tests.harness import signed_in_console
from apps.console.tests.test_pages_speak_names import PATH, UUID, visible

DISTRICT, COMMUNITY = "yuhang", "yuhang/s01/c001"
BUILDING = f"{COMMUNITY}/b03"
UNITS = {DISTRICT: "余杭区", "yuhang/s01": "南苑街道", COMMUNITY: "星河社区", BUILDING: "3幢"}
HOUSEHOLD = "f174aaaa-0000-7000-8000-000000000001"
RESIDENT = "f174aaaa-0000-7000-8000-0000000000r1"
MEMBER = "02ab584e-0000-7000-8000-000000000001"
ENTERPRISE = "0190ffff-0000-7000-8000-000000000001"
TASK = "0190bbbb-0000-7000-8000-000000000001"
FEEDBACK = "0190cccc-0000-7000-8000-000000000001"
VISIT = "0190dddd-0000-7000-8000-000000000001"
CARD = "0190eeee-0000-7000-8000-000000000001"
PLACE = {"org_unit": BUILDING, "unit_no": "1", "room": "101"}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": len(items), "limit": 50, "offset": 0}


def _names(request: httpx.Request) -> Any:
    kind = request.url.path.rsplit("/", 1)[-1]
    asked = request.url.params.get_list("paths" if kind == "units" else "ids")
    if kind == "units":
        return [{"path": p, "name": UNITS[p], "level": "community"} for p in asked if p in UNITS]
    if kind == "members":
        return [{"member_id": m, "name": "张建国"} for m in asked if m == MEMBER]
    place = {"household_id": HOUSEHOLD, "unit_name": "3幢", **PLACE}
    return [place] if HOUSEHOLD in asked else []


TASK_ROW = {
    "task_id": TASK,
    "state": "in_progress",
    "category": "repairs",
    "org_unit": BUILDING,
    "origin_unit": BUILDING,
    "raised_at": "2026-12-15T02:00:00Z",
    "assignee": MEMBER,
    "household_id": HOUSEHOLD,
    "withheld": [],
}
REFERENCE = "FL-20261215-ABCDEFGH"
FEEDBACK_ROW = {
    "feedback_id": FEEDBACK,
    "reference": REFERENCE,
    "kind": "problem",
    "category": "repairs",
    "state": "assigned",
    "org_unit": BUILDING,
    "submitted_at": "2026-12-15T01:00:00Z",
    "task_id": TASK,
    "description": "楼道灯坏了一周",
    "withheld": [],
}
FOUND = {
    "residents": [
        {"resident_id": RESIDENT, "household_id": HOUSEHOLD, "name": "王小明", "phone_tail": "5678", **PLACE}
    ],
    "households": [
        {"household_id": HOUSEHOLD, "member_id": MEMBER, "residents": ["王小明", "李秀英"], **PLACE}
    ],
    "members": [
        {
            "member_id": MEMBER,
            "name": "张建国",
            "phone_tail": "0001",
            "org_unit": BUILDING,
            "status": "active",
            "card_id": CARD,
        }
    ],
    "enterprises": [
        {
            "enterprise_id": ENTERPRISE,
            "name": "星河便利店",
            "credit_code": "91330110MA2B000010",
            "org_unit": COMMUNITY,
            "address": "星河路1号",
            "member_id": None,
        }
    ],
}
ROUTES: dict[tuple[int, str], Callable[[httpx.Request], Any]] = {
    (8101, r"/names/\w+"): _names,
    (8101, r"/org-units"): lambda r: [{"path": p, "name": n, "level": "community"} for p, n in UNITS.items()],
    (8101, r"/members"): lambda r: _page([]),
    (8101, r"/search"): lambda r: {"q": r.url.params["q"], "unit": COMMUNITY, **FOUND},
    (8101, rf"/households/{HOUSEHOLD}"): lambda r: {
        "household_id": HOUSEHOLD,
        **PLACE,
        "visit_cadence_days": 30,
        "card_id": CARD,
        "member_id": MEMBER,
        "last_visit_on": "2026-12-01",
        "visit_due_on": "2026-12-31",
        "residents": [
            {
                "resident_id": RESIDENT,
                "name": "王小明",
                "phone": "13912345678",
                "elderly_living_alone": True,
                "disability": False,
                "erased": False,
            },
            {
                "resident_id": "f174aaaa-0000-7000-8000-0000000000r2",
                "name": None,
                "phone": None,
                "elderly_living_alone": None,
                "disability": None,
                "erased": True,
            },
        ],
    },
    (8101, rf"/households/{HOUSEHOLD}/card"): lambda r: {
        "contact_id": HOUSEHOLD,
        "covered": True,
        "member": {"member_id": MEMBER, "name": "张建国", "party_branch": "星河第一支部"},
        "card": {
            "card_id": CARD,
            "revision": 2,
            "status": "active",
            "public_phone": "0571-88880001",
            "service_matters": [{"code": "repairs", "label": "维修协调", "label_en": "repairs"}],
            "matters_note": "",
        },
    },
    (8101, rf"/households/{HOUSEHOLD}/visits"): lambda r: [
        {
            "visit_id": VISIT,
            "member_id": MEMBER,
            "visited_on": "2026-12-01",
            "problem_found": True,
            "problem_category": "repairs",
            "problem_description": "楼道灯坏了",
            "problem_urgency": "general",
        }
    ],
    (8102, r"/search"): lambda r: {"q": r.url.params["q"], "unit": COMMUNITY, "tasks": [TASK_ROW]},
    (8102, r"/tasks"): lambda r: _page([TASK_ROW]),
    (8102, r"/board/columns"): lambda r: {
        s: _page([])
        for s in (
            "raised",
            "accepted",
            "assigned",
            "in_progress",
            "awaiting_check",
            "ready_to_close",
            "parked",
            "closed",
            "rejected",
        )
    },
    (8102, rf"/tasks/{TASK}"): lambda r: {
        **TASK_ROW,
        "source": "administrator",
        "urgency": "general",
        "helpers": [],
        "due_at": None,
        "description": "灯",
        "rework_count": 0,
        "needs_reassignment": False,
        "suggested_member": None,
    },
    (8102, rf"/tasks/{TASK}/timeline"): lambda r: [],
    (8102, rf"/tasks/{TASK}/actions"): lambda r: {
        "task_id": TASK,
        "state": "accepted",
        "actions": ["assign"],
    },
    (8103, r"/search"): lambda r: {"q": r.url.params["q"], "unit": COMMUNITY, "items": [FEEDBACK_ROW]},
    (8103, r"/feedback"): lambda r: _page([FEEDBACK_ROW]),
    (8104, r"/notices"): lambda r: _page([]),
    (8104, r"/notices/reach"): lambda r: {"staff": True, "residents": True},
    (8104, rf"/households/{HOUSEHOLD}/sign-in-link"): lambda r: {"id": HOUSEHOLD, "position": 7},
}
ASKED: list[httpx.Request] = []


def services_answering(request: httpx.Request) -> httpx.Response:
    ASKED.append(request)
    for (port, route), answer in ROUTES.items():
        if port == request.url.port and re.fullmatch(route, request.url.path):
            return httpx.Response(200, json=answer(request))
    return httpx.Response(404, json={"detail": f"not faked: {request.url.path}"})


def asked(port: int, path: str) -> list[httpx.Request]:
    return [r for r in ASKED if r.url.port == port and r.url.path == path]


@pytest.fixture
async def secretary(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    ASKED.clear()
    async with signed_in_console(tmp_path, services_answering, f"secretary:{COMMUNITY}") as client:
        yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found[1]


async def test_every_page_of_staff_has_the_search_box_in_its_header(secretary: httpx.AsyncClient) -> None:
    page = (await secretary.get("/tasks")).text
    header = page.split("<main", 1)[0]
    assert 'action="/search"' in header
    assert 'name="q"' in header


async def test_the_search_page_groups_what_the_three_services_found_in_words(
    secretary: httpx.AsyncClient,
) -> None:
    page = await secretary.get("/search", params={"q": "王小明"})
    assert page.status_code == 200, page.text[:1000]
    groups = re.findall(r'data-group="(\w+)"', page.text)
    assert groups == ["residents", "households", "members", "enterprises", "tasks", "feedback"]
    text = visible(page.text)
    for words in (
        "居民",
        "王小明",
        "3幢 1单元 101室",
        "尾号 5678",
        "王小明、李秀英",
        "张建国",
        "星河便利店",
        "维修协调",
        "FL-20261215-ABCDEFGH",
    ):
        assert words in text, words
    shown = text.replace(REFERENCE, "")  # a reference is for people to read
    assert not UUID.findall(shown), shown
    assert not PATH.findall(shown), shown
    assert f'href="/households/{HOUSEHOLD}"' in page.text
    assert f'href="/enterprises/{ENTERPRISE}"' in page.text
    assert f'href="/tasks/{TASK}"' in page.text
    for port in (8101, 8102, 8103):
        (call,) = asked(port, "/search")
        assert call.url.params["q"] == "王小明"


async def test_one_character_searches_nothing(secretary: httpx.AsyncClient) -> None:
    page = await secretary.get("/search", params={"q": "王"})
    assert "请至少输入 2 个字符" in page.text
    assert not any(r.url.path == "/search" for r in ASKED)


async def test_a_form_s_list_offers_households_as_the_secretary_types(secretary: httpx.AsyncClient) -> None:
    offered = await secretary.get(
        "/search/options",
        params={"pick": "household", "field": "household_id_words", "household_id_words": "王小"},
    )
    assert offered.status_code == 200
    ids = re.findall(r'data-id="([^"]+)"', offered.text)
    assert ids == [HOUSEHOLD]  # the resident found and the household found are one household
    assert "王小明 · 3幢 1单元 101室" in offered.text
    assert not asked(8102, "/search")
    assert not asked(8103, "/search")


async def test_without_scripts_words_for_a_sign_in_link_go_to_the_search_page_and_come_back_chosen(
    secretary: httpx.AsyncClient,
) -> None:
    notices = (await secretary.get("/notices")).text
    assert "data-picker" in notices
    assert 'name="household_id_words"' in notices
    sent = await secretary.post(
        "/notices/sign-in-link",
        data={
            "csrf_token": _csrf(notices),
            "unit": COMMUNITY,
            "household_id": "",
            "household_id_words": "王小明",
        },
    )
    assert sent.status_code == 303
    target = urlsplit(sent.headers["location"])
    wanted = parse_qs(target.query)
    assert (target.path, wanted["q"], wanted["pick"], wanted["field"]) == (
        "/search",
        ["王小明"],
        ["household"],
        ["household_id"],
    )
    assert not asked(8104, f"/households/{HOUSEHOLD}/sign-in-link")  # nothing sent yet
    choose = (await secretary.get(sent.headers["location"])).text
    links = re.findall(r'class="button choose" href="([^"]+)"', choose)
    assert links
    assert all(f"household_id={HOUSEHOLD}" in link.replace("&amp;", "&") for link in links)
    chosen = (await secretary.get(links[0].replace("&amp;", "&"))).text
    assert f'name="household_id" value="{HOUSEHOLD}"' in chosen
    assert 'value="3幢 1单元 101室"' in chosen  # the household in words beside the hidden id
    sent = await secretary.post(
        "/notices/sign-in-link",
        data={
            "csrf_token": _csrf(chosen),
            "unit": COMMUNITY,
            "household_id": HOUSEHOLD,
            "household_id_words": "x",
        },
    )
    assert sent.status_code == 303
    assert "sent=link" in sent.headers["location"]
    assert asked(8104, f"/households/{HOUSEHOLD}/sign-in-link")


async def test_words_for_an_assignee_or_a_new_task_s_household_lead_to_choosing(
    secretary: httpx.AsyncClient,
) -> None:
    board = await secretary.get("/tasks", params={"assignee": "", "assignee_words": "张建国"})
    assert board.status_code == 303
    assert "pick=member" in board.headers["location"]
    htmx = await secretary.get("/tasks", params={"assignee_words": "张建国"}, headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/search?")  # the whole page goes, not into the board
    page = (await secretary.get("/tasks")).text
    raised = await secretary.post(
        "/tasks/new",
        data={
            "csrf_token": _csrf(page),
            "org_unit": COMMUNITY,
            "category": "repairs",
            "household_id_words": "101",
        },
    )
    assert raised.status_code == 303
    assert "pick=household" in raised.headers["location"]
    back = parse_qs(urlsplit(raised.headers["location"]).query)["back"][0]
    assert back.startswith("/tasks?unit=")
    assert back.endswith("#new-task")
    prefilled = (await secretary.get(f"/tasks?unit={COMMUNITY}&household_id={HOUSEHOLD}")).text
    assert 'id="new-task" open' in prefilled
    assert f'value="{HOUSEHOLD}"' in prefilled


async def test_a_task_action_asking_for_a_member_is_chosen_by_search_and_comes_back_open(
    secretary: httpx.AsyncClient,
) -> None:
    page = (await secretary.get(f"/tasks/{TASK}")).text
    assert 'name="member_id_words"' in page
    act = await secretary.post(
        f"/tasks/{TASK}/do/assign", data={"csrf_token": _csrf(page), "member_id": "", "member_id_words": "张"}
    )
    assert act.status_code == 303
    back = parse_qs(urlsplit(act.headers["location"]).query)["back"][0]
    assert back == f"/tasks/{TASK}?do=assign"
    opened = (await secretary.get(f"/tasks/{TASK}", params={"do": "assign", "member_id": MEMBER})).text
    assert re.search(r'<details class="action" open data-action="assign">', opened)
    assert f'name="member_id" value="{MEMBER}"' in opened
    assert 'value="张建国"' in opened


async def test_the_history_page_searches_words_for_the_kind_asked(secretary: httpx.AsyncClient) -> None:
    found = await secretary.get("/history", params={"kind": "household", "id": "", "id_words": "3幢101"})
    assert found.status_code == 303
    wanted = parse_qs(urlsplit(found.headers["location"]).query)
    assert (wanted["pick"], wanted["back"]) == (["household"], ["/history?kind=household"])


async def test_a_household_s_page_shows_its_people_card_visits_tasks_and_feedback(
    secretary: httpx.AsyncClient,
) -> None:
    page = await secretary.get(f"/households/{HOUSEHOLD}")
    assert page.status_code == 200, page.text[:2000]
    text = visible(page.text)
    for words in (
        "3幢 1单元 101室",
        "王小明",
        "13912345678",
        "独居老人",
        "（已删除）",
        "张建国",
        "0571-88880001",
        "维修协调",
        "FL-20261215-ABCDEFGH",
        "楼道灯坏了",
    ):
        assert words in text, words
    for readable in (REFERENCE, "13912345678", "0571-88880001"):  # for people to read
        text = text.replace(readable, "")
    assert not UUID.findall(text), text
    assert not PATH.findall(text), text
    assert f'action="/households/{HOUSEHOLD}/sign-in-link"' in page.text
    (tasks,) = asked(8102, "/tasks")
    (feedback,) = asked(8103, "/feedback")
    assert tasks.url.params["household"] == HOUSEHOLD
    assert feedback.url.params["household"] == HOUSEHOLD
    sent = await secretary.post(
        f"/households/{HOUSEHOLD}/sign-in-link", data={"csrf_token": _csrf(page.text)}
    )
    assert sent.status_code == 303
    assert sent.headers["location"].startswith(f"/households/{HOUSEHOLD}?")
    assert asked(8104, f"/households/{HOUSEHOLD}/sign-in-link")
    assert 'class="done" role="status"' in (await secretary.get(sent.headers["location"])).text


async def test_an_inspector_searches_but_opens_no_household_and_a_member_has_no_search(
    tmp_path: Path,
) -> None:
    ASKED.clear()
    async with signed_in_console(tmp_path, services_answering, f"inspector:{DISTRICT}") as inspector:
        assert 'action="/search"' in (await inspector.get("/checks")).text.split("<main", 1)[0]
        assert (await inspector.get("/search", params={"q": "张建国"})).status_code == 200
        assert (await inspector.get(f"/households/{HOUSEHOLD}")).status_code == 403
