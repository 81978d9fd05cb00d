"""The console shows the services' numbers and computes none; and a page offers only what its
reader may open.

The three services run on one log with a community's loop driven through their APIs (covered and
uncovered households, an uncovered enterprise, problems raised, worked, closed, a call-back
answered and one due); the console calls them as it does in production. Every figure a page
marks (`data-figure`) must read exactly as the API answers it to the same reader, formatted; a
rate the console worked out for itself, or a count of its own, would differ. Then each role
follows every link of every page it reaches and is never refused (403)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from conftest import (
    COMMUNITY,
    District,
    a_problem_assigned,
    eventually,
    running,
    wait_ready,
    work_and_close,
)
from fastapi import FastAPI
from tools.console_pages import Route, csrf_of, figures_of

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_console.app import create_app as console_app
from fourlinks_console.figures import FEEDBACK_RATES, TASK_RATES, months_back, today_in
from fourlinks_console.i18n import Language
from fourlinks_console.metrics import ROUTE_WORDS
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts.service_matters import matter_label
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_members.domain.rules import credit_code_check_char
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings

CREDIT_CODE = "91330110MA2F1G5X8" + credit_code_check_char("91330110MA2F1G5X8")
BUILDING = f"{COMMUNITY}/b1"
SECRETARY = f"secretary:{COMMUNITY}"
CONSOLE_SRC = Path(__file__).resolve().parents[1] / "apps" / "console" / "src" / "fourlinks_console"
LANG = Language.of("zh_CN", "Asia/Shanghai")
pytestmark = pytest.mark.timeout(600)


@dataclass
class Place:
    """The district's services with a community's loop driven through them, and the console."""

    d: District
    app: FastAPI
    member: str
    household: str

    def api_token(self, role: str, subject: str, scope: str = COMMUNITY) -> dict[str, str]:
        return self.d.token(role, subject, scope=scope)

    async def api(self, service: str, path: str, headers: dict[str, str], **params: Any) -> Any:
        return await self.d.get(getattr(self.d, service), path, headers, **params)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),  # a 500 is a page too
            base_url="http://console.test",
            follow_redirects=True,
        )


@pytest.fixture
async def place(service_settings: Settings) -> AsyncIterator[Place]:
    # Ranked from one answer; call-backs due at closure; a deadline near an hour or two after triage.
    settings = service_settings.model_copy(
        update={"ranking_min_sample": 1, "callback_delay_hours": 0.0, "deadline_reminder_fraction": 0.99}
    )
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running(make(settings)))
            for make in (members_app, assignments_app, feedback_app)
        ]
        for client in clients:
            assert (await wait_ready(client)).status_code == 200
        members, assignments, feedback = clients
        d = District(settings, members, assignments, feedback)
        member, household = await a_community_s_loop(d)
        later = datetime.now(UTC) + timedelta(hours=2)  # the open task's reminder has fallen by then
        d.runtime(d.assignments).clock = lambda: later
        console = ConsoleSettings(
            local_signin=True,
            session_store="memory",
            session_secret="console-test-secret-of-enough-length-0000",
            members_url="http://members",
            assignments_url="http://assignments",
            feedback_url="http://feedback",
        )
        app = console_app(console, settings)
        app.state.services = Services(console, transport=Route(d), metrics=app.state.metrics)
        await stack.enter_async_context(LifespanManager(app))
        yield Place(d, app, member, household)
        await app.state.services.aclose()


async def a_community_s_loop(d: District) -> tuple[str, str]:
    """Two of the household's problems closed (one call-back answered satisfied, one due), one
    still open; an uncovered household and an uncovered enterprise beside it."""
    member, resident, first, first_task = await a_problem_assigned(d)
    household = (await d.get(d.feedback, f"/feedback/{first['id']}", resident))["household_id"]
    await work_and_close(d, first_task, member, accept=True)
    second_task = await _raised(d, resident, household, "楼道灯坏了")
    await work_and_close(d, second_task, member, accept=True)
    await _raised(d, resident, household, "门禁失灵")
    satisfied = {"resolved": "yes", "satisfaction": "satisfied"}

    async def answered() -> bool:  # once the feedback service has seen the closure
        reply = await d.feedback.post(f"/feedback/{first['id']}/callback", json=satisfied, headers=resident)
        return reply.status_code in (200, 201)

    assert await eventually(answered)

    async def one_due() -> bool:  # the second item's call-back; the first's follow-up is weeks away
        due = await d.get(d.feedback, "/callbacks/summary", d.secretary, unit=COMMUNITY)
        return bool(due["due"] == 1)

    assert await eventually(one_due)
    neighbour = {"org_unit": BUILDING, "room": "102", "residents": [{"name": "李四", "phone": "13900000002"}]}
    await d.post(d.members, "/households", neighbour, d.secretary)
    shop = {
        "org_unit": COMMUNITY,
        "name": "星河便利店",
        "credit_code": CREDIT_CODE,
        "address": "星河路1号",
        "contact_name": "孙老板",
    }
    await d.post(d.members, "/enterprises", shop, d.secretary)
    return member, household


async def _raised(d: District, resident: dict[str, str], household: str, words: str) -> str:
    problem = {"category": "repairs", "household_id": household, "description": words}
    item = await d.post(d.feedback, "/feedback", problem, resident)

    async def handed_out() -> str | None:
        task: str | None = (await d.get(d.feedback, f"/feedback/{item['id']}", resident)).get("task_id")
        return task

    task_id: str = await eventually(handed_out)
    assert await eventually(lambda: _assigned(d, task_id))
    return task_id


async def _assigned(d: District, task_id: str) -> bool:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return reply.status_code == 200 and bool(reply.json()["assignee"])


async def signed_in(place: Place, browser: httpx.AsyncClient, who: str) -> None:
    """Signed in through the console's local sign-in page, as `who` (role:scope or member:id)."""
    page = await browser.get("/signin")
    answer = await browser.post("/signin/local", data={"csrf_token": csrf_of(page.text), "who": who})
    assert answer.status_code == 200, answer.text[:500]


