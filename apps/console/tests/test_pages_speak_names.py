"""The console speaks the people's language: a community secretary reads names, not codes — units
by name (星河社区, 3幢), members by name, a household by its address, categories and states by their
words — and a task's page answers what, where, who and by when, its timeline told in sentences.

The services are faked over HTTP (as the console calls them); every main page is rendered as a
secretary and its visible text scanned for ids, org-unit paths and codes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from apps.console.tests.harness import signed_in_console

from fourlinks_console.figures import BOARD_STATES
from fourlinks_console.i18n import Language
from fourlinks_console.labels import Kept, Labels
from fourlinks_contracts.assignments import TaskState
from fourlinks_contracts.service_matters import SERVICE_MATTERS

DISTRICT, STREET, COMMUNITY = "yuhang", "yuhang/s01", "yuhang/s01/c001"
BUILDING, NEIGHBOURS = f"{COMMUNITY}/b03", "yuhang/s01/c002"
UNITS = {DISTRICT: "余杭区", STREET: "南苑街道", COMMUNITY: "星河社区", BUILDING: "3幢"}
WORKER = "02ab584e-0000-7000-8000-000000000001"  # 吴宇霞, the assignee
OTHER = "02ab584e-0000-7000-8000-000000000002"  # 李强, a member of the neighbours: not ours to name
GONE = "02ab584e-0000-7000-8000-000000000003"  # an erased member
MEMBERS = {WORKER: ("吴宇霞", BUILDING), GONE: (None, BUILDING)}
HOUSEHOLD = "f174aaaa-0000-7000-8000-000000000001"
TASK = "0190bbbb-0000-7000-8000-000000000001"
FEEDBACK = "0190cccc-0000-7000-8000-000000000001"
SESSION = "0190dddd-0000-7000-8000-000000000001"
CARD = "0190eeee-0000-7000-8000-000000000001"
SECRETARY = "secretary-yuhang-s01-c001"  # the local sign-in's secretary of the community
DUE = "2026-12-22T08:23:30.05Z"  # 16:23 in Hangzhou
MONTH = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{8}\b")
PATH = re.compile(r"\b(?:yuhang|s01|c00\d|b0\d)(?:/|\b)")
CODES = re.compile(
    r"\b(?:"
    + "|".join([*SERVICE_MATTERS, *TaskState, "TaskRaised", "TaskAssigned", "None", "False"])
    + r")\b"
)


def _task(**more: Any) -> dict[str, Any]:
    return {
        "task_id": TASK,
        "state": "in_progress",
        "source": "feedback",
        "source_ref": FEEDBACK,
        "category": "repairs",
        "urgency": "general",
        "org_unit": BUILDING,
        "origin_unit": BUILDING,
        "household_id": HOUSEHOLD,
        "enterprise_id": None,
        "description": "楼道灯不亮，晚上看不见台阶",
        "assignee": WORKER,
        "helpers": [],
        "raised_at": "2026-12-15T02:00:00Z",
        "due_at": DUE,
        "rework_count": 0,
        "needs_reassignment": False,
        "suggested_member": None,
        "withheld": [],
        **more,
    }


def _line(event_type: str, actor: str, **details: Any) -> dict[str, Any]:
    return {
        "task_id": TASK,
        "event_type": event_type,
        "actor_id": actor,
        "at": "2026-12-15T02:00:00Z",
        "details": details,
        "withheld": [],
    }


TIMELINE = [
    _line(
        "TaskRaised",
        "policy:raise-from-feedback",
        category="repairs",
        org_unit=BUILDING,
        household_id=HOUSEHOLD,
        enterprise_id=None,
        source="feedback",
        source_ref=FEEDBACK,
        urgency="general",
        party_day_id=None,
        confidential=False,
        anonymous=False,
    ),
    _line("TaskTriaged", SECRETARY, triaged_at="2026-12-15T02:10:00Z", due_at=DUE),
    _line("TaskAssigned", SECRETARY, member_id=WORKER, helpers=[], party_day_id=None, by_default=False),
    _line("TaskAccepted", WORKER, member_id=WORKER),
    _line(
        "ResolutionReported", WORKER, member_id=WORKER, summary="已更换灯具", result="resolved", evidence=[]
    ),
    _line("TaskReassigned", SECRETARY, from_member=OTHER, to_member=GONE, helpers=[], reason="换人跟进"),
    _line(
        "TaskClosed",
        SECRETARY,
        closed_by=SECRETARY,
        reason="resolved",
        note="",
        responsible_party=None,
        duplicate_of=None,
        assignee=WORKER,
        on_time=True,
        escalated=False,
    ),
]


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": len(items), "limit": 50, "offset": 0}


def _names(request: httpx.Request) -> Any:
    """The members service's names, as a community secretary may see them."""
    kind = request.url.path.rsplit("/", 1)[-1]
    asked = request.url.params.get_list("paths" if kind == "units" else "ids")
    if kind == "units":
        return [{"path": p, "name": UNITS[p], "level": "building"} for p in asked if p in UNITS]
    if kind == "members":
        return [{"member_id": m, "name": MEMBERS[m][0]} for m in asked if m in MEMBERS]
    place = {
        "household_id": HOUSEHOLD,
        "org_unit": BUILDING,
        "unit_name": "3幢",
        "unit_no": "1",
        "room": "102",
    }
    return [place] if HOUSEHOLD in asked else []


