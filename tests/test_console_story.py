"""A community secretary's day in the console, in Chinese, in headless Chromium, against the
embedded system `make up` runs (the seeded district): she brings a roster in from the household
template (the refused row explained on the page and in the answer sheet), finds the new resident
by the start and the end of her phone, by her name and by its pinyin initials, opens her household
(residents, card and member; at 360×640 too), answers the household's praise from the inbox (it
leaves the waiting list and the community's response figures move), reads the month's category
chart against the services' counts, and downloads the monthly report's PDF, which is rendered to
PNG and looked at: pages, ink, Chinese text with a glyph for every character, an embedded CJK font,
and no one's name or phone."""

from __future__ import annotations

import io
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import openpyxl
import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fpdf2 embeds fonts with it
from PIL import Image, ImageStat
from playwright.sync_api import Browser, FilePayload, Locator, Page
from tools.console_browser import (
    COMMUNITY,
    DESKTOP,
    SMALL_PHONE,
    Console,
    Watch,
    fits_the_screen,
    sign_in,
)

from fourlinks_console.cards_pdf import font_file
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.i18n import Language

pytestmark = pytest.mark.timeout(600)

LANG = Language.of("zh_CN", "Asia/Shanghai")  # the embedded system's zone (the settings' default)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ANSWER_SHEET = "Download the answer sheet (every refused row with its reason)"
CAUGHT_UP = 30.0
"""Seconds a read model may take to show what was just written (bounded polls, not sleeps)."""


@dataclass(frozen=True)
class Resident:
    """A person the roster brings in: a name no seeded person has (翀 is rare; no seeded name has
    initials starting with o), and a phone whose first 7 digits no seeded one is likely to share."""

    name: str
    phone: str
    initials: str

    @property
    def first_7(self) -> str:
        return self.phone[:7]

    @property
    def last_4(self) -> str:
        return self.phone[-4:]


HER = Resident("欧翀朵", "13904275813", "ocd")
HER_FATHER = Resident("欧建国", "", "ojg")
NEIGHBOUR = Resident("卞琇宁", "13904279026", "bxn")
REFUSED = Resident("敖一鸣", "12345", "aym")  # a phone of 5 digits: refused
MEMBER = Resident("邓翀", "13904270001", "dc")
PRAISE = "邓书记上门帮我们办好了老年卡，谢谢"
ANSWERED = "谢谢您的表扬，我们会继续做好服务"


