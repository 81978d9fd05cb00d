"""The feedback inbox, the categories at a glance and the monthly report, in the console in front of
the three real services on one log.

A secretary answers a praise item from the inbox and the community's response rate — the feedback
service's answer — goes up; an opinion is routed to a task and becomes one; a question is closed as
a duplicate of another, and a duplicate of itself is refused in Chinese. The time left under the
response limit is the service's; the categories page reads exactly the services' counts; the
monthly report's PDF has pages, ink and Chinese text a reader can copy."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from conftest import (
    COMMUNITY,
    District,
    community_with_a_covered_household,
    eventually,
    running,
    wait_ready,
)
from fastapi import FastAPI
from PIL import Image, ImageStat
from tools.console_pages import Route, csrf_of, figures_of

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_console.app import create_app as console_app
from fourlinks_console.figures import months_back, today_in
from fourlinks_console.i18n import Language
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

SECRETARY = f"secretary:{COMMUNITY}"
LANG = Language.of("zh_CN", "Asia/Shanghai")
pytestmark = pytest.mark.timeout(600)


@dataclass
class Inbox:
    """The services with a household's voice in them, and the console in front of them."""

    d: District
    app: FastAPI
    household: str
    items: dict[str, str]  # what was said → the feedback id

    @property
    def secretary(self) -> dict[str, str]:
        return self.d.token("secretary", f"secretary-{COMMUNITY.replace('/', '-')}")

    async def api(self, service: str, path: str, **params: Any) -> Any:
        return await self.d.get(getattr(self.d, service), path, self.secretary, **params)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://console.test",
            follow_redirects=True,
        )


@pytest.fixture
async def inbox(service_settings: Settings) -> AsyncIterator[Inbox]:
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running(make(service_settings)))
            for make in (members_app, assignments_app, feedback_app)
        ]
        for client in clients:
            assert (await wait_ready(client)).status_code == 200
        members, assignments, feedback = clients
        d = District(service_settings, members, assignments, feedback)
        _, household = await community_with_a_covered_household(d)
        items = await _voices(d, household)
        console = ConsoleSettings(
            local_signin=True,
            session_store="memory",
            session_secret="console-test-secret-of-enough-length-0000",
            members_url="http://members",
            assignments_url="http://assignments",
            feedback_url="http://feedback",
        )
        app = console_app(console, service_settings)
        app.state.services = Services(console, transport=Route(d), metrics=app.state.metrics)
        await stack.enter_async_context(LifespanManager(app))
        yield Inbox(d, app, household, items)
        await app.state.services.aclose()


async def _voices(d: District, household: str) -> dict[str, str]:
    """A praise, an opinion and two questions of the household (one from its card's QR code asking
    for a call back), and a problem its member was handed at once."""
    resident = d.token("resident", household)
    by_card = {
        "Authorization": "Bearer "
        + issue_token(d.settings, subject=household, roles=["resident"], scope=COMMUNITY, via="card_qr")
    }
    said = [
        ("praise", "张书记帮我们修好了门禁，谢谢", resident, False),
        ("opinion", "希望小区多装几盏路灯", resident, False),
        ("question", "老年卡在哪里办？", by_card, True),
        ("question", "老年卡去哪办理", resident, False),
        ("problem", "楼道灯坏了", resident, False),
    ]
    items = {}
    for kind, words, who, call_back in said:
        body = {
            "kind": kind,
            "category": "policy_explanation",
            "household_id": household,
            "description": words,
        }
        items[words] = (await d.post(d.feedback, "/feedback", {**body, "call_back": call_back}, who))["id"]

    async def problem_assigned() -> bool:  # the task's assignment, as the feedback service has seen it
        item = await d.get(d.feedback, f"/feedback/{items['楼道灯坏了']}", d.secretary)
        return item["response_due_at"] is None

    assert await eventually(problem_assigned)
    return items


async def signed_in(browser: httpx.AsyncClient, who: str) -> None:
    """Signed in through the console's local sign-in page."""
    page = await browser.get("/signin")
    answer = await browser.post("/signin/local", data={"csrf_token": csrf_of(page.text), "who": who})
    assert answer.status_code == 200, answer.text[:500]


async def _act(browser: httpx.AsyncClient, page: httpx.Response, path: str, **form: str) -> httpx.Response:
    return await browser.post(path, data={"csrf_token": csrf_of(page.text), "unit": COMMUNITY, **form})


async def test_answering_a_praise_from_the_inbox_raises_the_community_s_response_rate(inbox: Inbox) -> None:
    praise = inbox.items["张书记帮我们修好了门禁，谢谢"]
    before = await inbox.api("feedback", "/kpis", unit=COMMUNITY, by="community")
    async with inbox.browser() as browser:
        await signed_in(browser, SECRETARY)
        page = await browser.get("/inbox")
        shown = figures_of(page)
        waiting = await inbox.api("feedback", "/feedback", unit=COMMUNITY, waiting="true")
        summary = await inbox.api("feedback", "/feedback/summary", unit=COMMUNITY)
        assert (
            shown["waiting"] == LANG.number(summary["waiting"]) == LANG.number(4)
        )  # the problem is assigned
        for item in waiting["items"]:  # the respond-by moment is the service's, as it answered it
            assert shown[f"{item['feedback_id']}.response_due_at"] == LANG.when(item["response_due_at"])
            assert 0 < item["response_seconds_left"] <= 24 * 3600
        problem = inbox.items["楼道灯坏了"]  # handed to its member at once: it waits for nothing
        assert page.text.index(f'id="item-{praise}"') < page.text.index('id="states-title"')
        assert page.text.index('id="states-title"') < page.text.index(f'id="item-{problem}"')
        assert page.text.count('data-flag="call_back"') == 1
        assert page.text.count('data-flag="unconfirmed"') == 1
        assert "请求回电" in page.text
        assert "未经核实" in page.text

        answered = await _act(browser, page, f"/inbox/{praise}/answer", answer="谢谢您的表扬，我们会继续努力")
        assert answered.status_code == 200, answered.text[:500]
        assert figures_of(answered)["waiting"] == LANG.number(3)
        assert figures_of(answered)[f"{praise}.state"] == LANG.gettext("closed")
    after = await inbox.api("feedback", "/kpis", unit=COMMUNITY, by="community")
    responded = (before[0]["responded"], after[0]["responded"])
    assert responded == (1, 2)  # the problem's assignment, then the praise too
    assert after[0]["response_rate"] > before[0]["response_rate"]