async def resident_signed_in(place: Place, browser: httpx.AsyncClient) -> None:
    """Signed in through the household's link, as a resident is."""
    token = issue_token(
        place.d.settings,
        subject=place.household,
        roles=["resident"],
        scope=COMMUNITY,
        lifetime=timedelta(hours=72),
    )
    asked = await browser.get("/r", params={"t": token})
    assert (await browser.post("/r", data={"t": token, "csrf_token": csrf_of(asked.text)})).status_code == 200


def percent(value: float | None) -> str:
    return LANG.percent(value)


def number(value: float | None) -> str:
    return LANG.number(value)


async def test_every_figure_a_page_shows_is_the_api_s_answer_to_the_same_reader(place: Place) -> None:
    secretary = place.api_token("secretary", f"secretary-{COMMUNITY.replace('/', '-')}")
    last_month, this_month = months_back(today_in("Asia/Shanghai"), 2)
    async with place.browser() as browser:
        await signed_in(place, browser, SECRETARY)

        shown = figures_of(await browser.get("/"))
        coverage = await place.api("members", "/coverage", secretary, unit=COMMUNITY)
        tasks = await place.api("assignments", "/board/summary", secretary, unit=COMMUNITY)
        callbacks = await place.api("feedback", "/callbacks/summary", secretary, unit=COMMUNITY)
        rates = await place.api("feedback", "/kpis", secretary, unit=COMMUNITY, by="unit")
        months = {row["month"]: row for row in rates}
        assert (tasks["open"], tasks["raised"], callbacks["due"], coverage["enterprises"]["uncovered"]) == (
            1,
            0,
            1,
            1,
        )
        expected = {
            "coverage_rate": percent(coverage["coverage_rate"]),
            "uncovered_households": number(coverage["households"]["uncovered"]),
            "uncovered_enterprises": number(coverage["enterprises"]["uncovered"]),
            "open_tasks": number(tasks["open"]),
            "raised_tasks": number(tasks["raised"]),
            "overdue_tasks": number(tasks["overdue"]),
            "callbacks_due": number(callbacks["due"]),
        }
        for label, month in (("this_month", this_month), ("last_month", last_month)):
            row = months.get(month, {})
            expected[f"{label}.feedback"] = number(row.get("feedback", 0))
            expected |= {f"{label}.{rate}": percent(row.get(rate)) for rate in FEEDBACK_RATES}
        assert shown == expected
        assert months[this_month]["satisfaction_rate"] == 1.0  # the answered call-back, not a dash

        shown = figures_of(await browser.get("/kpis"))
        task_rows = await place.api("assignments", "/kpis", secretary, unit=COMMUNITY, by="unit")
        by_month = {row["month"]: row for row in task_rows}
        groups = await place.api("feedback", "/kpis", secretary, unit=COMMUNITY, by="child", month=this_month)
        ranked = await place.api(
            "feedback", "/kpis/ranking", secretary, unit=COMMUNITY, by="child", month=this_month
        )
        assert [g["group"] for g in groups] == [BUILDING]
        assert ranked["total"] == 1
        expected = {}
        for month in months_back(today_in("Asia/Shanghai"), 6):
            work, said = by_month.get(month, {}), months.get(month, {})
            expected[f"{month}.tasks"] = number(work.get("tasks", 0))
            expected |= {f"{month}.{rate}": percent(work.get(rate)) for rate in TASK_RATES}
            expected[f"{month}.rework_count"] = number(work.get("rework_count", 0))
            expected[f"{month}.feedback"] = number(said.get("feedback", 0))
            expected |= {f"{month}.{rate}": percent(said.get(rate)) for rate in FEEDBACK_RATES}
        for group in groups:
            expected[f"{group['group']}.feedback"] = number(group["feedback"])
            expected |= {f"{group['group']}.{rate}": percent(group[rate]) for rate in FEEDBACK_RATES}
        for group in ranked["ranking"]:
            expected[f"ranked.{group['group']}.satisfaction_rate"] = percent(group["satisfaction_rate"])
        assert shown == expected
        assert by_month[this_month]["closure_rate"] == round(2 / 3, 4)  # two of three closed

        page = await browser.get("/coverage")
        shown = figures_of(page)
        below = await place.api("members", "/coverage/below", secretary, unit=COMMUNITY)
        uncovered = await place.api("members", "/coverage/uncovered", secretary, unit=COMMUNITY)
        expected = {
            "coverage_rate": percent(coverage["coverage_rate"]),
            "households.covered": number(coverage["households"]["covered"]),
            "households.total": number(coverage["households"]["total"]),
            "enterprises.covered": number(coverage["enterprises"]["covered"]),
            "enterprises.total": number(coverage["enterprises"]["total"]),
            "members_over_capacity": number(coverage["members_over_capacity"]),
            "uncovered": number(uncovered["total"]),
        }
        for unit in below:
            expected[f"{unit['unit']}.coverage_rate"] = percent(unit["coverage_rate"])
            expected[f"{unit['unit']}.uncovered"] = number(unit["uncovered"])
        assert shown == expected
        assert uncovered["total"] == coverage["uncovered"] == 2
        assert "星河便利店" in page.text  # the uncovered enterprise is listed, not only counted

        export = await browser.get("/export/uncovered.csv")
        assert export.status_code == 200
        assert "星河便利店" in export.content.decode("utf-8-sig")

        shown = figures_of(await browser.get("/callbacks"))
        assert shown == {"due": number(callbacks["due"])}

        board = await browser.get("/tasks")
        assert board.text.count("flag-approaching") == tasks["approaching"] == 1  # the open task's deadline

        agenda = (await browser.get("/party-days")).text
        said = LANG.gettext("Households and enterprises without a member: %(count)s") % {
            "count": coverage["uncovered"]
        }
        assert said in agenda
        since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
        recurring = await place.api("assignments", "/kpis/recurring", secretary, since=since, times=3)
        assert recurring == [{"unit": BUILDING, "category": "repairs", "count": 3}]  # one household, thrice
        said = LANG.gettext("Recurring: %(unit)s, %(category)s, raised %(count)s times in %(days)s days") % {
            "unit": "b1",  # the building's name as registered
            "category": matter_label("repairs", "zh_CN"),
            "count": 3,
            "days": 30,
        }
        assert said in agenda

    inspector = place.api_token("inspector", "inspector-yuhang", scope="yuhang")
    async with place.browser() as browser:
        await signed_in(place, browser, "inspector:yuhang")
        shown = figures_of(await browser.get("/checks"))
        waiting = await place.api(
            "assignments", "/tasks", inspector, unit="yuhang", state="awaiting_check", checkable="true"
        )
        assert shown == {"waiting": number(waiting["total"])}

    member = place.api_token("member", place.member)
    async with place.browser() as browser:
        await signed_in(place, browser, f"member:{place.member}")
        shown = figures_of(await browser.get("/me/tasks"))
        mine = await place.api("assignments", f"/members/{place.member}/tasks", member)
        assert shown == {"open_tasks": number(mine["total"])}


