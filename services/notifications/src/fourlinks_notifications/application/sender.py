"""The sender: every few seconds, the notices due are taken one attempt at a time, sent through
their channel and their outcome recorded; nothing goes out in quiet hours; a failure is tried
again later, and after the configured attempts it is a dead letter a secretary can send again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.errors import StateConflict
from fourlinks_kernel.ids import new_id
from fourlinks_notifications.application import handlers, queries
from fourlinks_notifications.application.commands import (
    Attempt,
    GiveUp,
    RecordDelivered,
    RecordUndelivered,
    TakeNotice,
)
from fourlinks_notifications.application.outgoing import Outgoing, Undelivered
from fourlinks_notifications.application.routing import Outlet, Route, Unreachable
from fourlinks_notifications.domain.messages import Message, render
from fourlinks_notifications.domain.notice import RetryPolicy
from fourlinks_notifications.domain.quiet import QuietHours
from fourlinks_notifications.settings import NotifySettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import MissingSecret

log = structlog.get_logger(__name__)
SENDER = Actor(id="notifier", roles=(Role.SERVICE,))
SUBJECTS = {"zh_CN": "四联服务通知", "en": "Four Links notice"}
SWEEP_SIZE = 50
AT_ONCE = 8


@dataclass(frozen=True)
class Notifier:
    """What the sender works with."""

    runtime: ServiceRuntime
    settings: NotifySettings
    outlet: Outlet
    quiet: QuietHours | None
    policy: RetryPolicy

    @classmethod
    def of(cls, runtime: ServiceRuntime, settings: NotifySettings, outlet: Outlet) -> Notifier:
        """From the settings: quiet hours in the service's time zone, the retry policy."""
        return cls(
            runtime,
            settings,
            outlet,
            QuietHours.parse(settings.quiet_hours, runtime.settings.timezone),
            RetryPolicy(
                attempts=settings.attempts,
                first_delay=timedelta(seconds=settings.first_retry_seconds),
                longest_delay=timedelta(seconds=settings.longest_retry_seconds),
            ),
        )


async def sweep(notifier: Notifier, now: datetime) -> int:
    """One pass at `now`: returns how many notices were sent."""
    if notifier.quiet is not None and notifier.quiet.end_of(now) is not None:
        return 0
    fresh_since = now - timedelta(hours=notifier.settings.stale_hours)
    async with notifier.runtime.engine.connect() as conn:
        due = await queries.due_notices(
            conn, now=now, fresh_since=fresh_since, kinds=notifier.outlet.reaches, limit=SWEEP_SIZE
        )
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(notice: Any) -> bool:
        async with gate:
            return await deliver(notifier, notice, now)

    return sum(await asyncio.gather(*(one(notice) for notice in due)))


async def deliver(notifier: Notifier, notice: Any, now: datetime) -> bool:
    """Take the notice, send it, record how it went; False when not sent now."""
    runtime = notifier.runtime

    def context() -> CommandContext:
        return CommandContext(SENDER, new_id(), notice.correlation_id, causation_id=notice.cause)

    try:
        async with runtime.engine.connect() as conn:
            route = await notifier.outlet.route(conn, notice)
    except Unreachable as exc:
        reason = str(exc)
        await runtime.dispatch(GiveUp(notice.notice_id, reason), handlers.give_up, context())
        log.warning("notice_unreachable", notice=notice.notice_id, reason=reason)
        return False
    attempt = Attempt(notice.notice_id, route.channel.name, now)
    lease = timedelta(seconds=notifier.settings.lease_seconds)
    try:
        taken = await runtime.dispatch(TakeNotice(attempt, lease), handlers.take, context())
    except StateConflict:
        return False  # another sender holds it, or the log says it was settled
    return await _send(notifier, notice, route, Taken(attempt, taken.value or 0, context()))


@dataclass(frozen=True)
class Taken:
    """An attempt the log granted: its number, and who and why for recording its outcome."""

    attempt: Attempt
    number: int
    context: CommandContext


async def _send(notifier: Notifier, notice: Any, route: Route, taken: Taken) -> bool:
    attempt, number, context = taken.attempt, taken.number, taken.context
    runtime, locale = notifier.runtime, notifier.settings.locale
    try:
        message = Outgoing(notice.notice_id, wording(notifier, notice), SUBJECTS[locale])
        await asyncio.wait_for(route.channel.send(message, route.to), notifier.settings.send_timeout_seconds)
    except (Undelivered, TimeoutError) as exc:
        error = str(exc) or f"{route.channel.name}: no answer in time"
        failed = RecordUndelivered(attempt, number, error, notifier.policy)
        outcome = await runtime.dispatch(failed, handlers.undelivered, context)
        log.warning("notice_undelivered", notice=notice.notice_id, error=error, retry_at=outcome.value)
        return False
    await runtime.dispatch(RecordDelivered(attempt, number), handlers.delivered, context)
    log.info("notice_sent", notice=notice.notice_id, channel=route.channel.name, attempt=number)
    return True


def wording(notifier: Notifier, notice: Any) -> str:
    """The notice's text: dates in local time, links to the console; a sign-in link is made now
    (a token for the household, never stored)."""
    params: dict[str, str] = json.loads(notice.params)
    zone = ZoneInfo(notifier.runtime.settings.timezone)
    if "due" in params:
        params["due"] = datetime.fromisoformat(params["due"]).astimezone(zone).strftime("%m-%d %H:%M")
    settings = notifier.settings
    if notice.message == Message.SIGN_IN_LINK:
        hours = settings.link_hours
        try:
            token = issue_token(
                notifier.runtime.settings,
                subject=notice.recipient_id,
                roles=[Role.RESIDENT],
                scope=notice.org_unit,
                lifetime=timedelta(hours=hours),
                via="sign_in_link",  # what the household reports with it came by this link
            )
        except MissingSecret:
            raise Undelivered(
                "a sign-in link needs the deployment's token secret (FOURLINKS_JWT_SECRET); "
                "with an identity provider only, residents sign in there"
            ) from None
        params |= {"path": f"/r?t={token}", "hours": f"{hours:g}"}
    if "path" in params:
        params["link"] = settings.console_url.rstrip("/") + params["path"]
    return render(Message(notice.message), params, settings.locale)


async def sender(notifier: Notifier) -> None:
    """The background worker: once caught up with the log (a notice it says was sent is never
    sent again), sweep on a fixed period."""
    runtime = notifier.runtime
    while True:
        await runtime.wait_until_caught_up()
        sent = await sweep(notifier, runtime.clock())
        if sent:
            log.info("notices_sent", count=sent)
        await asyncio.sleep(notifier.settings.scan_seconds)
