"""A walk through the console as each role reads it, in Chinese, after the whole loop has been
driven through the services' APIs (a resident's report becomes a task; the member works it; the
inspector fails it, then passes it; the secretary closes it; the resident answers the call-back
dissatisfied and the task comes back: a correction).

Each role signs in and follows every link its pages offer (same origin, GET only, a few of each
kind of page), at an office screen and on a 360×640 phone, and reads every page as a person
would: no UUID or id prefix, no org-unit path, no code of a category, state or role, no two
English words in a row, no raw payload. Every Excel or CSV file a page offers is downloaded and
its cells read the same way; so are the pages that refuse. axe-core (vendored from the npm
registry: tests/vendor/) finds no violation on any page, and no page scrolls sideways at 320 px
(WCAG 1.4.10, reflow).

With FOURLINKS_DOCS_SCREENSHOTS=1 the walk also refreshes the screenshots docs/console.md shows
(docs/console/*.png; the seeded district's synthetic people, their names masked)."""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import httpx
import openpyxl
import pytest
from conftest import Receiver, serving
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from tools.console_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    COMMUNITY,
    DESKTOP,
    SMALL_PHONE,
    Console,
    Watch,
    a_member_with_households,
    axe_violations,
    embedded,
    eventually_true,
    shown_text,
    sign_in,
)
from tools.console_words import unreadable

pytestmark = pytest.mark.timeout(600)

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "console"
NARROWEST: ViewportSize = {"width": 320, "height": 640}  # WCAG 1.4.10: 1280 px at 400 % zoom
MOST_PAGES = 60  # pages one role's walk opens (the walk stops there: bounded)
EACH_KIND = 2  # pages of one kind (same path shape, same query names) opened per walk
EXPORTS_OF_A_KIND = 1


# -- the loop, through the services' APIs ---------------------------------------------------------------
@dataclass
class Loop:
    """What the loop left behind for the walk: the task, its feedback, the people in it."""

    task_id: str
    feedback_id: str
    reference: str
    member: str
    household: str
    raised_task: str


