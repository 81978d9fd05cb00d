"""Downloads as secretaries use them: Excel in the reader's words (Chinese in the Chinese console,
English in the English one), names never ids or codes, moments as real Excel dates in the
district's time zone, a filter on a frozen header row, fitted columns, and a file named after the
unit, the list and the day. Plus the two monthly sheets: the KPI sheet (the services' figures, as
they answered them) and the visit ledger.

The services are faked over HTTP (as the console calls them); each workbook is opened with openpyxl."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import pytest
from apps.console.tests.harness import signed_in_console
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from fourlinks_console.exports import shown_width
from fourlinks_contracts.assignments import TaskState
from fourlinks_contracts.service_matters import SERVICE_MATTERS

DISTRICT, STREET, COMMUNITY = "yuhang", "yuhang/s01", "yuhang/s01/c001"
BUILDING, OTHER_BUILDING = f"{COMMUNITY}/b03", f"{COMMUNITY}/b05"
UNITS = {
    DISTRICT: "余杭区",
    STREET: "南苑街道",
    COMMUNITY: "星河社区",
    BUILDING: "3幢",
    OTHER_BUILDING: "5幢",
}
WORKER = "02ab584e-0000-7000-8000-000000000001"  # 吴宇霞
HELPER = "02ab584e-0000-7000-8000-000000000002"  # 李强
MEMBERS = {WORKER: "吴宇霞", HELPER: "李强"}
HOUSEHOLD = "f174aaaa-0000-7000-8000-000000000001"  # 3幢 1单元 102室
SECRET_HOUSEHOLD = "f174aaaa-0000-7000-8000-000000000002"  # an anonymous resident's
ENTERPRISE = "f174bbbb-0000-7000-8000-000000000001"
EVENING_UTC = "2026-12-15T17:00:00Z"  # 01:00 on 16 December in Hangzhou
MONTH = "2026-11"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CODES = re.compile(
    r"\b(?:"
    + "|".join([*SERVICE_MATTERS, *TaskState, "general", "urgent", "feedback", "visit", "first", "active"])
    + r"|yuhang|s01|c001|b0\d)\b"
)


def _task(**more: Any) -> dict[str, Any]:
    return {
        "task_id": "0190bbbb-0000-7000-8000-000000000001",
        "state": "in_progress",
        "source": "feedback",
        "category": "repairs",
        "urgency": "general",
        "org_unit": BUILDING,
        "origin_unit": BUILDING,
        "household_id": HOUSEHOLD,
        "enterprise_id": None,
        "description": "楼道灯不亮，晚上看不见台阶",
        "assignee": WORKER,
        "helpers": [HELPER],
        "raised_at": EVENING_UTC,
        "due_at": "2026-12-22T08:23:30.05Z",
        "closed_at": None,
        "close_reason": None,
        "withheld": [],
        **more,
    }


TASKS = [
    _task(),
    _task(
        state="closed",
        category="elderly_care",
        urgency="urgent",
        source="visit",
        closed_at="2026-12-18T02:00:00Z",
        close_reason="resolved",
        helpers=[],
    ),
    _task(household_id=None, description=None, withheld=["description", "household_id"], assignee=None),
]
TASK_FIGURES = {
    "tasks": 7,
    "closed": 5,
    "closure_rate": 0.7143,
    "due": 6,
    "extended": 1,
    "closed_on_time": 4,
    "on_time_closure_rate": 0.8,
    "resolved_at_level_rate": 0.6,
    "rework_count": 2,
    "median_hours_to_close": {"repairs": 30.5},
}
FEEDBACK_FIGURES = {
    "feedback": 9,
    "responded": 8,
    "response_rate": 0.8889,
    "callbacks_answered": 6,
    "resolved": 5,
    "resolution_rate": 0.8333,
    "satisfied": 4,
    "satisfaction_rate": 0.6667,
    "not_reached": 1,
}
VISITS = [
    {
        "visit_id": "0190ffff-0000-7000-8000-000000000001",
        "member_id": WORKER,
        "contact_kind": "household",
        "contact_id": HOUSEHOLD,
        "org_unit": BUILDING,
        "visited_on": "2026-11-20",
        "problem_found": True,
        "problem_category": "repairs",
        "problem_description": "楼道灯坏了",
        "problem_urgency": "general",
        "enterprise_name": None,
        "enterprise_address": None,
    },
    {
        "visit_id": "0190ffff-0000-7000-8000-000000000002",
        "member_id": HELPER,
        "contact_kind": "enterprise",
        "contact_id": ENTERPRISE,
        "org_unit": COMMUNITY,
        "visited_on": "2026-11-21",
        "problem_found": False,
        "problem_category": None,
        "problem_description": None,
        "problem_urgency": None,
        "enterprise_name": "星河便利店",
        "enterprise_address": "星河路1号",
    },
]
ASKED: list[httpx.Request] = []


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": len(items), "limit": 500, "offset": 0}


def _names(request: httpx.Request) -> Any:
    """The members service's names, as the community's secretary may see them."""
    kind = request.url.path.rsplit("/", 1)[-1]
    asked = request.url.params.get_list("paths" if kind == "units" else "ids")
    if kind == "units":
        return [{"path": p, "name": UNITS[p], "level": "community"} for p in asked if p in UNITS]
    if kind == "members":
        return [{"member_id": m, "name": MEMBERS[m]} for m in asked if m in MEMBERS]
    place = {
        "household_id": HOUSEHOLD,
        "org_unit": BUILDING,
        "unit_name": "3幢",
        "unit_no": "1",
        "room": "102",
    }
    return [place] if HOUSEHOLD in asked else []


KPI_GROUPS = {"child": [BUILDING, OTHER_BUILDING], "unit": [COMMUNITY]}
TOLD_APART = {BUILDING: 10, OTHER_BUILDING: 20, COMMUNITY: 30}


def _figures(figures: dict[str, Any], group: str) -> dict[str, Any]:
    """A group's figures, told apart by the group (each row must carry its own)."""
    return {
        key: value + TOLD_APART[group] if isinstance(value, int) else value for key, value in figures.items()
    }


