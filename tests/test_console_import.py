"""A community's roster imported through the real members service: the console's dry run explains
each refused row in Chinese, the import registers the rest through the service's commands (events,
personal keys, the secretary's scope), importing the same file again changes nothing (not one new
event), an import that crashed mid-way continues without making anything twice — even when the
service's answers were lost and its read model had not yet shown what was made — and
`fourlinks import` does the same from the command line."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from conftest import COMMUNITY, District, eventually, running, service_runtime, wait_ready
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook
from tools.console_pages import csrf_of

from fourlinks_cli.imports import Importing, import_roster, report
from fourlinks_console.app import create_app as console_app
from fourlinks_console.rosters.checking import Plan, State, check
from fourlinks_console.rosters.directory import Directory, read_directory
from fourlinks_console.rosters.kinds import Kind
from fourlinks_console.rosters.reading import read_roster
from fourlinks_console.rosters.running import Progress, send_plan
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts.credit_codes import credit_code_check_char
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_runtime.settings import Settings

pytestmark = pytest.mark.timeout(600)
CODE_1 = "91330110MA2K1G5X1" + credit_code_check_char("91330110MA2K1G5X1")
CODE_2 = "91330110MA2K1G5X2" + credit_code_check_char("91330110MA2K1G5X2")
WRONG_CODE = CODE_1[:-1] + ("A" if CODE_1[-1] != "A" else "B")
SECRETARY = f"secretary:{COMMUNITY}"
TREE = [
    ("yuhang", "余杭区", "district", None),
    ("nanyuan", "南苑街道", "street", "yuhang"),
    ("xinghe", "星河社区", "community", "yuhang/nanyuan"),
    ("yuehe", "月河社区", "community", "yuhang/nanyuan"),
    ("b1", "1幢", "building", COMMUNITY),
    ("b2", "2幢", "building", COMMUNITY),
    ("b1", "1幢", "building", "yuhang/nanyuan/yuehe"),
]
MEMBERS: list[list[Any]] = [
    ["姓名", "手机", "所在单位", "党支部"],
    ["张建国", "13912345678", "1幢", "星河第一支部"],
    ["李强", "0571-88880002", "星河社区/2幢", "星河第一支部"],
    ["吴宇霞", "13912345679", "星河社区", "星河第二支部"],
    ["王芳", "12345", "1幢", "星河第二支部"],  # not a phone
]
HOUSEHOLDS: list[list[Any]] = [
    ["楼栋", "单元", "室", "住户姓名", "住户手机", "独居老人", "残疾"],
    ["1幢", "1", "101", "王小明", "13900000001", "否", "否"],
    ["1幢", "1", "101", "王大明", None, "是", "否"],
    ["1幢", "1", "102", "陈静", "13900000003", "否", "否"],
    ["2幢", "1", "201", "刘洋", "13900000004", "否", "否"],
    ["2幢", "1", "202", None, None, None, None],  # a household without a resident on record
    ["3幢", "1", "301", "赵敏", None, "否", "否"],  # no such building
]
ENTERPRISES: list[list[Any]] = [
    ["企业名称", "统一社会信用代码", "所在单位", "地址", "联系人", "联系电话"],
    ["杭州星河便利店", CODE_1, "星河社区", "星河路1号", "孙老板", "13900000010"],
    ["杭州星河五金店", CODE_2, "星河社区", "星河路2号", "钱老板", None],
    ["杭州星河药房", WRONG_CODE, "星河社区", "星河路3号", "周老板", None],  # fails its check character
]
CARDS: list[list[Any]] = [
    ["党员姓名", "党员手机", "党员所在单位", "联系住户", "联系企业", "服务事项"],
    ["张建国", "13912345678", "1幢", "1幢1单元101室、1幢1单元102室", CODE_1, "政策宣讲、维修协调"],
    ["李强", "0571-88880002", "2幢", "2幢1单元201室", None, "为老服务"],
    ["周杰", "13912340000", "1幢", "1幢1单元101室", None, "维修协调"],  # no such member
]


def workbook(**sheets: list[list[Any]]) -> bytes:
    book = Workbook()
    book.remove(book.worksheets[0])
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ROSTER = workbook(党员=MEMBERS, 住户=HOUSEHOLDS, 企业=ENTERPRISES, 服务卡=CARDS)


class Route(httpx.AsyncBaseTransport):
    """The console's calls to the members service, to its app in this process."""

    def __init__(self, members: httpx.AsyncClient) -> None:
        self._members = members._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "members":
            return httpx.Response(503)
        return await self._members.handle_async_request(request)