ROLES = [SECRETARY, "administrator:yuhang", "auditor:yuhang", "inspector:yuhang", "member", "resident"]
NOT_FOLLOWED = ("/signout", "/locale/", "/static/", "/signin")
MOST_PAGES = 60


def links_of(html: str) -> Iterator[str]:
    """Every link of a page to a page of this console (without its fragment)."""
    for href in re.findall(r'<a\b[^>]*\bhref="([^"]+)"', html):
        target = href.replace("&amp;", "&").split("#", 1)[0]
        parts = urlsplit(target)
        ours = target.startswith("/") and not target.startswith("//") and not parts.netloc
        if ours and not target.startswith(NOT_FOLLOWED):
            yield target


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_follows_every_link_it_is_offered_and_is_never_refused(
    place: Place, role: str
) -> None:
    async with place.browser() as browser:
        if role == "resident":
            await resident_signed_in(place, browser)
        else:
            await signed_in(place, browser, f"member:{place.member}" if role == "member" else role)
        seen: set[str] = set()
        waiting, refused = ["/"], []
        while waiting and len(seen) < MOST_PAGES:
            target = waiting.pop(0)
            if target in seen:
                continue
            seen.add(target)
            answer = await browser.get(target)
            if answer.status_code == 403:
                refused.append(target)
            if answer.headers.get("content-type", "").startswith("text/html"):
                waiting += [link for link in links_of(answer.text) if link not in seen]
        assert refused == [], f"{role} is offered pages they cannot open"
        assert len(seen) > 2, seen  # the walk went somewhere


