"""A reporter's phone confirmed at a service card's doorway by a one-time code, when the notifier
has an SMS provider (a local stand-in checking Alibaba Cloud's signature): the page asks for the
phone, the code reaches the provider, a wrong code is refused in Chinese with the tries left, a
used or expired one too, and the right one gives a report recorded confirmed — which the
secretary's task page then does not mark 未确认. Without an SMS provider the page asks for no
phone and the report is marked unconfirmed, as the task page says. The feedback service takes no
forged vouching. No phone and no code in the logs, the metrics or the notifier's database.

The three services, the notifier and the console run in this process, on one log; the console
reaches the services as in production, through their HTTP APIs."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from conftest import (
    COMMUNITY,
    District,
    Receiver,
    channels_file,
    community_with_a_covered_household,
    eventually,
    running,
    service_runtime,
    serving,
    wait_ready,
)

from fourlinks_console.app import create_app as console_app
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_notifications.settings import NotifySettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.logs import configure_logging

PHONE, OTHER_PHONE = "13800138000", "13700137000"
UNCONFIRMED = '<strong class="unconfirmed">未确认'
"""How the task page marks a report nobody vouched for."""
pytestmark = pytest.mark.timeout(300)


class Route(httpx.AsyncBaseTransport):
    """The console's calls to each service, to that service's app in this process."""

    def __init__(self, to: dict[str, httpx.AsyncClient]) -> None:
        self._to = {name: client._transport for name, client in to.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._to[request.url.host].handle_async_request(request)


@dataclass
class Door:
    """The district, its notifier, a browser of the console, and a household's printed link."""

    district: District
    notifier: httpx.AsyncClient
    browser: httpx.AsyncClient
    member: str
    household: str
    link: str

    async def page(self, query: str = "") -> httpx.Response:
        return await self.browser.get(f"/d/{self.link}{query}")

    async def post(self, action: str, form: dict[str, str], page: httpx.Response) -> httpx.Response:
        return await self.browser.post(f"/d/{self.link}/{action}", data={**form, "csrf_token": csrf_of(page)})


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[Receiver, NotifySettings]]:
    """The SMS provider's stand-in, and the notifier's settings texting through it."""
    with serving(Receiver("dingtalk")) as robot, serving(Receiver("sms")) as sms:
        yield sms, NotifySettings(channels_file=channels_file(tmp_path / "channels.json", robot, sms))


@asynccontextmanager
async def a_door(
    district: District, notify: NotifySettings, logs: io.StringIO | None = None
) -> AsyncIterator[Door]:
    """The notifier with these settings, the console in front of all four, a covered household;
    every log line from then on (DEBUG and up) into `logs`."""
    settings = ConsoleSettings(
        session_store="memory",
        session_secret="console-test-secret-of-enough-length-0000",
        local_signin=True,
        members_url="http://members",
        assignments_url="http://assignments",
        feedback_url="http://feedback",
        notifications_url="http://notifications",
    )
    app = console_app(settings, district.settings)
    async with AsyncExitStack() as stack:
        made = notifications_app(district.settings, notify)
        if logs is not None:  # after the app is made: making it configures the logs
            configure_logging("DEBUG", stream=logs)
            stack.callback(configure_logging, "WARNING")
        notifier = await stack.enter_async_context(running(made))
        assert (await wait_ready(notifier, timeout=30)).status_code == 200
        clients = {"members": district.members, "assignments": district.assignments}
        app.state.services = Services(
            settings, transport=Route({**clients, "feedback": district.feedback, "notifications": notifier})
        )
        await stack.enter_async_context(LifespanManager(app))
        browser = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
        )
        member, household = await community_with_a_covered_household(district)
        [card] = await district.get(district.members, "/cards/print", district.secretary)
        [copy] = [c for c in card["contacts"] if c["contact_id"] == household]
        yield Door(district, notifier, browser, member, household, copy["link"])
        await app.state.services.aclose()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found[1]


def refusal_of(page: httpx.Response) -> str:
    found = re.search(r'<p class="refused" role="alert"[^>]*>(.*?)</p>', page.text, re.S)
    assert found, page.text[:2000]
    return found[1]


def texted_code(sms: Receiver, phone: str) -> str:
    """The code of the last text the provider took for this phone."""
    [*_, last] = [m for m in sms.taken if m["PhoneNumbers"] == phone]
    found = re.search(r"\b(\d{6})\b", json.loads(last["TemplateParam"])["content"])
    assert found, last
    return found[1]


def problem(**more: str) -> dict[str, str]:
    return {"category": "repairs", "description": "楼道灯不亮，晚上看不清台阶", **more}


async def a_code_texted(door: Door, sms: Receiver, typed: str, phone: str) -> tuple[httpx.Response, str]:
    """The phone typed into the doorway's first form: the page with the code's box, and the code."""
    sent = await door.post("code", {"phone": typed}, await door.page())
    assert sent.status_code == 303, sent.text[:2000]
    assert re.search(r"\?sent=[0-9a-f-]{36}$", sent.headers["location"]), sent.headers["location"]
    page = await door.browser.get(sent.headers["location"])
    assert 'name="code"' in page.text
    return page, texted_code(sms, phone)


def code_id_of(page: httpx.Response) -> str:
    found = re.search(r'name="code_id" value="([0-9a-f-]{36})"', page.text)
    assert found, page.text[:2000]
    return found[1]


