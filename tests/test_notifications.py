"""Notifications through the running services, to local receivers that check what real ones
check: a DingTalk robot (its signature), Alibaba Cloud's SMS API (its signature), an SMTP server
(aiosmtpd). Exactly once per event and recipient across failures, restarts and a rebuild; dead
letters sent again by a secretary; a household's sign-in link; quiet hours."""

from __future__ import annotations

import asyncio
import email.policy
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from conftest import (
    COMMUNITY,
    District,
    Receiver,
    channels_file,
    community_with_a_covered_household,
    eventually,
    free_ports,
    running,
    service_runtime,
    serving,
    wait_ready,
    work_and_close,
)

from fourlinks_notifications.adapters.channels import outlet_of
from fourlinks_notifications.adapters.robots import WeComRobot
from fourlinks_notifications.application.outgoing import Outgoing
from fourlinks_notifications.application.sender import Notifier, sweep
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_notifications.settings import Channels, NotifySettings
from fourlinks_runtime.auth import TokenVerifier
from fourlinks_runtime.settings import Settings


class Mailbox:
    """aiosmtpd's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@dataclass
class Outside:
    """The receivers of one test and the notifier's settings pointing at them."""

    robot: Receiver
    sms: Receiver
    mailbox: Mailbox
    notify: NotifySettings


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    mailbox = Mailbox()
    [smtp_port] = free_ports(1)
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with serving(Receiver("dingtalk", failing=3)) as robot, serving(Receiver("sms")) as sms:
        path = channels_file(
            tmp_path / "channels.json",
            robot,
            sms,
            secretaries_email={"yuhang/nanyuan": ["secretaries@xinghe.example.gov.cn"]},
            smtp={"host": "127.0.0.1", "port": smtp_port, "sender": "fourlinks@example.gov.cn"},
        )
        notify = NotifySettings(
            channels_file=path,
            quiet_hours="",
            scan_seconds=0.05,
            first_retry_seconds=0.1,
            longest_retry_seconds=0.3,
            attempts=5,
            console_url="https://console.example.gov.cn",
        )
        yield Outside(robot, sms, mailbox, notify)
    controller.stop()


async def _notifier(settings: Settings, notify: NotifySettings, stack: AsyncExitStack) -> httpx.AsyncClient:
    client = await stack.enter_async_context(running(notifications_app(settings, notify)))
    assert (await wait_ready(client, timeout=30)).status_code == 200
    return client


async def _seen(d: District, notifier: httpx.AsyncClient, state: str) -> list[dict[str, Any]]:
    reply = await notifier.get("/notices", params={"state": state}, headers=d.secretary)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


@pytest.fixture
async def notified(district: District, outside: Outside) -> AsyncIterator[tuple[District, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield district, await _notifier(district.settings, outside.notify, stack)


async def test_each_event_tells_each_recipient_once_across_failures_restarts_and_a_rebuild(
    district: District, outside: Outside
) -> None:
    d = district
    first = AsyncExitStack()
    notifier = await _notifier(d.settings, outside.notify, first)
    _, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    leak = await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "厨房漏水", "notify": True},
        resident,
    )
    # The member's robot fails three times, then takes the assignment: once.
    await eventually(lambda: _async(len(outside.robot.taken) == 1), timeout=30)
    [assignment] = outside.robot.taken
    assert (outside.robot.failed, outside.robot.refused_signatures) == (3, 0)
    assert assignment["at"]["atMobiles"] == ["0571-88880001"]
    assert "已交给您办理" in assignment["text"]["content"]
    assert "厨房漏水" not in assignment["text"]["content"]  # the group reads it: no resident's words
    # The resident who asked is told the reference, then that it went to their member.
    await eventually(lambda: _async(len(outside.sms.taken) == 2), timeout=30)
    texts = [json.loads(m["TemplateParam"])["content"] for m in outside.sms.taken]
    assert all(leak["reference"] in text for text in texts)
    assert outside.sms.refused_signatures == 0
    assert {m["PhoneNumbers"] for m in outside.sms.taken} == {"13912345678"}
    assert "https://console.example.gov.cn/follow?reference=" in texts[0]
    sent = await eventually(lambda: _sent(d, notifier, 3))
    assert sorted(n["attempts"] for n in sent) == [1, 1, 4]
    assert all(n["state"] == "sent" for n in sent)
    assert "厨房漏水" not in json.dumps(sent, ensure_ascii=False)

    # Stopped, restarted and rebuilt from the log into a new database: nothing is sent twice.
    await first.aclose()
    async with AsyncExitStack() as stack:
        fresh = d.settings.model_copy(
            update={"notifications_database_url": f"sqlite:///{d.settings.var_dir}/rebuilt.db"}
        )
        rebuilt = await _notifier(fresh, outside.notify, stack)
        assert len(await eventually(lambda: _sent(d, rebuilt, 3))) == 3
        await asyncio.sleep(1.0)  # twenty sweeps
    assert (len(outside.robot.taken), len(outside.sms.taken)) == (1, 2)