@dataclass
class Place:
    """The members service with a community's units, and the console in front of it."""

    d: District
    app: FastAPI
    services: Services

    def token(self, role: str, subject: str, scope: str = COMMUNITY) -> str:
        return self.d.token(role, subject, scope=scope)["Authorization"].removeprefix("Bearer ")

    async def last_position(self) -> int:
        return await service_runtime(self.d.members).store.last_position()

    async def total(self, path: str) -> int:
        answer = await self.d.get(self.d.members, path, self.d.secretary, unit=COMMUNITY, limit=500)
        return int(answer["total"])


@pytest.fixture
async def place(service_settings: Settings) -> AsyncIterator[Place]:
    async with AsyncExitStack() as stack:
        members = await stack.enter_async_context(running(members_app(service_settings)))
        assert (await wait_ready(members)).status_code == 200
        d = District(service_settings, members, members, members)
        admin = d.token("administrator", scope="yuhang")
        for code, name, level, parent in TREE:
            unit = {"code": code, "name": name, "level": level, "parent_path": parent}
            await d.post(members, "/org-units", unit, admin)
        console = ConsoleSettings(
            local_signin=True,
            session_store="memory",
            session_secret="console-test-secret-of-enough-length-0000",
            members_url="http://members",
        )
        app = console_app(console, service_settings)
        services = Services(console, transport=Route(members), metrics=app.state.metrics)
        app.state.services = services
        await stack.enter_async_context(LifespanManager(app))
        yield Place(d, app, services)
        await services.aclose()


