"""Rosters from Excel, as a secretary brings hers in: a template per kind (the header row, an
example row the import leaves out, lists to choose from), a dry run that refuses each bad row with
its reason in Chinese and answers a sheet of them, then the import through the members service's
commands, each carrying an Idempotency-Key named after the row's natural key.

The members service is faked over HTTP as the console calls it: its units, what is registered,
and every command it is sent."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.console.tests.harness import signed_in_console
from openpyxl import Workbook, load_workbook

from fourlinks_console.i18n import Language
from fourlinks_console.rosters import running
from fourlinks_console.rosters.checking import State, check
from fourlinks_console.rosters.directory import Directory, Known, Unit, household_key, member_key
from fourlinks_console.rosters.kinds import KINDS, Kind, address_of
from fourlinks_console.rosters.reading import read_roster
from fourlinks_console.rosters.running import Progress, idempotency_key, send_plan
from fourlinks_console.rosters.sheets import template
from fourlinks_contracts.credit_codes import credit_code_check_char

DISTRICT, STREET, COMMUNITY = "yuhang", "yuhang/s01", "yuhang/s01/c001"
B3, B5 = f"{COMMUNITY}/b03", f"{COMMUNITY}/b05"
UNITS = {
    DISTRICT: ("余杭区", "district"),
    STREET: ("南苑街道", "street"),
    COMMUNITY: ("星河社区", "community"),
    B3: ("3幢", "building"),
    B5: ("5幢", "building"),
}
SECRETARY = f"secretary:{COMMUNITY}"
CODE = "91330110MA2F1G5X8" + credit_code_check_char("91330110MA2F1G5X8")
OTHER_CODE = "91330110MA2F1G5X9" + credit_code_check_char("91330110MA2F1G5X9")
KNOWN_MEMBER = "0190aaaa-0000-7000-8000-000000000001"
CHINESE = Language.of("zh_CN", "Asia/Shanghai")
HAN = re.compile(r"[\u4e00-\u9fff]")


class MembersService:
    """The members service as the console calls it: its units, one member and one household
    registered, and every command sent to it (answered with an id derived from its key)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any], str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        if request.method == "POST":
            return self.command(request)
        if path == "/org-units":
            listed = [u for u in UNITS if u == COMMUNITY or u.startswith(COMMUNITY + "/")]
            return httpx.Response(200, json=[self.unit(p) for p in listed])
        if path == "/names/units":
            return httpx.Response(200, json=[self.unit(p) for p in params.get_list("paths") if p in UNITS])
        if path == "/members":
            member = {
                "member_id": KNOWN_MEMBER,
                "name": "李强",
                "public_phone": "139-1234-0000",
                "org_unit": B5,
                "capacity": 8,
                "card_id": None,
            }
            return httpx.Response(200, json={"items": [member], "total": 1})
        if path == "/households":
            known = {"household_id": str(uuid.uuid4()), "org_unit": B3, "unit_no": "1", "room": "101"}
            return httpx.Response(200, json={"items": [known], "total": 1})
        if path == "/enterprises":
            return httpx.Response(200, json={"items": [], "total": 0})
        return httpx.Response(200, json=[])

    @staticmethod
    def unit(path: str) -> dict[str, str]:
        name, level = UNITS[path]
        return {"path": path, "name": name, "level": level}

    def command(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        self.commands.append((request.url.path, json.loads(request.content), key))
        made = str(uuid.uuid5(uuid.NAMESPACE_URL, key or str(uuid.uuid4())))
        return httpx.Response(201, json={"id": made, "position": len(self.commands)})


def workbook(**sheets: list[list[Any]]) -> bytes:
    """A workbook of sheets by name, each its header row then its rows."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MEMBERS: list[list[Any]] = [
    ["姓名", "手机", "所在单位", "党支部", "联系上限"],
    ["张建国", "13912345678", "星河社区/3幢", "星河第一支部", 8],
    ["李强", 13912340000, "5幢", "星河第一支部", None],  # registered already (the phone as a number)
    ["王芳", "1391234", "3幢", "星河第一支部", None],  # not a phone
    ["赵敏", "13912345679", "9幢", "星河第一支部", None],  # no such building
    ["张建国", "139 1234 5678", "3幢", "星河第二支部", None],  # the first row again
    ["孙丽", "13912345670", "南苑街道/月亮社区/1幢", "月亮支部", None],  # not in this area
]
HOUSEHOLDS: list[list[Any]] = [
    ["楼栋", "单元", "室", "住户姓名", "住户手机", "独居老人", "残疾", "走访周期（天）"],
    ["3幢", "1", "102", "王小明", "13900000001", "否", "否", 30],
    ["3幢", "1单元", "102室", "王大明", None, "是", "否", None],  # the same household, second resident
    ["3幢", "1", "101", "陈静", "13900000003", "否", "否", None],  # registered already
    ["5幢", "2", "201", "刘洋", "13900000004", "也许", "否", None],  # neither 是 nor 否
    ["5幢", "2", "201", "刘海", None, "否", "否", None],  # its household is refused with it
]
ENTERPRISES: list[list[Any]] = [
    ["企业名称", "统一社会信用代码", "所在单位", "地址", "联系人", "联系电话"],
    ["杭州星河便利店", CODE, "星河社区", "星河路1号", "孙老板", None],
    [
        "杭州星河五金店",
        OTHER_CODE[:-1] + ("0" if OTHER_CODE[-1] != "0" else "1"),
        "星河社区",
        "星河路2号",
        "钱老板",
        None,
    ],
]
CARDS: list[list[Any]] = [
    ["党员姓名", "党员手机", "党员所在单位", "联系住户", "联系企业", "服务事项"],
    ["张建国", "13912345678", "3幢", "3幢1单元102室", CODE, "政策宣讲、维修协调"],
    ["吴宇", "13912345671", "3幢", "3幢1单元103室", None, "维修协调"],  # nobody of that name
]


def a_roster() -> bytes:
    return workbook(党员=MEMBERS, 住户=HOUSEHOLDS, 企业=ENTERPRISES, 服务卡=CARDS)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, MembersService]]:
    service = MembersService()
    async with signed_in_console(tmp_path, service, SECRETARY) as client:
        yield client, service


async def uploaded(client: httpx.AsyncClient, content: bytes, name: str = "星河社区名册.xlsx") -> str:
    """Upload a file through the import page; the job's address once its dry run is done."""
    page = await client.get("/import")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    sent = await client.post("/import", data={"csrf_token": csrf[1]}, files={"roster": (name, content)})
    assert sent.status_code == 303, sent.text[:500]
    job = sent.headers["location"]
    for _ in range(200):
        shown = await client.get(job)
        if 'data-phase="checking"' not in shown.text and 'data-phase="importing"' not in shown.text:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError("the job never finished")


async def test_a_dry_run_refuses_each_bad_row_with_its_reason_in_chinese(
    console: tuple[httpx.AsyncClient, MembersService],
) -> None:
    client, service = console
    job = await uploaded(client, a_roster())
    page = (await client.get(job)).text
    reasons = re.findall(r'<tr data-code="(\w+)"><td>([^<]*)</td><td>(\d+)</td>', page)
    assert sorted(reasons) == sorted(
        [
            ("phone_malformed", "党员", "4"),
            ("unit_unknown", "党员", "5"),
            ("repeated", "党员", "6"),
            ("unit_outside", "党员", "7"),
            ("yes_or_no", "住户", "5"),
            ("household_refused", "住户", "6"),
            ("credit_code_checksum", "企业", "3"),
            ("member_unknown", "服务卡", "3"),
        ]
    )
    assert "手机 1391234 不是电话号码" in page
    assert "您的辖区（星河社区）内没有单位“9幢”" in page
    assert "与第 2 行的所在单位、姓名、手机相同" in page
    assert "南苑街道/月亮社区/1幢 不在您的辖区（星河社区）内" in page
    assert "独居老人只能填“是”或“否”" in page
    assert "最后一位应为" in page  # the credit code's check character, as the service says it
    assert service.commands == []  # a dry run registers nothing
    sheet = load_workbook(io.BytesIO((await client.get(f"{job}/answer.xlsx")).content))
    members = sheet["党员"]
    header = [c.value for c in members[1]]
    assert header[:4] == ["姓名", "手机", "所在单位", "党支部"]
    assert header[-2:] == ["原行号", "原因"]
    rows = [[c.value for c in row] for row in members.iter_rows(min_row=2)]
    assert [r[-2] for r in rows] == [4, 5, 6, 7]
    assert all(HAN.search(str(r[-1])) for r in rows)
    assert [r[0] for r in rows] == ["王芳", "赵敏", "张建国", "孙丽"]  # the rows as the file had them


async def test_the_import_sends_each_new_record_once_named_by_its_natural_key(
    console: tuple[httpx.AsyncClient, MembersService],
) -> None:
    client, service = console
    job = await uploaded(client, a_roster())
    page = await client.get(job)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    await client.post(f"{job}/run", data={"csrf_token": csrf[1]})
    for _ in range(200):
        if 'data-phase="done"' in (await client.get(job)).text:
            break
        await asyncio.sleep(0.02)
    paths = [path for path, _, _ in service.commands]
    assert paths[:3] == ["/members", "/households", "/enterprises"]  # the card after what it names
    assert paths[3].startswith("/members/")
    assert paths[3].endswith("/card")
    assert len(paths) == 4
    member, household, _enterprise, card = (body for _, body, _ in service.commands)
    assert member == {
        "name": "张建国",
        "public_phone": "13912345678",
        "party_branch": "星河第一支部",
        "org_unit": B3,
        "capacity": 8,
    }
    assert household["residents"] == [
        {"name": "王小明", "phone": "13900000001", "elderly_living_alone": False, "disability": False},
        {"name": "王大明", "elderly_living_alone": True, "disability": False},
    ]
    assert household["visit_cadence_days"] == 30
    assert household["room"] == "102"
    assert card["service_matters"] == ["policy_explanation", "repairs"]
    made = {path: key for path, _, key in service.commands}
    assert made["/members"] == idempotency_key(Kind.MEMBERS, member_key(B3, "张建国", "13912345678"))
    assert made["/households"] == idempotency_key(Kind.HOUSEHOLDS, household_key(B3, "1", "102"))
    assert card["households"] == [str(uuid.uuid5(uuid.NAMESPACE_URL, made["/households"]))]
    assert all(
        re.fullmatch(r"roster:\w+:[0-9a-f]{40}", key or "") for key in made.values()
    )  # no personal data


def test_an_unchanged_example_row_is_left_out_and_a_template_lists_what_to_choose() -> None:
    directory = Directory(
        COMMUNITY, {p: Unit(p, level, names(p)) for p, (_, level) in UNITS.items() if p.startswith(COMMUNITY)}
    )
    book = load_workbook(io.BytesIO(template(KINDS[Kind.HOUSEHOLDS], directory, CHINESE)))
    sheet = book["住户"]
    assert [c.value for c in sheet[1]][:3] == ["楼栋", "单元", "室"]
    assert sheet.freeze_panes == "A2"
    rules = {r.formula1 for r in sheet.data_validations.dataValidation}
    assert '"是,否"' in rules
    assert "'单位列表'!$A$1:$A$3" in rules
    assert [c.value for c in book["单位列表"]["A"]] == ["星河社区", "3幢", "5幢"]
    assert book["单位列表"].sheet_state == "hidden"
    note = sheet.cell(row=1, column=1).comment
    assert note is not None
    assert HAN.search(note.text)  # what to write, in Chinese
    out = io.BytesIO()
    book.save(out)
    roster = read_roster(
        "模板.xlsx",
        workbook(
            住户=[
                [c.value for c in sheet[1]],
                [c.value for c in sheet[2]],
                [*[c.value for c in sheet[2]][:2], "102"],
            ]
        ),
    )
    assert roster.sheets[0].examples == 1
    assert [r.number for r in roster.sheets[0].rows] == [3]


def names(path: str) -> tuple[str, ...]:
    parts = path.split("/")
    return tuple(UNITS["/".join(parts[: i + 1])][0] for i in range(len(parts)))


def test_a_csv_saved_by_chinese_excel_reads_as_the_same_rows() -> None:
    text = "姓名,手机,所在单位,党支部\r\n张建国,13912345678,3幢,星河第一支部\r\n"
    for encoded in (text.encode("gb18030"), ("\ufeff" + text).encode("utf-8")):
        roster = read_roster("党员.csv", encoded)
        assert roster.sheets[0].kind == Kind.MEMBERS
        assert roster.sheets[0].rows[0].values == {
            "name": "张建国",
            "phone": "13912345678",
            "unit": "3幢",
            "branch": "星河第一支部",
        }


def test_a_cards_household_is_named_by_its_address() -> None:
    found = address_of("星河社区/3幢1单元101室")
    assert found is not None
    assert (found.building, found.unit_no, found.room) == (
        ["星河社区", "3幢"],
        "1",
        "101",
    )
    plain = address_of("12号楼302")
    assert plain is not None
    assert (plain.building, plain.unit_no, plain.room) == (["12号楼"], "", "302")
    assert address_of("星河社区") is None


async def test_a_run_that_stopped_sends_again_only_what_it_had_not_sent() -> None:
    directory = Directory(
        COMMUNITY, {p: Unit(p, level, names(p)) for p, (_, level) in UNITS.items() if p.startswith(COMMUNITY)}
    )
    rows = [["姓名", "手机", "所在单位", "党支部"]] + [
        [f"党员{i}", f"1391234{i:04d}", "3幢", "支部"] for i in range(10)
    ]
    plan = check(read_roster("党员.xlsx", workbook(党员=rows)), directory)
    sent: list[str] = []

    async def failing(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        if len(sent) == 4:
            raise ConnectionError("the console went down")
        sent.append(key)
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}

    with pytest.raises(ConnectionError):
        await send_plan(plan, directory, failing, Progress(plan.rows(State.NEW)), in_flight=1)
    assert plan.counts()[Kind.MEMBERS][State.CREATED] == 4

    async def working(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        sent.append(key)
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}

    await send_plan(plan, directory, working, Progress(plan.rows(State.NEW)))
    assert len(sent) == len(set(sent)) == 10
    assert plan.counts()[Kind.MEMBERS][State.CREATED] == 10
    directory.members = {i.key: Known(i.id or "", B3) for i in plan.items[Kind.MEMBERS]}
    again = check(read_roster("党员.xlsx", workbook(党员=rows)), directory)
    assert again.rows(State.NEW) == 0
    assert again.rows(State.EXISTS) == 10


async def test_a_file_that_is_no_workbook_is_refused_in_chinese(
    console: tuple[httpx.AsyncClient, MembersService],
) -> None:
    client, _ = console
    job = await uploaded(client, b"PK\x03\x04 an old or damaged file", "名册.xlsx")
    page = (await client.get(job)).text
    assert 'data-phase="refused"' in page
    assert "无法读取这个文件" in page


async def test_a_run_the_service_stopped_answering_continues_from_the_page(
    console: tuple[httpx.AsyncClient, MembersService], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, service = console
    monkeypatch.setattr(running, "RETRIES", (0.0,))
    answer = service.command
    monkeypatch.setattr(service, "command", lambda request: httpx.Response(503))
    job = await uploaded(client, workbook(党员=MEMBERS[:2]))
    page = (await client.get(job)).text
    await client.post(f"{job}/run", data={"csrf_token": csrf_of(page)})
    stopped = await until(client, job, "stopped")
    assert 'data-code="unavailable"' in stopped  # said in Chinese, as every page says it
    assert "继续导入" in stopped
    monkeypatch.setattr(service, "command", answer)
    await client.post(f"{job}/run", data={"csrf_token": csrf_of(stopped)})
    done = await until(client, job, "done")
    assert re.findall(r'data-count="created">(\d+)<', done) == ["1"]
    assert [path for path, _, _ in service.commands] == ["/members"]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:300]
    return found[1]


async def until(client: httpx.AsyncClient, job: str, phase: str) -> str:
    """The job's page once it reaches a phase."""
    for _ in range(300):
        page = (await client.get(job)).text
        if f'data-phase="{phase}"' in page:
            return page
        await asyncio.sleep(0.02)
    raise AssertionError(f"the job never reached {phase}: {page[:2000]}")
