"""A household's sign-in link once the household is erased (PIPL Art. 47): every service that takes
the link's token answers it 410 Gone with a sentence a person understands, whatever it is used for;
the console's resident pages say so in Chinese and end the household's session; no new link is
sent to it. Each service learns the erasure from the log (`HouseholdErased`), never from another."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from conftest import (
    COMMUNITY,
    District,
    a_photo_with_a_location,
    community_with_a_covered_household,
    eventually,
    running,
    wait_ready,
)

from fourlinks_console.app import create_app as console_app
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_runtime.auth import HOUSEHOLD_ERASED, issue_token

ERASED_IN_CHINESE = "本户的个人信息已被删除，此登录链接因此失效"


class Route(httpx.AsyncBaseTransport):
    """The console's calls to each service, to that service's app in this process."""

    def __init__(self, district: District) -> None:
        self._to: dict[str, httpx.AsyncBaseTransport] = {
            name: getattr(district, name)._transport for name in ("members", "assignments", "feedback")
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._to[request.url.host].handle_async_request(request)


@dataclass
class Place:
    """The three services, the notifier and the console, on one log."""

    district: District
    notifier: httpx.AsyncClient
    browser: httpx.AsyncClient


@pytest.fixture
async def place(district: District) -> AsyncIterator[Place]:
    settings = ConsoleSettings(
        session_store="memory",
        session_secret="console-test-secret-of-enough-length-0000",
        members_url="http://members",
        assignments_url="http://assignments",
        feedback_url="http://feedback",
    )
    app = console_app(settings, district.settings)
    app.state.services = Services(settings, transport=Route(district))
    async with AsyncExitStack() as stack:
        notifier = await stack.enter_async_context(running(notifications_app(district.settings)))
        assert (await wait_ready(notifier, timeout=30)).status_code == 200
        await stack.enter_async_context(LifespanManager(app))
        browser = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
        )
        yield Place(district, notifier, browser)
        await app.state.services.aclose()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found[1]


async def test_an_erased_household_s_link_answers_410_everywhere_and_no_new_link_is_sent(
    place: Place,
) -> None:
    d, browser = place.district, place.browser
    _, household = await community_with_a_covered_household(d)
    neighbour = await _another_household(d)
    token = issue_token(
        d.settings, subject=household, roles=["resident"], scope=COMMUNITY, lifetime=timedelta(hours=72)
    )
    link = {"Authorization": f"Bearer {token}"}
    asked = await browser.get("/r", params={"t": token})
    assert (await browser.post("/r", data={"t": token, "csrf_token": csrf_of(asked)})).status_code == 303
    assert (await browser.get("/r/feedback")).status_code == 200  # signed in by the link
    problem = {"category": "repairs", "household_id": household, "description": "厨房漏水"}
    item = await d.post(d.feedback, "/feedback", problem, link)

    await d.post(d.members, f"/households/{household}/erase", {}, d.secretary)

    async def feedback_knows() -> bool:  # the feedback service has applied the erasure
        return (await d.feedback.get("/feedback", headers=link)).status_code == 410

    assert await eventually(feedback_knows)
    photo = {"photo": ("leak.jpg", a_photo_with_a_location(), "image/jpeg")}
    answer_callback = {"resolved": "yes", "satisfaction": "satisfied"}
    uses: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        "list its feedback": lambda: d.feedback.get("/feedback", headers=link),
        "read its item": lambda: d.feedback.get(f"/feedback/{item['id']}", headers=link),
        "follow its item": lambda: d.feedback.get(f"/follow-up/{item['reference']}", headers=link),
        "submit feedback": lambda: d.feedback.post("/feedback", json=problem, headers=link),
        "answer a call-back": lambda: d.feedback.post(
            f"/feedback/{item['id']}/callback", json=answer_callback, headers=link
        ),
        "rate its member": lambda: d.feedback.post(
            "/ratings", json={"household_id": household, "score": 5}, headers=link
        ),
        "upload a photo": lambda: d.feedback.post(
            "/photos", files=photo, data={"household_id": household}, headers=link
        ),
        "read its card": lambda: d.members.get(f"/households/{household}/card", headers=link),
    }
    for use, asking in uses.items():
        answer = await asking()
        assert answer.status_code == 410, f"{use}: {answer.status_code} {answer.text}"
        assert answer.json()["detail"] == HOUSEHOLD_ERASED, use
    assert "erased at its request" in HOUSEHOLD_ERASED
    assert "sign-in link no longer works" in HOUSEHOLD_ERASED

    # The console: the household's session ends with the page saying why, and so does the link.
    mine = await browser.get("/r/feedback")
    assert (mine.status_code, ERASED_IN_CHINESE in mine.text) == (410, True), mine.text[:500]
    assert (await browser.get("/r/feedback")).status_code == 401  # signed out
    again = await browser.get("/r", params={"t": token})
    assert (again.status_code, ERASED_IN_CHINESE in again.text) == (410, True)
    assert "以住户身份登录" not in again.text

    # No new link is sent to it (the notifier has read the log up to the erasure); a neighbour's
    # link still works.
    refused = await place.notifier.post(
        f"/households/{household}/sign-in-link", headers={**d.secretary, "X-Min-Position": str(d.position)}
    )
    assert refused.status_code == 410, refused.text
    assert "was erased" in refused.json()["detail"]
    assert (await d.feedback.get("/feedback", headers=d.token("resident", neighbour))).status_code == 200


async def _another_household(d: District) -> str:
    """A second household of the same building (not erased)."""
    body = {"org_unit": f"{COMMUNITY}/b1", "room": "202", "residents": [{"name": "李秀英"}]}
    return str((await d.post(d.members, "/households", body, d.secretary))["id"])