@dataclass
class Api:
    """The services' APIs, each call after everything written before it (X-Min-Position)."""

    console: Console
    position: int = 0

    def call(self, method: str, service: str, path: str, token: str, body: Any = None) -> Any:
        answer = httpx.request(
            method,
            self.console.services[service] + path,
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Min-Position": str(self.position)},
            timeout=30,
        )
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.status_code} {answer.text}"
        reply = answer.json()
        if isinstance(reply, dict) and isinstance(reply.get("position"), int):
            self.position = max(self.position, reply["position"])
        return reply

    def get(self, service: str, path: str, token: str) -> Any:
        return self.call("GET", service, path, token)

    def post(self, service: str, path: str, token: str, body: dict[str, Any]) -> Any:
        return self.call("POST", service, path, token, body)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with serving(Receiver("dingtalk")) as robot, serving(Receiver("sms")) as sms:
        yield from embedded(tmp_path_factory.mktemp("walk"), robot, sms)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make browser` installs it"
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def loop(console: Console, browser: Browser) -> Loop:
    """The whole loop once, so every page has something of every kind to show."""
    api = Api(console)
    member = a_member_with_households(console)
    secretary = console.token("secretary", COMMUNITY)
    households = api.get("members", f"/members/{member}/dashboard", secretary)["households"]
    household = households[-1]["household_id"]
    sent, task = _a_report_worked_closed_and_corrected(api, console, member, household)
    raised = {"category": "safety", "org_unit": COMMUNITY, "description": "3 单元楼道灯不亮"}
    other = api.post("assignments", "/tasks", secretary, raised)["id"]
    api.post("assignments", f"/tasks/{other}/triage", secretary, {})
    api.post("assignments", f"/tasks/{other}/assign", secretary, {"member_id": member})
    visit = {
        "member_id": member,
        "contact_kind": "household",
        "contact_id": households[0]["household_id"],
        "visited_on": datetime.now(UTC).date().isoformat(),
        "notes": "老人身体尚好",
        "problem": {"category": "elderly_care", "description": "希望有人每周来看看"},
    }
    api.post("members", "/visits", console.token("member", COMMUNITY, subject=member), visit)
    _plan_a_party_day(browser, console)
    return Loop(task, sent["id"], sent["reference"], member, household, other)


def _a_report_worked_closed_and_corrected(
    api: Api, console: Console, member: str, household: str
) -> tuple[dict[str, Any], str]:
    """A resident's report, the task it becomes for their member, worked round a failed spot
    check, closed, and back after a dissatisfied call-back: (the report's answer, the task)."""
    secretary = console.token("secretary", COMMUNITY)
    resident = console.token("resident", COMMUNITY, subject=household)
    worker = console.token("member", COMMUNITY, subject=member)
    inspector = console.token("inspector", "yuhang")
    report = {"category": "repairs", "household_id": household, "description": "厨房水管接头漏水"}
    sent: dict[str, Any] = api.post("feedback", "/feedback", resident, report)

    def the_task() -> str | None:  # once the feedback service has routed it and the member has it
        found = api.get("feedback", f"/feedback/{sent['id']}", resident).get("task_id")
        if not found:
            return None
        task = httpx.get(
            f"{console.services['assignments']}/tasks/{found}",
            headers={"Authorization": f"Bearer {secretary}"},
            timeout=10,
        )
        return str(found) if task.status_code == 200 and task.json()["assignee"] == member else None

    eventually_true(lambda: the_task() is not None, "the resident's report did not become the member's task")
    task = str(the_task())
    resolved = {"summary": "更换了接头", "result": "resolved"}
    api.post("assignments", f"/tasks/{task}/accept", worker, {})
    api.post("assignments", f"/tasks/{task}/resolution", worker, resolved)
    api.post("assignments", f"/tasks/{task}/spot-check", inspector, {"passed": False, "note": "接头仍在滴水"})
    api.post("assignments", f"/tasks/{task}/resolution", worker, {**resolved, "summary": "整体更换了水管"})
    api.post("assignments", f"/tasks/{task}/spot-check", inspector, {"passed": True, "note": "已不漏水"})
    api.post("assignments", f"/tasks/{task}/close", secretary, {"reason": "resolved"})
    answer = {"resolved": "no", "satisfaction": "dissatisfied", "comment": "还是漏水"}
    api.post("feedback", f"/feedback/{sent['id']}/callback", resident, answer)
    eventually_true(
        lambda: api.get("assignments", f"/tasks/{task}", secretary)["state"] != "closed",
        "the dissatisfied call-back did not bring the task back (a correction)",
    )
    return sent, task


def _plan_a_party_day(browser: Browser, console: Console) -> None:
    """A themed party day planned from the agenda the page suggests (stored as it reads)."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    sign_in(page, console, f"secretary:{COMMUNITY}")
    page.goto(f"{console.url}/party-days?unit={COMMUNITY}")
    page.locator("#pd-day").fill(datetime.now(UTC).date().isoformat())
    page.get_by_role("button", name="记录本次党日").click()
    page.wait_for_load_state()
    assert "/party-days/" in page.url, page.url
    context.close()


# -- the walk ---------------------------------------------------------------------------------------------
@dataclass
class Walk:
    """One role's walk: where it went, what it downloaded, and what it found wrong."""

    role: str
    origin: str
    opened: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def found(self, where: str, problems: list[str]) -> None:
        self.findings += [f"{self.role} {where}: {p}" for p in problems]


SKIPPED = ("/signin", "/signout", "/locale/", "/static/", "/metrics", "/health", "/r?")
"""Links the walk does not open: signing in and out, the language switch, assets, a resident's
sign-in link."""
EXPORT = re.compile(r"^/export/[\w-]+\.(xlsx|csv)$")
A_FILE = re.compile(r"\.[a-z]+$")
"""A link to a file (an export, a printable PDF, a photo): downloaded, not opened as a page."""


def _same_origin_path(walk: Walk, href: str) -> str | None:
    """The link's path and query when it is the console's own page to open, else None."""
    parts = urlsplit(href)
    if f"{parts.scheme}://{parts.netloc}" != walk.origin:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if path.startswith(SKIPPED) or "/photos/" in parts.path:
        return None
    if A_FILE.search(parts.path) and not EXPORT.match(parts.path):
        return None  # printable cards and reports (PDF): not files a person reads cell by cell
    return path


def _kind_of(path: str) -> tuple[str, ...]:
    """A page's kind: its path with ids as {id}, and its query's names (a unit by its depth)."""
    parts = urlsplit(path)
    shape = re.sub(r"/[0-9a-f-]{32,36}(?=/|$)", "/{id}", parts.path)
    query = sorted(
        f"{k}:{v.count('/')}" if k == "unit" else k for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return (shape, *query)


def walk_as(page: Page, walk: Walk, start: list[str], shots: Callable[[Page, str, str], None]) -> None:
    """Open the start pages and every page they link to (bounded), reading each as a person would
    at each screen size, and collecting the files they offer."""
    queue = deque(start)
    queued = set(start)
    kinds = Counter(_kind_of(p) for p in start)
    exports: Counter[tuple[str, ...]] = Counter()
    while queue and len(walk.opened) < MOST_PAGES:
        path = queue.popleft()
        answer = page.goto(walk.origin + path)
        page.wait_for_load_state("networkidle")
        status = answer.status if answer else 0
        if status >= 400:
            walk.found(path, [f"the page answers {status}"])
        walk.opened.append(path)
        read_at_each_size(page, walk, path, shots)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            linked = _same_origin_path(walk, href.split("#")[0])
            if linked is None or linked in queued:
                continue
            kind = _kind_of(linked)
            if EXPORT.match(urlsplit(linked).path):
                if exports[kind] < EXPORTS_OF_A_KIND:
                    exports[kind] += 1
                    walk.exports.append(linked)
                continue
            if kinds[kind] < EACH_KIND:
                kinds[kind] += 1
                queued.add(linked)
                queue.append(linked)


REFUSED = ["/no-such-page", "/notices", "/tasks/0a1b2c3d-0000-4000-8000-000000000000"]
"""Pages that refuse (an address the console does not have, a page the role may not open, a task
that does not exist): the refusal is read like any page, in Chinese."""


def read_refusals(page: Page, walk: Walk) -> None:
    """The refusal pages a role may meet, read as the other pages are (a refusal is not a finding)."""
    for path in REFUSED:
        if path not in walk.opened:
            page.goto(walk.origin + path)
            read_at_each_size(page, walk, path, lambda *_: None)


def read_at_each_size(page: Page, walk: Walk, path: str, shots: Callable[[Page, str, str], None]) -> None:
    """The page at an office screen and at 360×640: its words, axe-core's findings; then at 320 px
    whether it reflows without scrolling sideways."""
    for size, viewport in (("desktop", DESKTOP), ("phone", SMALL_PHONE)):
        resize(page, viewport)
        walk.found(f"{path} ({size})", unreadable(shown_text(page, path)) + axe_violations(page))
        shots(page, path, size)
    resize(page, NARROWEST)
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > NARROWEST["width"]:
        sticking_out = ", ".join(page.evaluate(STICKING_OUT))
        walk.found(f"{path} (320 px)", [f"scrolls sideways: {wide} px wide (WCAG 1.4.10): {sticking_out}"])
    page.set_viewport_size(DESKTOP)


def resize(page: Page, viewport: ViewportSize) -> None:
    """The window at a new size, once the page has laid itself out again (its resize handlers run
    before the next frame is drawn)."""
    page.set_viewport_size(viewport)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


STICKING_OUT = """() => {
  const out = e => e.getBoundingClientRect().right > window.innerWidth + 1;
  const classes = e => typeof e.className === 'string' ? e.className.trim().split(/\\s+/) : [];
  const name = e => [e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''), ...classes(e)].join('.');
  const scrolls = e => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX);
  const contained = e => {
    for (let a = e.parentElement; a; a = a.parentElement) { if (scrolls(a)) return true; }
    return false;
  };
  return [...document.querySelectorAll('body *')]
    .filter(e => out(e) && !contained(e) && ![...e.children].some(out)).slice(0, 3).map(name);
}"""
"""The innermost elements reaching past the screen's right edge (what makes the page scroll sideways)."""


def read_exports(page: Page, walk: Walk) -> None:
    """Each file the pages offered, downloaded as the signed-in person: its name and every cell."""
    for path in walk.exports:
        answer = page.request.get(walk.origin + path)
        if answer.status != 200:
            walk.found(path, [f"the download answers {answer.status}"])
            continue
        named = _file_name(answer.headers.get("content-disposition", ""))
        walk.found(f"{path} (file name)", unreadable(named))
        walk.found(path, unreadable(_cells(path, answer.body())))


def _file_name(disposition: str) -> str:
    """The name a browser saves the file under (filename*, UTF-8; else the plain one)."""
    named = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    named = named or re.search(r'filename="?([^";]+)', disposition)
    return unquote(named[1]) if named else ""


def _cells(path: str, body: bytes) -> str:
    """Every text a person reads in the file: each cell, and the sheets' names and printed headers."""
    if urlsplit(path).path.endswith(".csv"):
        return "\n".join(" | ".join(row) for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    book = openpyxl.load_workbook(io.BytesIO(body))
    said: list[str] = []
    for sheet in book.worksheets:
        said.append(sheet.title)
        header = sheet.oddHeader
        if header is not None:
            said += [part.text or "" for part in (header.left, header.center, header.right)]
        said += [str(c) for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    return "\n".join(said)


# -- the roles ----------------------------------------------------------------------------------------------
def _who(loop: Loop, role: str) -> str:
    return {
        "secretary": f"secretary:{COMMUNITY}",
        "member": f"member:{loop.member}",
        "inspector": "inspector:yuhang",
        "auditor": "auditor:yuhang",
    }[role]


def _start(loop: Loop, role: str) -> list[str]:
    """Where each role starts: where signing in lands, and the loop's task where they may read it."""
    task = f"/tasks/{loop.task_id}"
    history = f"/history?kind=task&id={loop.task_id}"
    return {
        "secretary": ["/", task, history, f"/history?kind=household&id={loop.household}"],
        "member": ["/me", task, f"/tasks/{loop.raised_task}"],
        "inspector": ["/checks", task, history],
        "auditor": ["/", history],
        "resident": ["/r/feedback", f"/follow?reference={loop.reference}"],
    }[role]


DOCS_SHOTS = {
    ("secretary", "/", "desktop"): "home-desktop",
    ("secretary", "/notices", "desktop"): "notices-desktop",
    ("secretary", "/tasks", "desktop"): "board-desktop",
    ("secretary", "/tasks/{id}", "desktop"): "task-desktop",
    ("secretary", "/coverage", "phone"): "coverage-phone",
    ("member", "/me", "phone"): "member-phone",
    ("resident", "/r/feedback", "phone"): "resident-phone",
}
"""The screenshots docs/console.md shows: whose, of which page, at which size."""


def docs_shots(role: str) -> Callable[[Page, str, str], None]:
    """What writes the docs' screenshots during the walk (when FOURLINKS_DOCS_SCREENSHOTS is set):
    the first page of each kind, names masked."""
    taken: set[str] = set()

    def shoot(page: Page, path: str, size: str) -> None:
        name = DOCS_SHOTS.get((role, _kind_of(urlsplit(path).path)[0], size))
        if not os.environ.get("FOURLINKS_DOCS_SCREENSHOTS") or name is None or name in taken:
            return
        taken.add(name)
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGES / f"{name}.png"), full_page=True, mask=[page.locator(".pd")])

    return shoot


ROLES = ["secretary", "member", "inspector", "auditor", "resident"]
LEAST_PAGES = {"secretary": 30, "member": 5, "inspector": 10, "auditor": 30, "resident": 3}
LEAST_EXPORTS = {"secretary": 8, "member": 0, "inspector": 1, "auditor": 8, "resident": 0}
"""What each walk reaches at least (a walk that stops early proves nothing)."""


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_file_a_role_reaches_reads_in_chinese_words_and_passes_axe(
    role: str, console: Console, browser: Browser, loop: Loop
) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    if role == "resident":
        page.goto(f"{console.url}/r?t={console.token('resident', COMMUNITY, subject=loop.household)}")
        page.get_by_role("button", name="以住户身份登录").click()
        page.wait_for_url(re.compile(r"/r/feedback$"))
    else:
        sign_in(page, console, _who(loop, role))
    walk = Walk(role, console.url)
    walk_as(page, walk, _start(loop, role), docs_shots(role))
    read_exports(page, walk)
    read_refusals(page, walk)
    if role == "secretary" and os.environ.get("FOURLINKS_DOCS_SCREENSHOTS"):
        _kpis_in_english(page, console)
    context.close()
    assert len(walk.opened) >= LEAST_PAGES[role], walk.opened
    assert len(walk.exports) >= LEAST_EXPORTS[role], walk.exports
    assert not walk.findings, "\n".join(walk.findings)
    refusals = "the server responded with a status of 4"  # the refusal pages': each read above
    assert not [e for e in watch.errors if refusals not in e], watch.errors
    assert not watch.elsewhere, watch.elsewhere


def _kpis_in_english(page: Page, console: Console) -> None:
    """The KPI page in English for the docs (the switch is the reader's: switched back after)."""
    page.goto(f"{console.url}/locale/en?{urlencode({'next': f'/kpis?unit={COMMUNITY}'})}")
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shot = DOCS_IMAGES / "kpis-english-desktop.png"
    page.screenshot(path=str(shot), full_page=True, mask=[page.locator(".pd")])
    page.goto(f"{console.url}/locale/zh_CN?next=/")


def test_the_scan_finds_each_thing_a_person_should_not_read() -> None:
    """The scan itself: each kind of leak the issue found is caught, and plain Chinese passes."""
    plain = "维修协调 · 已派单 · 吴宇霞 · 星河社区 3幢 1单元 102室 · 2026-12-22 16:23 · FL-20261208-ABCDEFGH"
    assert not unreadable(plain)
    caught = {
        "UUID": "住户 f174a2c0-1b2c-4d5e-8f90-0123456789ab",
        "id prefix": "党员 02ab584e",
        "org-unit path": "住户 102 yuhang/s01/c001/b02",
        "code": "类别：elderly_care",
        "raw payload": '{"detail":"Not Found"}',
        "English words": "task is assigned; this needs it ready_to_close",
    }
    assert any(f.startswith("code 'policy explanation'") for f in unreadable("政策宣讲 policy explanation"))
    for what, text in caught.items():
        assert any(f.startswith(what) for f in unreadable(text)), (what, unreadable(text))
    assert unreadable("due_at: 2026-12-22; escalated: False")
    assert unreadable("状态：in_progress")