async def item_of(door: Door, receipt: httpx.Response) -> dict[str, Any]:
    """The feedback item a doorway's report made, as the secretary reads it."""
    assert receipt.status_code == 303, receipt.text[:2000]
    reference = re.search(r"reference=(FL-[0-9A-Z-]+)", receipt.headers["location"])
    assert reference, receipt.headers["location"]
    d = door.district

    async def listed() -> dict[str, Any] | None:  # once the feedback service's read model has it
        items = await d.get(d.feedback, "/feedback", d.secretary, unit=COMMUNITY, limit=200)
        return next((dict(i) for i in items["items"] if i["reference"] == reference[1]), None)

    found: dict[str, Any] = await eventually(listed)
    return found


async def task_page_of(door: Door, item: dict[str, Any]) -> str:
    """The secretary's console page of the task raised from the item, once it is raised."""
    d = door.district

    async def raised() -> str | None:
        found = await d.get(d.feedback, f"/feedback/{item['feedback_id']}", d.secretary)
        return str(found["task_id"]) if found.get("task_id") else None

    task_id = await eventually(raised, timeout=30)
    signin = await door.browser.get("/signin")
    who = {"who": f"secretary:{COMMUNITY}", "csrf_token": csrf_of(signin)}
    assert (await door.browser.post("/signin/local", data=who)).status_code == 303
    page = await door.browser.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.text[:2000]
    await door.browser.post("/signout", data={"csrf_token": csrf_of(page)})
    return page.text


async def test_a_reporters_phone_is_confirmed_by_the_code_texted_to_it(
    district: District, outside: tuple[Receiver, NotifySettings]
) -> None:
    sms, notify = outside
    logs = io.StringIO()
    async with a_door(district, notify, logs) as door:
        first = await door.page()
        assert f'action="/d/{door.link}/code"' in first.text
        assert f'action="/d/{door.link}/report"' not in first.text  # the phone first
        unasked = await door.post("report", problem(), first)
        assert (unasked.status_code, refusal_of(unasked)) == (
            422,
            "请先验证您的手机号：我们会向它发送一条验证码短信。",
        )

        page, code = await a_code_texted(door, sms, "+86 138-0013-8000", PHONE)
        assert sms.refused_signatures == 0
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        refused = await door.post("report", problem(code_id=code_id_of(page), code=wrong), page)
        assert (refused.status_code, refusal_of(refused)) == (422, "验证码不正确（还可再试 4 次）。")
        assert "楼道灯不亮" in refused.text  # the report as written is kept in the form
        assert code_id_of(refused) == code_id_of(page)  # and the code may be typed again

        right = problem(code_id=code_id_of(page), code=code, call_back="yes")
        item = await item_of(door, await door.post("report", right, refused))
        assert (item["channel"], item["unconfirmed"], item["call_back"]) == ("card_qr", False, True)
        assert item["member_id"] == door.member

        again = await door.post("report", right, refused)
        assert (again.status_code, refusal_of(again)) == (409, "验证码已使用或尝试次数过多，请重新获取。")
        too_soon = await door.post("code", {"phone": PHONE}, await door.page())
        assert too_soon.status_code == 429
        assert refusal_of(too_soon).startswith("操作过于频繁")

        page, late_code = await a_code_texted(door, sms, OTHER_PHONE, OTHER_PHONE)
        notifier = service_runtime(door.notifier)
        notifier.clock = lambda: datetime.now(UTC) + timedelta(minutes=11)
        late = await door.post("report", problem(code_id=code_id_of(page), code=late_code), page)
        notifier.clock = lambda: datetime.now(UTC)
        assert (late.status_code, refusal_of(late)) == (409, "验证码已过期（10 分钟内有效），请重新获取。")

        assert UNCONFIRMED not in await task_page_of(door, item)
        metrics = (await door.notifier.get("/metrics")).text + (await door.browser.get("/metrics")).text
    written = logs.getvalue()
    assert len(written) > 1000  # the services did log (DEBUG) while the codes went to and fro
    stored = b"".join(p.read_bytes() for p in district.settings.var_dir.glob("notifications*.db*"))
    for secret in (PHONE, OTHER_PHONE, "138-0013-8000", code, late_code):
        assert secret not in written, f"{secret} in the logs"
        assert secret not in metrics, f"{secret} in the metrics"
        if district.settings.database_url is None:
            assert secret.encode() not in stored, f"{secret} in the notifier's database"


async def test_without_an_sms_provider_a_report_from_a_card_is_unconfirmed_as_the_task_page_says(
    district: District,
) -> None:
    async with a_door(district, NotifySettings(channels_file=None)) as door:
        page = await door.page()
        assert f'action="/d/{door.link}/code"' not in page.text  # no phone asked
        assert f'action="/d/{door.link}/report"' in page.text
        item = await item_of(door, await door.post("report", problem(), page))
        assert (item["channel"], item["unconfirmed"]) == ("card_qr", True)
        assert UNCONFIRMED in await task_page_of(door, item)


async def test_the_feedback_service_takes_no_forged_or_borrowed_vouching(district: District) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    body = {**problem(), "household_id": household, "phone_confirmation": "A" * 55}
    for via in ("card_qr", "sign_in_link"):
        token = issue_token(
            d.settings,
            subject=household,
            roles=["resident"],
            scope=COMMUNITY,
            lifetime=timedelta(minutes=5),
            via=via,
        )
        refused = await d.feedback.post("/feedback", json=body, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "phone_confirmation_refused"