def _kpis(figures: dict[str, Any]) -> Callable[[httpx.Request], Any]:
    """A service's KPI rows of a month: one per unit right below, or the unit as a whole."""

    def answer(request: httpx.Request) -> Any:
        month = request.url.params.get("month", MONTH)
        groups = KPI_GROUPS[request.url.params["by"]]
        return [{"group": group, "month": month, **_figures(figures, group)} for group in groups]

    return answer


ROUTES: dict[tuple[int, str], Callable[[httpx.Request], Any]] = {
    (8101, r"/names/\w+"): _names,
    (8101, r"/org-units"): lambda r: [{"path": p, "name": n, "level": "community"} for p, n in UNITS.items()],
    (8101, r"/members"): lambda r: _page(
        [
            {
                "member_id": WORKER,
                "name": "吴宇霞",
                "org_unit": BUILDING,
                "party_branch": "星河第一支部",
                "public_phone": "0571-88880001",
                "capacity": 8,
                "contact_count": 3,
                "status": "active",
            }
        ]
    ),
    (8101, r"/visits"): lambda r: _page(VISITS),
    (8102, r"/tasks"): lambda r: _page(TASKS),
    (8102, r"/kpis"): _kpis(TASK_FIGURES),
    (8103, r"/kpis"): _kpis(FEEDBACK_FIGURES),
    (8103, r"/callbacks/due"): lambda r: [
        {
            "feedback_id": "0190cccc-0000-7000-8000-000000000001",
            "reference": "YH-2026-000123",
            "org_unit": BUILDING,
            "household_id": HOUSEHOLD,
            "enterprise_id": None,
            "kind": "first",
            "round": 1,
            "due_at": "2026-12-22T08:23:30Z",
            "answer_by": "2026-12-23T16:30:00Z",
            "task_id": "0190bbbb-0000-7000-8000-000000000001",
            "withheld": [],
        }
    ],
}


def services_answering(request: httpx.Request) -> httpx.Response:
    """Each service as the console calls it, by its port."""
    ASKED.append(request)
    for (port, route), answer in ROUTES.items():
        if port == request.url.port and re.fullmatch(route, request.url.path):
            return httpx.Response(200, json=answer(request))
    return httpx.Response(404, json={"detail": f"not faked: {request.url.path}"})