MEMBER_ROW = {
    "member_id": WORKER,
    "name": "吴宇霞",
    "org_unit": BUILDING,
    "party_branch": "星河第一支部",
    "capacity": 8,
    "contact_count": 1,
    "status": "active",
    "card_id": CARD,
    "public_phone": "0571-88880001",
}
COUNTS = {"total": 10, "covered": 9, "uncovered": 1}
COVERAGE = {
    "unit": COMMUNITY,
    "households": COUNTS,
    "enterprises": COUNTS,
    "members_active": 2,
    "members_over_capacity": 0,
    "uncovered": 2,
    "coverage_rate": 0.9,
}
ROUTES: dict[tuple[int, str], Callable[[httpx.Request], Any]] = {
    (8101, r"/names/\w+"): _names,
    (8101, r"/org-units"): lambda r: [{"path": p, "name": n, "level": "community"} for p, n in UNITS.items()],
    (8101, r"/members"): lambda r: _page([MEMBER_ROW]),
    (8101, rf"/members/{WORKER}/dashboard"): lambda r: {
        "member": MEMBER_ROW,
        "over_capacity": False,
        "card": None,
        "team": [],
        "enterprises": [],
        "households": [
            {
                "household_id": HOUSEHOLD,
                "org_unit": BUILDING,
                "unit_no": "1",
                "room": "102",
                "residents": [],
                "visit_due_on": "2026-12-30",
                "overdue": False,
            }
        ],
        "overdue_visits": [],
    },
    (8101, rf"/cards/{CARD}/history"): lambda r: [
        {
            "revision": 1,
            "valid_from": "2026-11-01T00:00:00Z",
            "valid_to": None,
            "households": [HOUSEHOLD],
            "enterprises": [],
            "service_matters": ["repairs", "elderly_care"],
            "reason": "首次发卡",
        }
    ],
    (8101, r"/households/[^/]+/suggested-members"): lambda r: [],
    (8101, r"/households/[^/]+/member-on"): lambda r: {
        "contact_id": HOUSEHOLD,
        "on": "2026-12-15",
        "member_id": WORKER,
        "link": None,
    },
    (8101, r"/coverage"): lambda r: COVERAGE,
    (8101, r"/coverage/below"): lambda r: [{**COVERAGE, "unit": BUILDING, "name": "3幢"}],
    (8101, r"/coverage/uncovered"): lambda r: _page(
        [
            {
                "household_id": HOUSEHOLD,
                "org_unit": BUILDING,
                "room": "102",
                "suggested_members": [
                    {
                        "member_id": WORKER,
                        "name": "吴宇霞",
                        "org_unit": BUILDING,
                        "spare_capacity": 7,
                        "nearness": 3,
                    }
                ],
            }
        ]
    ),
    (8102, rf"/tasks/{TASK}"): lambda r: _task(),
    (8102, rf"/tasks/{TASK}/timeline"): lambda r: TIMELINE,
    (8102, rf"/tasks/{TASK}/actions"): lambda r: {"task_id": TASK, "state": "in_progress", "actions": []},
    (8102, r"/tasks"): lambda r: _page([_task(), _task(), _task()]),
    (8102, r"/members/[^/]+/tasks"): lambda r: _page([_task()]),
    (8102, r"/board"): lambda r: {"in_progress": 3},
    (8102, r"/board/summary"): lambda r: {
        "unit": COMMUNITY,
        "raised": 0,
        "open": 3,
        "overdue": 1,
        "approaching": 0,
    },
    (8102, r"/kpis/recurring"): lambda r: [{"unit": BUILDING, "category": "repairs", "count": 3}],
    (8102, r"/board/columns"): lambda r: {
        s: _page([_task()] if s == "in_progress" else []) for s in BOARD_STATES
    },
    (8102, r"/kpis"): lambda r: [{"group": COMMUNITY, "month": MONTH, "tasks": 3, "closed": 1}],
    (8102, r"/party-days"): lambda r: [
        {"session_id": SESSION, "community": COMMUNITY, "held_on": "2026-12-01", "agenda": ["楼道照明"]}
    ],
    (8102, rf"/party-days/{SESSION}/summary"): lambda r: {
        "session_id": SESSION,
        "community": COMMUNITY,
        "held_on": "2026-12-01",
        "agenda": ["楼道照明"],
        "previous_session_on": None,
        "handed_out": [TASK],
        "closed_since_previous": [],
        "handed_out_count": 1,
        "closed_since_previous_count": 0,
    },
    (8103, rf"/feedback/{FEEDBACK}"): lambda r: {
        "feedback_id": FEEDBACK,
        "reference": "YH-2026-000123",
        "description": "三楼楼道灯坏了一周了",
        "photos": [],
        "withheld": [],
    },
    (8103, r"/callbacks/due"): lambda r: [
        {
            "feedback_id": FEEDBACK,
            "reference": "YH-2026-000123",
            "org_unit": BUILDING,
            "household_id": HOUSEHOLD,
            "enterprise_id": None,
            "kind": "first",
            "round": 1,
            "due_at": DUE,
            "answer_by": DUE,
            "task_id": TASK,
            "withheld": [],
        }
    ],
    (8103, r"/kpis"): lambda r: [
        {
            "group": COMMUNITY,
            "month": MONTH,
            "feedback": 4,
            "responded": 4,
            "resolved": 3,
            "satisfied": 3,
            "callbacks_answered": 4,
            "response_rate": 1.0,
            "resolution_rate": 0.75,
            "satisfaction_rate": 0.75,
        }
    ],
    (8103, r"/kpis/ranking"): lambda r: {
        "metric": "satisfaction_rate",
        "minimum_sample": 1,
        "ranking": [{"group": COMMUNITY, "satisfaction_rate": 0.75}],
        "total": 1,
    },
    (8103, r"/callbacks/summary"): lambda r: {"unit": COMMUNITY, "due": 1},
    (8103, r"/feedback"): lambda r: _page(
        [
            {
                "feedback_id": FEEDBACK,
                "reference": "YH-2026-000124",
                "kind": "question",
                "channel": "card_qr",
                "category": "repairs",
                "org_unit": BUILDING,
                "household_id": HOUSEHOLD,
                "state": "submitted",
                "submitted_at": "2026-12-15T02:00:00Z",
                "unconfirmed": True,
                "call_back": True,
                "description": "楼道灯什么时候修？",
                "answer": None,
                "task_id": None,
                "response_due_at": DUE,
                "response_seconds_left": 3600,
                "withheld": [],
            }
        ]
    ),
    (8103, r"/feedback/summary"): lambda r: {
        "unit": COMMUNITY,
        "states": [{"state": "submitted", "count": 1}],
        "total": 1,
        "waiting": 1,
        "overdue": 0,
    },
    (8103, r"/kpis/categories"): lambda r: [
        {
            "category": "repairs",
            "unit": BUILDING if r.url.params.get("by") == "building" else None,
            "count": 2,
        }
    ],
    (8102, r"/kpis/categories"): lambda r: [
        {
            "category": "repairs",
            "unit": BUILDING if r.url.params.get("by") == "building" else None,
            "count": 1,
        }
    ],
    (8102, r"/kpis/ranking"): lambda r: {
        "metric": "on_time_closure_rate",
        "minimum_sample": 1,
        "ranking": [{"group": COMMUNITY, "on_time_closure_rate": 0.5}],
        "total": 1,
    },
    (8104, r"/notices"): lambda r: _page(
        [
            {
                "notice_id": "n-1",
                "message": "task_assigned",
                "recipient_kind": "member",
                "org_unit": BUILDING,
                "params": {"task": TASK[:8], "category": "repairs", "path": f"/tasks/{TASK}"},
                "attempts": 3,
                "settled_at": DUE,
                "last_error": "robot refused",
                "channel": "wecom",
            }
        ]
    ),
    (8104, r"/notices/reach"): lambda r: {"staff": True, "residents": True},
}
ASKED: list[str] = []