def test_a_secretary_imports_a_roster_finds_her_resident_answers_her_praise_and_prints_the_month(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch = Watch()
    watch.attach(page)
    sign_in(page, console, f"secretary:{COMMUNITY}")

    building = import_a_roster(page)
    household = find_her(page)
    open_her_household(page, household, building)
    answer_her_praise(page, console, household)
    read_the_category_chart(page, console)
    read_the_monthly_report(page, tmp_path)

    context.close()
    assert not watch.errors, watch.errors
    assert not watch.elsewhere, f"requests left this machine: {watch.elsewhere}"


# -- 1. the roster ----------------------------------------------------------------------------------
def import_a_roster(page: Page) -> str:
    """The household template downloaded from the import page, filled, checked (the refused row
    explained on the page and in the answer sheet), then imported: the building it used."""
    page.locator("header nav a[href='/import']").click()
    page.wait_for_url(re.compile(r"/import$"))
    with page.expect_download() as got:
        page.locator("a[href='/import/template/households.xlsx']").click()
    template = Path(got.value.path()).read_bytes()
    roster, building = filled(template)
    page.locator("#roster").set_input_files(
        FilePayload(name="星河社区住户名册.xlsx", mimeType=XLSX, buffer=roster)
    )
    page.get_by_role("button", name=LANG.gettext("Check every row")).click()
    page.wait_for_url(re.compile(r"/import/[\w-]+$"))
    page.locator("#job[data-phase=checked]").wait_for()  # the page follows the dry run (htmx)

    refused = page.locator("#refused tbody tr")
    assert refused.count() == 1, refused.all_inner_texts()
    assert refused.first.get_attribute("data-code") == "phone_malformed"
    sheet, row, reason = refused.first.locator("td").all_inner_texts()
    assert (sheet, row) == ("住户", "5")
    assert "不是电话号码" in reason
    assert REFUSED.phone in reason
    assert new_of(page, "households") == 2
    assert new_of(page, "members") == new_of(page, "cards") == 1

    with page.expect_download() as got:
        page.get_by_role("link", name=LANG.gettext(ANSWER_SHEET)).click()
    answer = openpyxl.load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    rows = [[str(c) if c is not None else "" for c in r] for r in answer["住户"].iter_rows(values_only=True)]
    assert len(rows) == 2, rows  # the header, and the refused row as the file had it, with its reason
    assert REFUSED.name in rows[1]
    assert "9903" in rows[1]
    assert "不是电话号码" in rows[1][-1]

    page.get_by_role("button", name=re.compile(LANG.gettext("Import the rows found new"))).click()
    page.locator("#job[data-phase=done]").wait_for(timeout=60_000)
    done, total = (page.locator(f"#job [data-count={c}]").inner_text() for c in ("done", "total"))
    assert done == total, (done, total)
    assert int(total) >= 4  # a member, three residents' rows, a card
    assert page.locator("#job progress").get_attribute("value") == total
    assert LANG.gettext("The import is done.") in page.locator("#job").inner_text()
    return building


def filled(template: bytes) -> tuple[bytes, str]:
    """The household template with two households (one of two residents) and one refused row
    written over its example, plus a new member and her card for them: the file, and the building
    chosen from the template's own list of units."""
    book = openpyxl.load_workbook(io.BytesIO(template))
    units = [str(row[0]) for row in book["单位列表"].iter_rows(values_only=True) if row[0]]
    building = next(name for name in units if name.endswith("幢"))
    sheet = book["住户"]
    column = {str(cell.value): cell.column for cell in sheet[1] if cell.value}
    households = [
        {"单元": "9", "室": "9901", "住户姓名": HER.name, "住户手机": HER.phone, "独居老人": "否"},
        {"单元": "9", "室": "9901", "住户姓名": HER_FATHER.name, "独居老人": "是"},
        {"单元": "9", "室": "9902", "住户姓名": NEIGHBOUR.name, "住户手机": NEIGHBOUR.phone},
        {"单元": "9", "室": "9903", "住户姓名": REFUSED.name, "住户手机": REFUSED.phone},
    ]
    for number, household in enumerate(households, start=2):  # row 2 is the example: written over
        for header, at in column.items():
            value = {"楼栋": building, "残疾": "否", **household}.get(header)
            sheet.cell(row=number, column=at, value=value)
    members = book.create_sheet("党员")
    members.append(["姓名", "手机", "所在单位", "党支部"])
    members.append([MEMBER.name, MEMBER.phone, building, "第一党支部"])
    cards = book.create_sheet("服务卡")
    cards.append(["党员姓名", "党员手机", "党员所在单位", "联系住户", "服务事项"])
    homes = f"{building}9单元9901室、{building}9单元9902室"
    cards.append([MEMBER.name, MEMBER.phone, building, homes, "政策宣讲、为老服务"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), building


def new_of(page: Page, kind: str) -> int:
    """How many records of a kind the dry run found new."""
    return int(page.locator(f"tr[data-kind={kind}] [data-count=new]").inner_text())


# -- 2. search and her household ---------------------------------------------------------------------
def find_her(page: Page) -> str:
    """She is found from the header's box by her phone's first 7 and last 4 digits, her name and
    its pinyin initials, each time the same household; the refused row's resident by nothing."""
    found = []
    for typed in (HER.first_7, HER.last_4, HER.name, HER.initials):
        hit = searched(page, typed, f"section[data-group=residents] li.contact:has-text('{HER.name}')")
        found.append(hit.get_attribute("data-found"))
        tail = LANG.gettext("phone ending %(digits)s") % {"digits": HER.last_4}
        assert tail in hit.locator(".meta").inner_text()
        assert HER.phone not in hit.inner_text()  # a hit shows only the phone's last 4
    assert len(set(found)) == 1, found
    searched(page, REFUSED.name, "[data-found=none]")
    return str(found[0])


def searched(page: Page, typed: str, wanted: str) -> Locator:
    """What the header's search box finds for `typed`, once `wanted` shows on the results (the
    members service's index follows the import shortly after)."""
    page.locator("#header-q").fill(typed)
    page.locator("#header-q").press("Enter")
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("q") == [typed])  # not the last one's
    return until_shown(page, wanted, f"searching {typed!r} never showed {wanted}")


def open_her_household(page: Page, household: str, building: str) -> None:
    """From her search hit to her household's page: both residents as the file had them, and the
    card's member the file issued; the page fits a 360×640 phone."""
    searched(page, HER.name, f"[data-group=residents] li[data-found='{household}']").locator("a").click()
    page.wait_for_url(re.compile(rf"/households/{household}$"))
    assert page.locator("h1").inner_text().startswith(building)
    shown = {r.locator("td").nth(0).inner_text(): r for r in page.locator("tr[data-resident]").all()}
    assert set(shown) == {HER.name, HER_FATHER.name}
    assert shown[HER.name].locator("td").nth(1).inner_text() == HER.phone
    assert LANG.gettext("Elderly, living alone") in shown[HER_FATHER.name].inner_text()
    card = f"#card-title ~ dl [data-field=member] a:has-text('{MEMBER.name}')"
    assert until_shown(page, card, "the household's card never named its member").get_attribute("href")
    page.set_viewport_size(SMALL_PHONE)
    assert fits_the_screen(page)
    assert page.locator(f"tr[data-resident]:has-text('{HER.name}')").is_visible()
    page.set_viewport_size(DESKTOP)


# -- 3. her praise, answered from the inbox --------------------------------------------------------------
def answer_her_praise(page: Page, console: Console, household: str) -> None:
    """The household praises its member (the feedback API, as the resident's page sends it); the
    secretary answers it from the inbox: it leaves the waiting list, the household's page shows it
    closed, and the community's response figures as the feedback service answers them move."""
    resident = console.token("resident", COMMUNITY, subject=household)
    praise = {"kind": "praise", "category": "elderly_care", "household_id": household, "description": PRAISE}
    sent = call(console, "POST", "feedback", "/feedback", resident, body=praise)
    feedback_id = str(sent["id"])
    secretary = console.token("secretary", COMMUNITY)
    before = response_figures(console, secretary, position=int(sent.get("position") or 0))

    page.locator("header nav a[href^='/inbox']").click()
    page.wait_for_url(re.compile(r"/inbox"))
    waiting = "section[aria-labelledby=waiting-title]"
    item = until_shown(page, f"{waiting} #item-{feedback_id}", "the praise never reached the inbox")
    assert LANG.gettext("praise") in item.locator("h3").inner_text()
    assert item.locator("blockquote").inner_text() == PRAISE
    waiting_before = page.locator("[data-figure=waiting]").inner_text()
    item.locator(f"#answer-{feedback_id}").fill(ANSWERED)
    item.get_by_role("button", name=LANG.gettext("Answer and close")).click()
    page.wait_for_url(re.compile(r"/inbox\?.*\bat=\d+"))
    assert page.locator(f"{waiting} #item-{feedback_id}").count() == 0
    assert page.locator("[data-figure=waiting]").inner_text() == LANG.number(
        int(waiting_before.replace(",", "")) - 1
    )
    position = int(parse_qs(urlsplit(page.url).query)["at"][0])
    after = response_figures(console, secretary, position=position)
    assert after["responded"] == before["responded"] + 1, (before, after)
    assert after["response_rate"] != before["response_rate"], (before, after)

    page.goto(f"{console.url}/households/{household}")
    listed = page.locator(f"li[data-feedback='{feedback_id}']")
    assert LANG.gettext("closed") in listed.inner_text()


def response_figures(console: Console, token: str, *, position: int) -> dict[str, Any]:
    """The community's feedback figures of this month, as the feedback service answers them
    after everything up to `position`."""
    month = months_back(today_in(LANG.timezone), 1)[-1]
    rows = call(console, "GET", "feedback", "/kpis", token, position=position, unit=COMMUNITY, month=month)
    return dict(next(row for row in rows if row["group"] == COMMUNITY))


# -- 4. the month by category ---------------------------------------------------------------------------
def read_the_category_chart(page: Page, console: Console) -> None:
    """The categories page draws its bars (SVG) beside their tables; every count on it is the
    feedback and assignments services' `/kpis/categories` answer, her praise's category among them."""
    page.locator("header nav a[href^='/categories']").click()
    page.wait_for_url(re.compile(r"/categories"))
    bars = page.locator("figure.bars svg.bar")
    assert bars.count() >= 1
    assert bars.first.is_visible()
    assert page.locator(".chart-and-table table caption").count() == 2
    month = page.locator("select[name=month]").input_value()
    shown = dict(
        page.eval_on_selector_all(
            "[data-figure]", "els => els.map(e => [e.dataset.figure, e.textContent.trim()])"
        )
    )
    token = console.token("secretary", COMMUNITY)
    expected = {}
    for source in ("feedback", "assignments"):
        for by in ("category", "building"):
            answered = call(
                console, "GET", source, "/kpis/categories", token, unit=COMMUNITY, month=month, by=by
            )
            for row in answered:
                where = f"{row['unit']}." if by == "building" else ""
                expected[f"{source}.{where}{row['category']}"] = LANG.number(row["count"])
    assert shown == expected
    assert "feedback.elderly_care" in shown  # her praise is counted


# -- 5. the monthly report ------------------------------------------------------------------------------
def read_the_monthly_report(page: Page, folder: Path) -> None:
    """From the categories page to the monthly report, and its PDF downloaded and looked at."""
    page.locator("main a[href^='/report?']").click()
    page.wait_for_url(re.compile(r"/report\?"))
    assert "月度报告" in page.locator("h1").inner_text()
    with page.expect_download() as got:
        page.get_by_role("link", name=LANG.gettext("Download the PDF")).click()
    pdf = folder / "report.pdf"
    got.value.save_as(pdf)
    text = looked_at(pdf)
    assert "月度报告" in text
    assert "\ufffd" not in text
    assert "□" not in text
    unprintable = {c for c in text if ord(c) >= 0x2E80} - printable_characters()
    assert not unprintable, f"characters the CJK font has no glyph for: {sorted(unprintable)}"
    for personal in (HER.name, HER.phone, MEMBER.name, PRAISE):
        assert personal not in text
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    embedded = [line for line in fonts.splitlines()[2:] if line.split()[-5:-4] == ["yes"]]
    assert any(CJK_FONT.search(line) for line in embedded), fonts


CJK_FONT = re.compile(r"(?i)\+\S*(?:wenquanyi|wqy|zenhei|microhei|cjk)\S*\s+CID")
"""A subset of one of Debian's CJK fonts, embedded as a CID font (`cards_pdf.FONTS`)."""


def looked_at(pdf: Path) -> str:
    """The PDF rendered to PNG (at least one page, none blank: ink on each), and its text."""
    subprocess.run(["pdftoppm", "-png", "-r", "60", pdf.name, "page"], cwd=pdf.parent, check=True)
    pages = sorted(pdf.parent.glob("page*.png"))
    assert pages
    for png in pages:
        with Image.open(png) as image:
            seen = ImageStat.Stat(image.convert("L"))
            assert seen.stddev[0] > 5, f"{png.name} is blank"
            assert seen.extrema[0][0] < 100, f"nothing dark is printed on {png.name}"
    copied = subprocess.run(
        ["pdftotext", "-layout", pdf.name, "-"], cwd=pdf.parent, check=True, capture_output=True
    )
    return copied.stdout.decode()


def printable_characters() -> set[str]:
    """The characters the console's CJK font draws (any other would print as a box)."""
    path, face = font_file()
    with TTFont(path, fontNumber=face, lazy=True) as font:
        return {chr(code) for code in font.getBestCmap()}


# -- helpers -------------------------------------------------------------------------------------------
def until_shown(page: Page, selector: str, what: str) -> Locator:
    """The page reloaded until `selector` shows (a read model catches up with a command shortly
    after it), bounded."""
    deadline = time.monotonic() + CAUGHT_UP
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, what
        time.sleep(0.5)
        page.reload()
    return page.locator(selector).first


def call(
    console: Console,
    method: str,
    service: str,
    path: str,
    token: str,
    *,
    body: dict[str, Any] | None = None,
    position: int = 0,
    **params: str,
) -> Any:
    """A service's API, after everything up to `position` (X-Min-Position)."""
    answer = httpx.request(
        method,
        console.services[service] + path,
        json=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "X-Min-Position": str(position)},
        timeout=30,
    )
    assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json()