async def test_a_dead_letter_is_listed_and_sent_again_by_a_secretary_and_erasure_stops_texts(
    notified: tuple[District, httpx.AsyncClient], outside: Outside
) -> None:
    d, notifier = notified
    outside.robot.failing = 0
    outside.sms.failing = 1_000  # the SMS provider is down
    _, household = await community_with_a_covered_household(d)
    await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "楼道灯坏了", "notify": True},
        d.token("resident", household),
    )
    dead = await eventually(lambda: _dead(d, notifier, 2), timeout=30)
    assert {n["last_error"] for n in dead} == {"sms: HTTP 500, code None"}
    assert all(n["attempts"] == 5 and n["recipient_kind"] == "household" for n in dead)
    scraped = (await notifier.get("/metrics")).text  # what the alert on dead letters watches
    assert 'fourlinks_notices_dead{unit="yuhang"} 2.0' in scraped
    assert 'fourlinks_notices_dead{unit="yuhang/nanyuan"} 2.0' in scraped
    outside.sms.failing = 0
    for notice in dead:
        reply = await notifier.post(f"/notices/{notice['notice_id']}/retry", headers=d.secretary)
        assert reply.status_code == 202, reply.text
    await eventually(lambda: _async(len(outside.sms.taken) == 2), timeout=30)
    again = await notifier.post(f"/notices/{dead[0]['notice_id']}/retry", headers=d.secretary)
    assert again.status_code == 409  # sent now: not a dead letter
    elsewhere = d.token("secretary", "secretary-2", scope="yuhang/linping")
    assert (
        await notifier.post(f"/notices/{dead[0]['notice_id']}/retry", headers=elsewhere)
    ).status_code == 403
    unknown = await notifier.post("/notices/00000000-0000-0000-0000-000000000000/retry", headers=d.secretary)
    assert unknown.status_code == 404

    # Erased, the resident is texted no more: the notice says why, without the phone.
    household_view = await d.get(d.members, f"/households/{household}", d.secretary)
    resident_id = household_view["residents"][0]["resident_id"]
    await d.post(d.members, f"/households/{household}/residents/{resident_id}/erase", {}, d.secretary)
    link = await notifier.post(
        f"/households/{household}/sign-in-link", headers={**d.secretary, "X-Min-Position": str(d.position)}
    )
    assert link.status_code == 202, link.text
    dead = await eventually(lambda: _dead(d, notifier, 1))
    assert "has no phone on record" in dead[0]["last_error"]
    assert "13912345678" not in json.dumps(dead)