@pytest.fixture
async def secretary(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The community's secretary, signed in to the console (Chinese: the default)."""
    async with signed_in_console(tmp_path, services_answering, f"secretary:{COMMUNITY}") as client:
        ASKED.clear()
        yield client


async def _sheet(client: httpx.AsyncClient, path: str) -> tuple[Worksheet, httpx.Response]:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text[:2000]
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert isinstance(sheet, Worksheet)
    return sheet, answer


def _rows(sheet: Worksheet) -> list[list[Any]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def _named(answer: httpx.Response) -> tuple[str, str]:
    """The file's name as a browser reads it (RFC 5987), and its ASCII fallback."""
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    utf8 = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    ascii_name = re.search(r'filename="([^"]+)"', disposition)
    assert utf8, disposition
    assert ascii_name, disposition
    assert ascii_name[1].isascii()
    return unquote(utf8[1]), ascii_name[1]


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


async def test_the_task_list_reads_in_chinese_names_and_local_dates_never_ids_or_codes(
    secretary: httpx.AsyncClient,
) -> None:
    sheet, answer = await _sheet(secretary, "/export/tasks.xlsx")
    rows = _rows(sheet)
    assert rows[0] == [
        "类别",
        "问题描述",
        "地点",
        "单元",
        "状态",
        "紧急程度",
        "来源",
        "承办党员",
        "协助人员",
        "提出时间",
        "办理期限",
        "销号时间",
        "原因",
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert (first["类别"], first["地点"], first["单元"], first["承办党员"], first["协助人员"]) == (
        "维修协调",
        "3幢 1单元 102室",
        "3幢",
        "吴宇霞",
        "李强",
    )
    closed = dict(zip(rows[0], rows[2], strict=True))
    assert (closed["类别"], closed["状态"], closed["紧急程度"], closed["来源"], closed["原因"]) == (
        "为老服务",
        "已销号",
        "紧急",
        "走访",
        "已解决",
    )
    hidden = dict(zip(rows[0], rows[3], strict=True))
    assert hidden["问题描述"] == "内容保密，仅社区书记可见"
    assert hidden["地点"] == "3幢 （匿名）"
    for row in rows[1:]:
        for value in row:
            if isinstance(value, str):
                assert not UUID.search(value), value
                assert not CODES.search(value), value

    raised = sheet.cell(row=2, column=10)
    assert isinstance(raised.value, datetime)
    assert raised.value == datetime(2026, 12, 16, 1, 0)  # 17:00 UTC is the next day in Hangzhou
    assert raised.number_format == "yyyy-mm-dd hh:mm"
    assert sheet.cell(row=2, column=12).value is None  # not closed: an empty cell, not "None"

    assert sheet.auto_filter.ref == "A1:M4"
    assert sheet.freeze_panes == "A2"
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEFGHIJKLM"]
    assert all(w and w >= 6 for w in widths), widths
    assert widths[1] >= shown_width("楼道灯不亮，晚上看不见台阶")  # Chinese counts double
    assert _named(answer) == (f"星河社区-任务清单-{_today()}.xlsx", f"fourlinks-tasks-{_today()}.xlsx")


async def test_in_the_english_console_the_file_speaks_english(secretary: httpx.AsyncClient) -> None:
    secretary.cookies.set("fourlinks_locale", "en")
    sheet, answer = await _sheet(secretary, "/export/tasks.xlsx")
    rows = _rows(sheet)
    assert rows[0][:5] == ["Category", "Description", "Where", "Unit", "Status"]
    assert rows[1][0] == "repairs"  # the catalogue's English label
    assert rows[1][4] == "In progress"
    assert _named(answer)[0] == f"星河社区-Task list-{_today()}.xlsx"  # the unit keeps its name


async def test_the_kpi_sheet_holds_the_services_figures_per_unit_below_and_in_all(
    secretary: httpx.AsyncClient,
) -> None:
    sheet, answer = await _sheet(secretary, f"/export/kpis.xlsx?month={MONTH}")
    rows = _rows(sheet)
    assert rows[0][:4] == ["单元", "任务数", "已销号", "销号率"]
    assert [row[0] for row in rows[1:]] == ["3幢", "5幢", "星河社区（合计）"]
    keys = ["tasks", "closed", "closure_rate", "due", "extended", "closed_on_time", "on_time_closure_rate"]
    keys += ["resolved_at_level_rate", "rework_count", "feedback", "responded", "response_rate"]
    keys += [
        "callbacks_answered",
        "resolved",
        "resolution_rate",
        "satisfied",
        "satisfaction_rate",
        "not_reached",
    ]
    for row, group in zip(rows[1:], [BUILDING, OTHER_BUILDING, COMMUNITY], strict=True):
        answered = {**_figures(TASK_FIGURES, group), **_figures(FEEDBACK_FIGURES, group)}
        assert row[1:] == [answered[k] for k in keys]  # as answered: nothing recomputed
    assert sheet.cell(row=2, column=4).number_format == "0.0%"
    asked = [(r.url.port, r.url.params["by"], r.url.params["month"]) for r in ASKED if r.url.path == "/kpis"]
    assert sorted(asked) == sorted(
        [
            (8102, "child", MONTH),
            (8103, "child", MONTH),
            (8102, "unit", MONTH),
            (8103, "unit", MONTH),
        ]
    )
    assert _named(answer)[0] == f"星河社区-考核月报-{MONTH}.xlsx"
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:S4")


async def test_the_visit_ledger_names_the_member_the_address_and_the_problem_by_day(
    secretary: httpx.AsyncClient,
) -> None:
    sheet, answer = await _sheet(secretary, f"/export/visits.xlsx?month={MONTH}")
    rows = _rows(sheet)
    assert rows[0] == ["走访日期", "党员", "单元", "住户或企业", "发现问题", "类别"]
    assert rows[1][1:] == ["吴宇霞", "3幢", "3幢 1单元 102室", "楼道灯坏了", "维修协调"]
    assert rows[2][1:] == ["李强", "星河社区", "星河便利店 星河路1号", "无", None]
    visited = sheet.cell(row=2, column=1)
    assert isinstance(visited.value, datetime)
    assert visited.value.date() == date(2026, 11, 20)
    assert visited.number_format == "yyyy-mm-dd"
    ledger = next(r for r in ASKED if r.url.path == "/visits")
    assert (ledger.url.params["unit"], ledger.url.params["month"]) == (COMMUNITY, MONTH)
    assert _named(answer) == (f"星河社区-走访台账-{MONTH}.xlsx", f"fourlinks-visits-{MONTH}.xlsx")


async def test_a_csv_download_has_a_bom_the_same_words_and_local_times(secretary: httpx.AsyncClient) -> None:
    answer = await secretary.get("/export/callbacks.csv")
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows == [
        ["反馈编号", "地点", "回访类型", "轮次", "应回访时间", "答复截止"],
        ["YH-2026-000123", "3幢 1单元 102室", "首次回访", "1", "2026-12-22 16:23", "2026-12-24 00:30"],
    ]
    assert _named(answer)[0] == f"星河社区-待回访-{_today()}.csv"


async def test_the_kpi_and_coverage_pages_link_the_monthly_sheets(secretary: httpx.AsyncClient) -> None:
    ROUTES[(8101, r"/coverage")] = lambda r: {
        "unit": COMMUNITY,
        "households": {"total": 1, "covered": 1, "uncovered": 0},
        "enterprises": {"total": 0, "covered": 0, "uncovered": 0},
        "members_active": 1,
        "members_over_capacity": 0,
        "coverage_rate": 1.0,
    }
    ROUTES[(8101, r"/coverage/below")] = lambda r: []
    ROUTES[(8101, r"/coverage/uncovered")] = lambda r: _page([])
    ROUTES[(8103, r"/kpis/ranking")] = lambda r: {
        "metric": "satisfaction_rate",
        "minimum_sample": 5,
        "ranking": [],
    }
    try:
        kpis = (await secretary.get(f"/kpis?month={MONTH}")).text
        coverage = (await secretary.get("/coverage")).text
    finally:
        for key in [(8101, r"/coverage"), (8101, r"/coverage/below"), (8101, r"/coverage/uncovered")]:
            ROUTES.pop(key)
        ROUTES.pop((8103, r"/kpis/ranking"))
    assert f'href="/export/kpis.xlsx?unit=yuhang%2Fs01%2Fc001&amp;month={MONTH}"' in kpis
    assert f'href="/export/visits.xlsx?unit=yuhang%2Fs01%2Fc001&amp;month={MONTH}"' in kpis
    assert 'href="/export/visits.xlsx?unit=yuhang%2Fs01%2Fc001"' in coverage