@pytest.fixture
async def browser(place: Place) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=place.app), base_url="http://console.test", follow_redirects=True
    ) as client:
        page = await client.get("/signin")
        form = {
            "csrf_token": csrf_of(page.text),
            "who": SECRETARY,
            "next": "/import",
        }  # home asks every service
        signed = await client.post("/signin/local", data=form)
        assert signed.status_code == 200, signed.text[:300]
        yield client


ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,;:]+[A-Za-z][A-Za-z'’-]*)+")  # two words or more
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Visible(HTMLParser):
    """The text a person reads on a page (not its scripts, styles or attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.text.append(data.strip())


def unreadable(page: str) -> list[str]:
    """English phrases and ids on a page, which a Chinese reader should not meet."""
    parser = Visible()
    parser.feed(page)
    text = "\n".join(parser.text)
    return ENGLISH.findall(text) + UUID.findall(text)


def cells(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content))
    return "\n".join(
        [sheet.title for sheet in book.worksheets]
        + [str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row if c]
    )


async def checked(browser: httpx.AsyncClient, content: bytes) -> tuple[str, str]:
    """The file uploaded on the import page and its dry run done: the job's address and page."""
    page = await browser.get("/import")
    files = {"roster": ("星河社区名册.xlsx", content)}
    sent = await browser.post("/import", data={"csrf_token": csrf_of(page.text)}, files=files)
    assert sent.status_code == 200, sent.text[:300]
    return await finished(browser, str(sent.url.path))


async def finished(browser: httpx.AsyncClient, job: str) -> tuple[str, str]:
    async def page() -> str | None:
        shown = (await browser.get(job)).text
        working = 'data-phase="checking"' in shown or 'data-phase="importing"' in shown
        return None if working else shown

    return job, await eventually(page, timeout=60)


async def test_a_roster_is_checked_imported_and_imported_again_without_a_change(
    place: Place, browser: httpx.AsyncClient
) -> None:
    job, page = await checked(browser, ROSTER)
    refused = re.findall(r'<tr data-code="(\w+)"><td>([^<]*)</td><td>(\d+)</td><td>([^<]*)</td>', page)
    assert sorted((code, sheet, row) for code, sheet, row, _ in refused) == [
        ("credit_code_checksum", "企业", "4"),
        ("member_unknown", "服务卡", "4"),
        ("phone_malformed", "党员", "5"),
        ("unit_unknown", "住户", "7"),
    ]
    assert all(re.search(r"[\u4e00-\u9fff]", why) for *_, why in refused)  # said in Chinese
    assert "最后一位应为" in page
    assert "不是电话号码" in page
    answered = (await browser.get(f"{job}/answer.xlsx")).content
    answer = load_workbook(io.BytesIO(answered))
    assert [c.value for c in answer["住户"]["A"]] == ["楼栋", "3幢"]
    template = (await browser.get("/import/template/cards.xlsx")).content
    assert unreadable(page) == []
    assert unreadable((await browser.get("/import")).text) == []
    assert ENGLISH.findall(cells(answered) + cells(template)) == []  # all of it in Chinese
    assert await place.total("/members") == 0  # a dry run registers nothing

    await browser.post(f"{job}/run", data={"csrf_token": csrf_of(page)})
    _, done = await finished(browser, job)
    assert 'data-phase="done"' in done, done[:2000]
    assert await eventually(lambda: _totals(place, members=3, households=4, enterprises=2))
    coverage = await place.d.get(place.d.members, "/coverage", place.d.secretary, unit=COMMUNITY)
    assert coverage["households"]["covered"] == 3
    assert coverage["enterprises"]["covered"] == 1
    listed = await place.d.get(place.d.members, "/households", place.d.secretary, unit=f"{COMMUNITY}/b1")
    first = next(h for h in listed["items"] if h["room"] == "101")
    assert sorted(r["name"] for r in first["residents"]) == ["王大明", "王小明"]

    before = await place.last_position()
    again, page = await checked(browser, ROSTER)
    assert re.findall(r'data-count="new">(\d+)<', page) == ["0", "0", "0", "0"]
    assert re.findall(r'data-count="exists">(\d+)<', page) == ["3", "4", "2", "2"]
    assert f'action="{again}/run"' not in page  # nothing to import
    await browser.post(f"{again}/run", data={"csrf_token": csrf_of(page)})
    await asyncio.sleep(0.5)
    assert await place.last_position() == before  # not one event more


async def _totals(place: Place, **wanted: int) -> bool:
    return all([await place.total(f"/{kind}") == count for kind, count in wanted.items()])


def many_households(count: int) -> bytes:
    rows = [["楼栋", "单元", "室", "住户姓名", "住户手机"]]
    rows += [["1幢", str(n // 20 + 1), f"{n % 20 + 101}", f"居民{n}", f"139{n:08d}"] for n in range(count)]
    return workbook(住户=rows)


async def planned(place: Place, token: str, content: bytes) -> tuple[Plan, Directory]:
    async def read(path: str, params: dict[str, Any]) -> Any:
        return await place.services.get(token, "members", path, params)

    directory = await read_directory(read, COMMUNITY)
    return check(read_roster("住户.xlsx", content), directory), directory


Send = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]


def sender(place: Place, token: str, *, lost_after: int | None = None) -> Send:
    """The import's requests to the service; with `lost_after`, the service does the request that
    comes after that many, and the importer dies before it hears the answer."""
    sent = [0]

    async def send(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        answer = await place.services.send(token, "members", path, body, idempotency_key=key)
        sent[0] += 1
        if lost_after is not None and sent[0] > lost_after:
            raise ConnectionResetError("the importer died before it heard the answer")
        return answer

    return send


async def test_an_import_that_crashed_continues_and_makes_nothing_twice(place: Place) -> None:
    token = place.token("secretary", "secretary-crash")
    content = many_households(60)
    plan, stale = await planned(place, token, content)
    assert plan.rows(State.NEW) == 60
    with pytest.raises(ConnectionResetError):
        await send_plan(plan, stale, sender(place, token, lost_after=25), Progress(60), in_flight=4)
    # The same plan and the same stale directory (the read model shows none of it), sent again:
    # what the service made before it was answered with is answered, never made again.
    resumed, _ = await planned(place, token, content)
    for item in resumed.items[Kind.HOUSEHOLDS]:
        item.state = State.NEW
    await send_plan(resumed, stale, sender(place, token), Progress(60), in_flight=4)
    assert all(i.state == State.CREATED for i in resumed.items[Kind.HOUSEHOLDS])
    assert await eventually(lambda: _totals(place, households=60))
    plan_after, _ = await planned(place, token, content)
    assert plan_after.rows(State.EXISTS) == 60
    assert plan_after.rows(State.NEW) == 0


async def test_fourlinks_import_does_the_same_from_the_command_line(place: Place, tmp_path: Path) -> None:
    roster = tmp_path / "星河社区名册.xlsx"
    roster.write_bytes(ROSTER)
    token = place.token("administrator", "fourlinks-import", scope="yuhang")
    importing = Importing(roster, COMMUNITY, in_flight=4)
    imported = await import_roster(importing, place.services, token)
    assert imported.plan.counts()[Kind.MEMBERS][State.CREATED] == 3
    assert imported.refused_rows == 4
    assert imported.answer == tmp_path / "星河社区名册-答复表.xlsx"
    assert imported.answer.exists()
    assert any("rows refused" in line for line in report(imported))
    assert await eventually(lambda: _totals(place, members=3, households=4, enterprises=2))
    before = await place.last_position()
    again = await import_roster(importing, place.services, token)
    assert again.plan.rows(State.NEW) == 0
    assert await place.last_position() == before