async def test_a_secretary_sends_a_household_its_sign_in_link_and_is_emailed_of_a_call_back_due(
    district: District, outside: Outside
) -> None:
    d = district
    outside.robot.failing = 0
    async with AsyncExitStack() as stack:
        notifier = await _notifier(d.settings, outside.notify, stack)
        member, household = await community_with_a_covered_household(d)
        asked = await notifier.post(
            f"/households/{household}/sign-in-link",
            headers={**d.secretary, "X-Min-Position": str(d.position)},
        )
        assert asked.status_code == 202, asked.text
        await eventually(lambda: _async(len(outside.sms.taken) == 1), timeout=30)
        text = json.loads(outside.sms.taken[0]["TemplateParam"])["content"]
        token = text.split("/r?t=")[1].split()[0]
        actor = TokenVerifier(d.settings).verify(token)
        assert (actor.id, actor.roles, actor.scope) == (household, ("resident",), f"{COMMUNITY}/b1")
        assert token not in json.dumps(await _seen(d, notifier, "sent"))  # the link is never stored

        leak = await d.post(
            d.feedback,
            "/feedback",
            {"category": "repairs", "household_id": household, "description": "厨房漏水"},
            d.token("resident", household),
        )
        task_id = (await d.get(d.feedback, f"/feedback/{leak['id']}", d.secretary))["task_id"]
        await eventually(lambda: _async(len(outside.robot.taken) == 1), timeout=30)
        await work_and_close(d, task_id, member, accept=True)
        # The call-back is due a day after closure: the secretaries hear of it then, not before.
        [due] = await eventually(lambda: _pending(d, notifier, "callback_due"))
        assert datetime.fromisoformat(due["next_at"]) - datetime.now(UTC) > timedelta(hours=23)
        runtime = service_runtime(notifier)
        async with httpx.AsyncClient() as client:
            outlet = outlet_of(Channels.read(outside.notify.channels_file), client, 5)
            tomorrow = datetime.fromisoformat(due["next_at"]) + timedelta(seconds=1)
            assert await sweep(Notifier.of(runtime, outside.notify, outlet), tomorrow) == 1
        [mail] = outside.mailbox.messages
        assert mail["To"] == "secretaries@xinghe.example.gov.cn"
        assert leak["reference"] in mail.get_content()
        assert mail["Message-ID"].endswith("@fourlinks>")  # a repeat is recognisable
        assert len(outside.sms.taken) == 1  # this resident did not ask to be told: no text


async def test_nothing_goes_out_in_quiet_hours_and_wecom_takes_its_own_format(
    notified: tuple[District, httpx.AsyncClient], outside: Outside
) -> None:
    d, notifier = notified
    await community_with_a_covered_household(d)
    runtime = service_runtime(notifier)
    quiet = outside.notify.model_copy(update={"quiet_hours": "00:00-23:59"})
    async with httpx.AsyncClient() as client:
        outlet = outlet_of(Channels.read(quiet.channels_file), client, 5)
        assert await sweep(Notifier.of(runtime, quiet, outlet), runtime.clock()) == 0
        with serving(Receiver("wecom")) as wecom:
            robot = WeComRobot(wecom.url + "?key=k", client)
            await robot.send(Outgoing("n-1", "【四联】测试", "s"), ("13900000000",))
    assert wecom.taken == [
        {"msgtype": "text", "text": {"content": "【四联】测试", "mentioned_mobile_list": ["13900000000"]}}
    ]


async def _async(value: bool) -> bool:
    return value


async def _sent(d: District, notifier: httpx.AsyncClient, count: int) -> list[dict[str, Any]] | None:
    found = await _seen(d, notifier, "sent")
    return found if len(found) == count else None


async def _pending(d: District, notifier: httpx.AsyncClient, message: str) -> list[dict[str, Any]]:
    return [n for n in await _seen(d, notifier, "pending") if n["message"] == message]


async def _dead(d: District, notifier: httpx.AsyncClient, count: int) -> list[dict[str, Any]] | None:
    found = await _seen(d, notifier, "dead")
    return found if len(found) == count else None