def services_answering(request: httpx.Request) -> httpx.Response:
    """Each service as the console calls it, by its port."""
    ASKED.append(request.url.path)
    port = request.url.port or 80
    for (service, route), answer in ROUTES.items():
        if service == port and re.fullmatch(route, request.url.path):
            return httpx.Response(200, json=answer(request))
    return httpx.Response(404, json={"detail": f"not faked: {request.url.path}"})


@pytest.fixture
async def secretary(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_console(tmp_path, services_answering, f"secretary:{COMMUNITY}") as client:
        yield client


class VisibleText(HTMLParser):
    """The text a person reads on a page: text nodes (a textarea's too), never attributes or scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def _fact(page: str, field: str) -> str:
    found = re.search(rf'<dd data-field="{field}">(.*?)</dd>', page, re.S)
    assert found, page
    return visible(found[1])


PAGES = [
    "/",
    "/tasks",
    f"/tasks/{TASK}",
    "/members",
    f"/members/{WORKER}",
    "/coverage",
    "/callbacks",
    "/party-days",
    f"/party-days/{SESSION}",
    "/kpis",
    "/notices",
    "/checks",
    f"/history?kind=task&id={TASK}",
    f"/history?kind=household&id={HOUSEHOLD}",
    "/inbox",
    "/categories",
    "/report",
]


@pytest.mark.parametrize("path", PAGES)
async def test_a_secretary_reads_names_never_ids_paths_or_codes(
    secretary: httpx.AsyncClient, path: str
) -> None:
    page = await secretary.get(path)
    assert page.status_code == 200, page.text[:2000]
    text = visible(page.text)
    assert not UUID.findall(text), (path, UUID.findall(text))
    assert not PATH.findall(text), (path, PATH.findall(text))
    assert not CODES.findall(text), (path, CODES.findall(text))
    assert "星河社区" in text  # the reader's own community, by name (the header at least)
    assert "已删除" not in text or path.startswith(("/tasks/", "/history?kind=task"))


async def test_the_task_page_says_what_where_who_and_by_when(secretary: httpx.AsyncClient) -> None:
    page = (await secretary.get(f"/tasks/{TASK}")).text
    assert _fact(page, "description") == "楼道灯不亮，晚上看不见台阶"
    assert _fact(page, "resident_words") == "三楼楼道灯坏了一周了"
    assert _fact(page, "place") == "3幢 1单元 102室"
    assert _fact(page, "assignee") == "吴宇霞"
    assert _fact(page, "deadline") == "12月22日 16:23"
    assert "<title>维修协调" in page


async def test_the_timeline_is_told_one_sentence_per_event(secretary: httpx.AsyncClient) -> None:
    page = (await secretary.get(f"/tasks/{TASK}")).text
    told = [visible(li) for li in re.findall(r'<span class="what">(.*?)</span>', page, re.S)]
    assert told == [
        "系统 提出任务（群众反馈）：维修协调，3幢 1单元 102室",
        "书记 星河社区 受理任务，期限 12月22日 16:23",
        "书记 星河社区 指派给 吴宇霞，期限 12月22日 16:23",
        "吴宇霞 接受任务",
        "吴宇霞 报告办结：已更换灯具",
        "书记 星河社区 将任务从 另一名党员 改派给 （已删除）：换人跟进",
        "书记 星河社区 销号（已解决）",
    ]
    history = visible((await secretary.get("/history", params={"kind": "task", "id": TASK})).text)
    assert "吴宇霞 报告办结：已更换灯具" in history
    assert history.count("已删除") == 1  # the erased member only: an empty field is not "erased"


async def test_a_page_asks_for_names_once_per_kind_and_keeps_them_a_while(
    secretary: httpx.AsyncClient,
) -> None:
    ASKED.clear()
    await secretary.get("/tasks")
    assert ASKED.count("/names/units") == 1
    ASKED.clear()
    await secretary.get("/tasks")
    assert "/names/units" not in ASKED  # kept for the same reader


async def test_the_suggested_agenda_names_the_building_and_the_category(secretary: httpx.AsyncClient) -> None:
    page = (await secretary.get("/party-days")).text
    agenda = re.search(r'<textarea id="pd-agenda"[^>]*>(.*?)</textarea>', page, re.S)
    assert agenda, page
    assert agenda[1].startswith("反复出现：3幢 的维修协调问题"), agenda[1]  # names, as they will be stored
    assert "yuhang" not in agenda[1]
    assert "repairs" not in agenda[1]


def test_what_the_reader_may_not_see_reads_as_a_neutral_word_never_its_code() -> None:
    labels = Labels(
        Language.of("zh_CN", "Asia/Shanghai"), units=UNITS, members={WORKER: "吴宇霞", GONE: None}
    )
    assert labels.unit(COMMUNITY) == "星河社区"
    assert labels.unit(NEIGHBOURS) == "其他社区"
    assert labels.unit("yuhang/s09") == "其他街道"
    assert labels.unit(f"{NEIGHBOURS}/b07") == "其他楼栋"
    assert (labels.member(WORKER), labels.member(GONE), labels.member(OTHER)) == (
        "吴宇霞",
        "（已删除）",
        "另一名党员",
    )
    assert labels.household(HOUSEHOLD) is None  # the page then names the building instead
    assert (labels.category("elderly_care"), labels.category("楼道有人乱堆杂物")) == ("为老服务", "其他")
    assert labels.actor("policy:raise-from-feedback") == "系统"
    assert labels.actor("secretary-elsewhere", "secretary") == "书记"
    assert labels.group(COMMUNITY) == "星河社区"


def test_names_are_kept_a_minute_per_reader() -> None:
    now = [0.0]
    kept = Kept(seconds=60, clock=lambda: now[0])
    kept.keep("reader-a", "units", {COMMUNITY: "星河社区", NEIGHBOURS: None})
    assert kept.known("reader-a", "units", [COMMUNITY, NEIGHBOURS]) == (
        {COMMUNITY: "星河社区", NEIGHBOURS: None},
        set(),
    )
    assert kept.known("reader-b", "units", [COMMUNITY]) == ({}, {COMMUNITY})  # another reader asks anew
    now[0] = 61.0
    assert kept.known("reader-a", "units", [COMMUNITY]) == ({}, {COMMUNITY})