async def test_an_opinion_is_routed_to_a_task_from_the_inbox(inbox: Inbox) -> None:
    opinion = inbox.items["希望小区多装几盏路灯"]
    async with inbox.browser() as browser:
        await signed_in(browser, SECRETARY)
        page = await browser.get("/inbox")
        routed = await _act(browser, page, f"/inbox/{opinion}/route")
        assert routed.status_code == 200, routed.text[:500]
        assert figures_of(routed)[f"{opinion}.state"] == LANG.gettext("routed")
    item = await inbox.api("feedback", f"/feedback/{opinion}")
    assert item["task_id"]
    assert f"/tasks/{item['task_id']}" in routed.text

    async def raised() -> bool:
        reply = await inbox.d.assignments.get(f"/tasks/{item['task_id']}", headers=inbox.secretary)
        return reply.status_code == 200 and reply.json()["source_ref"] == opinion

    assert await eventually(raised)


async def test_a_question_asked_twice_is_closed_as_a_duplicate_and_not_of_itself(inbox: Inbox) -> None:
    first, again = inbox.items["老年卡在哪里办？"], inbox.items["老年卡去哪办理"]
    async with inbox.browser() as browser:
        await signed_in(browser, SECRETARY)
        page = await browser.get("/inbox")
        refused = await _act(browser, page, f"/inbox/{again}/duplicate", duplicate_of=again)
        assert refused.status_code == 422
        assert "反馈不能与自身重复" in refused.text
        marked = await _act(browser, refused, f"/inbox/{again}/duplicate", duplicate_of=first)
        assert marked.status_code == 200, marked.text[:500]
        assert figures_of(marked)[f"{again}.state"] == LANG.gettext("closed")
    item = await inbox.api("feedback", f"/feedback/{again}")
    assert (item["state"], item["outcome"], item["duplicate_of"]) == ("closed", "duplicate", first)
    assert item["response_due_at"] is None  # marking it answered it: it waits no more
    original = await inbox.api("feedback", f"/feedback/{first}")
    assert original["state"] == "submitted"  # the original still waits for its answer


async def test_the_categories_page_reads_the_services_counts(inbox: Inbox) -> None:
    month = months_back(today_in("Asia/Shanghai"), 1)[-1]
    async with inbox.browser() as browser:
        await signed_in(browser, SECRETARY)
        page = await browser.get("/categories")
    shown = figures_of(page)
    expected = {}
    for source in ("feedback", "assignments"):
        for row in await inbox.api(source, "/kpis/categories", unit=COMMUNITY, month=month, by="category"):
            expected[f"{source}.{row['category']}"] = LANG.number(row["count"])
        for row in await inbox.api(source, "/kpis/categories", unit=COMMUNITY, month=month, by="building"):
            expected[f"{source}.{row['unit']}.{row['category']}"] = LANG.number(row["count"])
    assert shown == expected
    assert expected["feedback.policy_explanation"] == LANG.number(5)
    assert expected[f"feedback.{COMMUNITY}/b1.policy_explanation"] == LANG.number(5)
    assert expected["assignments.policy_explanation"] == LANG.number(1)  # the problem's task
    assert "/tasks?unit=yuhang%2Fnanyuan%2Fxinghe&amp;category=policy_explanation" in page.text
    assert "<table" in page.text
    assert "<svg" in page.text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (make print-tools)")
async def test_the_monthly_report_is_a_pdf_with_pages_ink_and_chinese_text(
    inbox: Inbox, tmp_path: Path
) -> None:
    month = months_back(today_in("Asia/Shanghai"), 1)[-1]
    async with inbox.browser() as browser:
        await signed_in(browser, SECRETARY)
        page = await browser.get("/report", params={"month": month})
        assert page.status_code == 200, page.text[:500]
        assert figures_of(page)["month.feedback"] == LANG.number(5)
        assert "王小明" not in page.text
        assert "楼道灯坏了" not in page.text
        pdf = await browser.get("/report.pdf", params={"month": month})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = looked_at(pdf.content, tmp_path)
    assert "月度报告" in text
    assert "政策宣讲" in text  # the category by its Chinese name
    assert re.search(r"\d", text)
    assert "王小明" not in text
    assert "楼道灯坏了" not in text


def looked_at(pdf: bytes, folder: Path) -> str:
    """The PDF rendered to PNG and looked at (pages, none blank, ink on each), and its text as a
    reader copies it."""
    (folder / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", "report.pdf", "page"], cwd=folder, check=True)
    pages = sorted(folder.glob("page*.png"))
    assert pages
    for png in pages:
        with Image.open(png) as image:
            grey = image.convert("L")
            seen = ImageStat.Stat(grey)
            assert seen.stddev[0] > 5  # not a blank page
            assert seen.extrema[0][0] < 100  # something dark is printed on it
    copied = subprocess.run(
        ["pdftotext", "-layout", "report.pdf", "-"], cwd=folder, check=True, capture_output=True, text=True
    )
    return copied.stdout
