"""省市汇总 in Chromium, for a province's and a city's reader: at an office screen and on a
360×640 phone it reads in Chinese words (no code of a district, no path, no id), axe-core finds no
violation, and at 320 px it reflows without scrolling sideways (WCAG 1.4.10); its Excel sheet is
read cell by cell the same way. The console runs as served (uvicorn, local sign-in) in front of
the province service faked as it answers (tools/console_province.py): the districts' own figures
end to end are the federation tests' part."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import httpx
import openpyxl
import pytest
import uvicorn
from conftest import free_ports
from playwright.sync_api import Browser, Page, ViewportSize
from tools.console_browser import (
    DESKTOP,
    SMALL_PHONE,
    Watch,
    axe_violations,
    shown_text,
)
from tools.console_province import DISTRICT_CODE, PROVINCE_URL, FakeProvince
from tools.console_words import unreadable

from fourlinks_console.app import create_app
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.settings import Settings

pytestmark = pytest.mark.timeout(300)
NARROWEST: ViewportSize = {"width": 320, "height": 640}
PAGES = ["/province", "/province?month=2026-07&rate=satisfaction_rate"]
READERS = {"province": "province:330000", "city": "city:330100"}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A province's console, served on a free port, its province service faked (the plugin's
    `console`, the embedded district, is not needed here)."""
    var_dir = tmp_path_factory.mktemp("province-console")
    runtime = Settings(var_dir=var_dir, jwt_secret="jwt-secret-for-the-console-tests-000000")
    settings = ConsoleSettings(
        local_signin=True,
        session_secret="console-test-secret-of-enough-length-0000",
        province_url=PROVINCE_URL,
    )
    app = create_app(settings, runtime)
    app.state.services = Services(
        settings, transport=httpx.MockTransport(FakeProvince()), metrics=app.state.metrics
    )
    (port,) = free_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _signed_in(browser: Browser, console: str, who: str) -> tuple[Page, Watch]:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(f"{console}/signin")
    page.locator(f"input[name=who][value='{who}']").check()
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{console}/province")
    return page, watch


def _read(page: Page, path: str) -> list[str]:
    """What is wrong with the page at each screen size: words, axe-core, sideways scrolling."""
    found = []
    for size, viewport in (("desktop", DESKTOP), ("phone", SMALL_PHONE)):
        page.set_viewport_size(viewport)
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        text = shown_text(page, path)
        codes = [f"district code {c}" for c in DISTRICT_CODE.findall(text)]
        found += [f"{path} ({size}): {p}" for p in unreadable(text) + codes + axe_violations(page)]
    page.set_viewport_size(NARROWEST)
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > NARROWEST["width"]:
        found.append(f"{path} (320 px): scrolls sideways, {wide} px wide")
    page.set_viewport_size(DESKTOP)
    return found


@pytest.mark.parametrize("reader", list(READERS))
def test_the_overview_reads_in_words_passes_axe_and_fits_a_phone(
    reader: str,
    console: str,
    browser: Browser,
) -> None:
    page, watch = _signed_in(browser, console, READERS[reader])
    findings: list[str] = []
    for path in PAGES:
        answer = page.goto(console + path)
        assert answer is not None
        assert answer.status == 200, path
        page.wait_for_load_state("networkidle")
        findings += _read(page, path)
    sheet = page.request.get(f"{console}/province/kpis.xlsx?month=2026-07")
    assert sheet.status == 200
    book = openpyxl.load_workbook(io.BytesIO(sheet.body()))
    cells = "\n".join(
        str(c)
        for s in book.worksheets
        for r in s.iter_rows(values_only=True)
        for c in r
        if isinstance(c, str)
    )
    findings += [f"the sheet: {p}" for p in unreadable(cells)]
    page.context.close()
    assert not findings, "\n".join(findings)
    assert not watch.errors, watch.errors
    assert not watch.elsewhere, watch.elsewhere


LAYOUT = """() => {
  const lines = th => {
    const style = getComputedStyle(th);
    const text = th.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    return Math.round(text / parseFloat(style.lineHeight));
  };
  const scrolled = [...document.querySelectorAll('.scroll > table')].map(t => ({
    more: t.scrollWidth > t.clientWidth,
    hint: document.getElementById(t.getAttribute('aria-describedby')).getBoundingClientRect().height > 0,
  }));
  return {
    header: document.querySelector('header.top').getBoundingClientRect().height,
    broken: [...document.querySelectorAll('.by-district thead th')]
      .filter(th => lines(th) > 1).map(th => th.textContent),
    scrolled,
  };
}"""
HEADER_MOST = 100
"""The console's header on a 360×640 phone, in CSS pixels: about a sixth of the screen at most."""


@pytest.mark.parametrize("reader", list(READERS))
def test_on_a_phone_headers_stay_on_one_line_a_wide_table_says_it_scrolls_and_the_header_is_short(
    reader: str, console: str, browser: Browser
) -> None:
    page, _ = _signed_in(browser, console, READERS[reader])
    page.set_viewport_size(SMALL_PHONE)
    page.goto(f"{console}/province")
    layout = page.evaluate(LAYOUT)
    page.context.close()
    assert not layout["broken"], layout["broken"]  # 任/务/数 down a narrow column
    assert any(t["more"] for t in layout["scrolled"]), layout  # the KPIs' table is wider than a phone
    assert all(t["hint"] for t in layout["scrolled"] if t["more"]), layout
    assert layout["header"] <= HEADER_MOST, layout["header"]


def test_the_harness_sees_a_path_in_a_page() -> None:
    """The checks above can fail: a district's code or a unit path on a page is found."""
    assert DISTRICT_CODE.findall("余杭区 330110")
    assert unreadable("星河社区 yuhang/s01/c001")
