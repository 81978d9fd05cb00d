"""省市汇总, the page of a city's or a province's staff, in front of a province service faked as
it answers (each reader the districts of their own code): the districts' standing in words, the
figures exactly as answered, names never codes, and no way in for a district's staff."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import openpyxl
import pytest
from apps.console.tests.harness import console_before, signed_in_console
from openpyxl.utils import get_column_letter
from tools.console_pages import figures_of
from tools.console_province import (
    DISTRICT_CODE,
    DISTRICTS,
    HEARD,
    LANG,
    LAST_WORD,
    MONTH,
    PROVINCE_URL,
    FakeProvince,
    coverage_row,
    figures_row,
)
from tools.console_words import shown as shown_html
from tools.console_words import unreadable

from fourlinks_console.figures import months_back
from fourlinks_console.pages.province import months_between
from fourlinks_contracts.service_matters import matter_label


def shown(html: str) -> str:
    """What a person reads on the page, on one line."""
    return " ".join(shown_html(html).split())


@pytest.fixture
def province() -> FakeProvince:
    return FakeProvince()


@pytest.fixture
async def province_reader(tmp_path: Path, province: FakeProvince) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_console(tmp_path, province, "province:330000", province_url=PROVINCE_URL) as client:
        yield client


async def test_a_province_reader_lands_on_the_overview_of_every_district(
    province_reader: httpx.AsyncClient,
) -> None:
    home = await province_reader.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/province"
    page = await province_reader.get("/province")
    text = shown(page.text)
    assert page.status_code == 200, page.text[:2000]
    assert "省市汇总" in text
    assert "浙江省查看人员 · 省级" in text  # the reader and their level in the header, once
    assert text.count("省级") == 1
    assert all(name in text for name in ("余杭区", "西湖区", "海曙区"))
    figures = figures_of(page)
    assert figures["district.1.as_of"] == f"截至 {LANG.short(HEARD)}"  # no log position
    assert figures["district.1.link"] == f"链路正常 最近联系 {LANG.short(HEARD)}"
    assert figures["district.1.checkpoint"] == "已核验（与区县公布的签名一致）"
    assert figures["district.2.link"] == (
        f"链路中断（自 {LANG.short(LAST_WORD)} 起） 尚有 42 条待同步 该区县最近有一条数据被拒收。"
    )
    assert figures["district.2.checkpoint"] == (
        "未核验：签名与该区县登记的不一致，数据可能在传送中被改动，请与该区县核对"
    )
    assert figures["district.3.as_of"] == "尚无数据"
    assert figures["district.3.link"] == "尚未收到任何数据"
    assert figures["district.3.checkpoint"] == "未核验：该区县还没有发来签名，暂时无法核对"
    assert not re.search("检查点|日志|验证", text), "a word of the log's machinery"


async def test_every_figure_reads_as_the_province_service_answers_it(
    province_reader: httpx.AsyncClient,
) -> None:
    figures = figures_of(await province_reader.get("/province"))
    for row, district in enumerate(DISTRICTS, start=1):
        answered = figures_row(district["code"], district["name"], district["code"], row - 1)
        for rate in ("closure_rate", "on_time_closure_rate", "resolved_at_level_rate", "satisfaction_rate"):
            assert figures[f"kpis.{row}.{rate}"] == LANG.percent(answered[rate]), (row, rate)
        assert figures[f"kpis.{row}.tasks"] == LANG.number(answered["tasks"])
        covered = coverage_row(district["code"], district["name"], row - 1)
        assert figures[f"coverage.{row}.coverage_rate"] == LANG.percent(covered["coverage_rate"])
        assert figures[f"coverage.{row}.households"] == LANG.number(covered["households"])
    assert figures["ranked-districts.1"] == LANG.percent(figures_row("", "", "", 0)["on_time_closure_rate"])
    assert figures[f"trend.{MONTH}"] == LANG.percent(int(MONTH[5:]) / 20)  # the trend ends this month
    assert figures[f"trend.{MONTH}.sample"] == str(int(MONTH[5:]))
    assert figures["categories.repairs"] == "7"


async def test_the_page_names_districts_streets_and_categories_never_their_codes(
    province_reader: httpx.AsyncClient,
) -> None:
    text = shown((await province_reader.get("/province")).text)
    assert "当月任务不少于 10 件的区县和街道才参加排名。" in text  # the minimum sample, in words
    assert "仓前街道 余杭区" in text  # a street across districts, with its district's name
    assert matter_label("repairs", "zh_CN") in text
    assert matter_label("safety", "zh_CN") in text
    assert not unreadable(text), unreadable(text)
    assert not DISTRICT_CODE.findall(text), DISTRICT_CODE.findall(text)
    assert "uplink" not in text  # a refused statement's subject
    assert "no responders" not in text  # a link's error, as the server says it


async def test_a_city_reader_sees_only_what_the_service_answers_for_their_city(
    tmp_path: Path, province: FakeProvince
) -> None:
    async with signed_in_console(tmp_path, province, "city:330100", province_url=PROVINCE_URL) as city:
        page = await city.get("/province")
    text = shown(page.text)
    assert page.status_code == 200
    assert "余杭区" in text
    assert "西湖区" in text
    assert "海曙区" not in text  # Ningbo's, not the city's
    assert "鼓楼街道" not in text
    assert "杭州市查看人员 · 市级" in text  # the city by its name, the level once
    asked = [
        claims
        for path, _, claims in province.asked
        if path != "/districts" or claims["sub"] != "console-local-signin"
    ]
    assert asked
    assert all((c["roles"], c["scope"]) == (["city"], "330100") for c in asked)


async def test_the_month_and_the_rate_chosen_are_what_the_service_is_asked(
    province_reader: httpx.AsyncClient, province: FakeProvince
) -> None:
    page = await province_reader.get("/province", params={"month": "2026-07", "rate": "satisfaction_rate"})
    assert page.status_code == 200
    asked = {
        (path, params.get("by")): params
        for path, params, claims in province.asked
        if claims["sub"] != "console-local-signin"
    }
    assert asked[("/kpis", "district")]["month"] == "2026-07"
    assert asked[("/kpis/ranking", "street")] == {
        "by": "street",
        "metric": "satisfaction_rate",
        "month": "2026-07",
    }
    since = 12 + months_between("2026-07", MONTH)  # the service's trend ends this month
    assert asked[("/kpis/trend", None)] == {"metric": "satisfaction_rate", "months": str(since)}
    assert asked[("/coverage", "district")]["month"] == "2026-07"
    assert "当月回访接通不少于 10 次的区县和街道才参加排名。" in shown(page.text)
    trend = [name[6:] for name in figures_of(page) if re.fullmatch(r"trend\.\d{4}-\d{2}", name)]
    assert trend == months_back(date(2026, 7, 1), 12)  # the twelve months up to the one chosen
    assert "截至 2026-07 近十二个月的满意率" in shown(page.text)


async def test_a_miswritten_month_or_rate_is_said_in_words_and_this_month_shown(
    province_reader: httpx.AsyncClient, province: FakeProvince
) -> None:
    page = await province_reader.get("/province", params={"month": "abc", "rate": "coverage_rate"})
    figures = figures_of(page)
    assert figures["note.1"] == f"月份应写作 {MONTH}；下面显示的是本月的数据。"
    assert figures["note.2"] == "请从列表中选择指标；下面显示的是“按期销号率”。"
    text = shown(page.text)
    assert not re.search(r"month|rate|格式", text), text  # never a field's name
    ranked = [params for path, params, _ in province.asked if path == "/kpis/ranking"]
    assert ranked
    assert all((p["month"], p["metric"]) == (MONTH, "on_time_closure_rate") for p in ranked)


async def test_a_month_still_to_come_is_said_to_have_no_figures_yet(
    province_reader: httpx.AsyncClient, province: FakeProvince
) -> None:
    page = await province_reader.get("/province", params={"month": "2099-01"})
    assert figures_of(page)["note.1"] == "2099-01 还没到，尚无数据；下面显示的是本月的数据。"
    asked = [params["month"] for path, params, _ in province.asked if path == "/kpis"]
    assert asked == [MONTH]
    assert f'<option value="{MONTH}" selected>' in page.text


async def test_coverage_of_a_past_month_says_it_is_kept_for_this_month_only(
    province_reader: httpx.AsyncClient,
) -> None:
    past = figures_of(await province_reader.get("/province", params={"month": "2026-07"}))
    assert past["coverage.none"] == "联系覆盖为本月当前情况，往月未留存。"
    now = figures_of(await province_reader.get("/province"))
    assert "coverage.none" not in now


async def test_a_ranking_with_too_few_to_rank_is_a_sentence_not_a_numbered_line(
    province_reader: httpx.AsyncClient, province: FakeProvince
) -> None:
    province.ranked = False
    page = await province_reader.get("/province")
    figures = figures_of(page)
    assert figures["ranked-districts.none"] == "样本不足，暂不排名。"
    assert figures["ranked-streets.none"] == "样本不足，暂不排名。"
    assert '<ol aria-labelledby="ranked-' not in page.text
    assert "<li>样本不足" not in page.text


async def test_a_wide_table_says_it_scrolls_and_keeps_its_headers_on_one_line(
    province_reader: httpx.AsyncClient,
) -> None:
    page = await province_reader.get("/province")
    assert page.text.count('class="scroll-hint"') == 2  # the KPIs' and the coverage's tables
    assert "左右滑动查看更多" in shown(page.text)
    css = (await province_reader.get("/static/console.css")).text
    assert ".by-district thead th, .by-district caption { white-space: nowrap; }" in css


async def test_the_kpis_by_district_download_as_an_excel_sheet_in_words(
    province_reader: httpx.AsyncClient,
) -> None:
    answer = await province_reader.get("/province/kpis.xlsx", params={"month": "2026-07"})
    assert answer.status_code == 200
    assert "%E5%85%A8%E7%9C%81-" in answer.headers["content-disposition"]  # 全省-各区县指标-2026-07.xlsx
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "全省各区县指标 2026年7月"  # what it holds and its month, above the header
    assert rows[1][:3] == ("区县", "任务数", "已销号")
    assert [r[0] for r in rows[2:]] == ["余杭区", "西湖区", "海曙区", "全部区县"]
    assert sheet.freeze_panes == "A3"  # the heading and the header stay in view
    assert sheet.auto_filter.ref == f"A2:{get_column_letter(len(rows[1]))}6"
    cells = "\n".join(str(c) for r in rows for c in r if isinstance(c, str))
    assert not unreadable(cells)
    assert not DISTRICT_CODE.findall(cells)


async def test_a_district_secretary_has_no_link_to_the_overview_and_is_refused_it(
    tmp_path: Path, province: FakeProvince
) -> None:
    def district(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/org-units":
            return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
        if request.url.path == "/members":
            return httpx.Response(200, json={"items": [], "total": 0})
        return httpx.Response(200, json=[] if request.url.path.endswith(("/kpis", "/units")) else {})

    async with signed_in_console(tmp_path, district, "secretary:yuhang") as secretary:
        page = await secretary.get("/categories")
        refused = await secretary.get("/province")
        sheet = await secretary.get("/province/kpis.xlsx")
    assert 'href="/province' not in page.text
    assert refused.status_code == 403
    assert sheet.status_code == 403
    assert "市级、省级" in shown(refused.text)
    assert not province.asked


async def test_a_province_reader_opens_no_district_page(province_reader: httpx.AsyncClient) -> None:
    for path in ("/tasks", "/kpis", "/coverage", "/members", "/categories"):
        refused = await province_reader.get(path)
        assert refused.status_code == 403, path
    page = await province_reader.get("/province")
    links = set(re.findall(r'href="(/[^"?#]*)', page.text))
    assert links <= {"/", "/province", "/province/kpis.xlsx", "/locale/en", "/static/console.css"}, links


async def test_a_province_console_is_ready_when_the_province_service_answers(
    province_reader: httpx.AsyncClient,
) -> None:
    ready = await province_reader.get("/health/ready")
    assert ready.status_code == 200, ready.text  # the district's services are not asked


async def test_the_province_consoles_sign_in_offers_the_province_and_each_city_by_name(
    tmp_path: Path, province: FakeProvince
) -> None:
    async with console_before(tmp_path, province, province_url=PROVINCE_URL) as client:
        page = await client.get("/signin")
    text = shown(page.text)
    assert "试用本机省市汇总" in text
    assert "示例街区" not in text  # a district's console's words
    assert "浙江省查看人员" in text
    assert "杭州市查看人员 余杭区、西湖区" in text  # the city named, its districts after it
    assert "宁波市查看人员 海曙区" in text
    assert not DISTRICT_CODE.findall(text), DISTRICT_CODE.findall(text)