async def test_a_page_a_role_cannot_open_is_refused_by_the_console_itself(place: Place) -> None:
    """The page's own guard reads the table the menus read: refused in the reader's words, before
    any service is asked."""
    async with place.browser() as browser:
        await signed_in(place, browser, "inspector:yuhang")
        menu = (await browser.get("/checks")).text
        for page in ("/coverage", "/members", "/kpis", "/callbacks", "/party-days"):
            assert f'href="{page}' not in menu, page
            refused = await browser.get(page)
            assert refused.status_code == 403, page
            assert 'data-code="role_needed"' in refused.text or "角色" in refused.text


def test_the_console_holds_no_rate_definition_nor_state_set_of_its_own() -> None:
    """The services define every rate and state set; the console imports none of their rules."""
    for source in CONSOLE_SRC.rglob("*.py"):
        text = source.read_text()
        assert "fourlinks_runtime.figures" not in text, source
        assert "OPEN_STATES" not in text, source
        assert "OPEN_TASK_STATES" not in text, source


def test_every_word_of_the_services_routes_is_a_metrics_route_word(tmp_path: Path) -> None:
    """A call's label keeps the services' route words (and hides every other segment): a new
    route word missing here would read as `{id}`."""
    settings = Settings(
        var_dir=tmp_path, master_key="dGVzdC1tYXN0ZXIta2V5LW9mLXRoaXJ0eS10d28tYnk=", jwt_secret="x" * 40
    )
    words = {
        segment
        for make in (members_app, assignments_app, feedback_app, notifications_app)
        for path in make(settings).openapi()["paths"]
        for segment in path.strip("/").split("/")
        if segment and not segment.startswith("{") and segment not in ("metrics", "asyncapi", "asyncapi.json")
    }
    assert words <= ROUTE_WORDS, words - ROUTE_WORDS
