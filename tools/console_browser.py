"""The console's browser tests' harness, shared by tests/test_console_browser.py and
tests/test_console_walk.py (a test module never imports another: the tests packages collide):
the embedded system `make up` runs, Debian's Chromium, what a page must not do, and signing in."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from conftest import Receiver, channels_file, serving
from playwright.sync_api import Browser, Page, Playwright, Request, ViewportSize, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
SMALL_PHONE: ViewportSize = {"width": 360, "height": 640}  # the smallest screen the phone pages are for
COMMUNITY = "yuhang/s01/c001"
VENDOR = Path(__file__).resolve().parents[1] / "tests" / "vendor"
AXE = VENDOR / "axe-4.14.1.min.js"


@dataclass
class Console:
    """The running embedded system: the console's address and the services'."""

    url: str
    services: dict[str, str]
    var_dir: Path
    robot: Receiver  # the members' DingTalk group robot, a local stand-in checking signatures
    sms: Receiver  # the SMS provider's API, likewise

    def token(self, role: str, scope: str, subject: str | None = None) -> str:
        command = [sys.executable, "-m", "fourlinks_cli", "token", "--role", role, "--scope", scope]
        command += ["--subject", subject] if subject else []
        env = {**os.environ, "FOURLINKS_VAR_DIR": str(self.var_dir)}
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()

    def audit_url(self) -> str:
        """Where `make up`'s checkpointer publishes, once it has checked the log (up to a minute)."""
        state = json.loads((self.var_dir / "up.json").read_text())
        url = f"http://127.0.0.1:{state['checkpoints']}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/integrity", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError("the checkpointer published no integrity check within a minute")

    def api(self, service: str, path: str, token: str, **params: str | int) -> Any:
        answer = httpx.get(
            self.services[service] + path,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@dataclass
class Watch:
    """What a page did that it should not: console errors, uncaught errors, requests elsewhere."""

    errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on(
            "console",
            lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("request", self._request)

    def _request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "about:")):
            return
        if host != "127.0.0.1":
            self.elsewhere.append(request.url)


def embedded(root: Path, robot: Receiver, sms: Receiver) -> Iterator[Console]:
    """`fourlinks up` in a var dir under root, with the robot and the SMS provider as its channels,
    until the caller is done with it (then Ctrl-C, as a person would)."""
    var_dir = root / "var"
    log = (root / "up.log").open("ab")
    env = {
        **os.environ,
        "FOURLINKS_LOG_LEVEL": "WARNING",
        "FOURLINKS_API_WORKERS": "1",
        "FOURLINKS_NOTIFY_CHANNELS_FILE": str(channels_file(root / "channels.json", robot, sms)),
        "FOURLINKS_NOTIFY_QUIET_HOURS": "",  # the suite runs at any hour
        "FOURLINKS_NOTIFY_SCAN_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "fourlinks_cli", "up", "--var-dir", str(var_dir)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        env=env,
    )
    assert process.stdout is not None
    services: dict[str, str] = {}
    console_url = ""
    deadline = time.monotonic() + 180
    for line in process.stdout:
        found = re.match(r"\s+(\w+)\s+API (http://\S+)", line)
        if found:
            services[found[1]] = found[2]
        shown = re.match(r"\s+console\s+(http://\S+)", line)
        if shown:
            console_url = shown[1]
        if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
            break
    try:
        assert console_url, (root / "up.log").read_text(errors="replace")[-3000:]
        _wait_live(console_url)
        yield Console(console_url, services, var_dir, robot, sms)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def _wait_live(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the console never answered ready"
        time.sleep(0.2)


def sign_in(page: Page, console: Console, who: str) -> None:
    """Sign in on the local sign-in page as one of the people it lists (`role:scope` or `member:id`)."""
    page.goto(f"{console.url}/signin")
    page.locator(f"input[name=who][value='{who}']").check()
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    assert "/signin" not in page.url


def a_member_with_households(console: Console) -> str:
    """A member of the community whose card has households on it."""
    token = console.token("secretary", COMMUNITY)
    for item in console.api("members", "/members", token, unit=COMMUNITY, limit=50)["items"]:
        dashboard = console.api("members", f"/members/{item['member_id']}/dashboard", token)
        if dashboard["households"]:
            return str(item["member_id"])
    raise AssertionError("no member of the seeded community has households on a card")


def eventually_true(check: Any, what: str, seconds: float = 30) -> None:
    """Wait until check() holds, failing with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


# -- the browser tests' fixtures and phone (tests import them: a test module never imports another)
@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with serving(Receiver("dingtalk")) as robot, serving(Receiver("sms")) as sms:
        yield from embedded(tmp_path_factory.mktemp("console"), robot, sms)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (make browser)"
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


def on_a_phone(
    browser: Browser, console: Console, who: str | None = None, link: str | None = None
) -> tuple[Page, Watch]:
    """A 360x640 touch screen, watched; signed in as `who`, or through a resident's `link`."""
    context = browser.new_context(viewport=SMALL_PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    opened = context.new_page()
    watch = Watch()
    watch.attach(opened)
    if who:
        sign_in(opened, console, who)
    if link:
        opened.goto(link)  # the link asks first, then signs in by POST
        opened.get_by_role("button", name="以住户身份登录").tap()
    return opened, watch


def fits_the_screen(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


# -- what a page says, and what axe-core finds on it (the walk's and the province page's test)
SHOWN_TEXT = """echoed => {
  const visible = e => e.getClientRects().length > 0;
  const said = [document.title, document.body.innerText];
  for (const e of document.querySelectorAll('[aria-label], [title], [placeholder], img[alt]')) {
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
      if (e.hasAttribute(name)) said.push(e.getAttribute(name));
    }
  }
  for (const o of document.querySelectorAll('option')) said.push(o.textContent);
  const boxes = 'textarea, input:not([type]), input[type=text], input[type=search]';
  for (const c of document.querySelectorAll(boxes)) {
    if (visible(c) && c.value && !echoed.includes(c.value)) said.push(c.value);
  }
  return said.join('\\n');
}"""
"""Everything a person reads on the page: its title, its visible text, the names of its controls
and pictures, every choice a list offers, what a visible text box holds (unless the person typed
it into the address: a search echoed back)."""


def shown_text(page: Page, path: str) -> str:
    echoed = [value for _, value in parse_qsl(urlsplit(path).query)]
    return str(page.evaluate(SHOWN_TEXT, echoed))


def axe_source() -> str:
    """axe-core as vendored, after checking it is the file the checksum names."""
    sums = (line.split() for line in (VENDOR / "SHA256SUMS").read_text().splitlines())
    wanted = {name: digest for digest, name in sums}
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == wanted[AXE.name], "axe-core differs from its checksum"
    return source.decode()


AXE_SOURCE = axe_source()


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now (all its rules but the experimental ones:
    WCAG 2.x A and AA, and its best practices), one line each with the elements concerned."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # by the DevTools protocol: the page's CSP allows no inline script
    found: dict[str, Any] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return {passes: result.passes.length, violations: result.violations.map(v => ({
                id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
        }"""
    )
    assert found["passes"] > 0, "axe-core ran no rule"
    return [f"axe {v['id']} ({v['impact']}): {', '.join(v['nodes'])}" for v in found["violations"]]
