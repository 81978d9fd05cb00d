"""The notifier's commands: take a notice for an attempt, record its outcome, send a dead letter
again, ask for a household's sign-in link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fourlinks_kernel.access import SECRETARIES, ensure_scope, has_role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_notifications.domain.notice import Notice, RetryPolicy
from fourlinks_notifications.domain.sign_in import SignInLink


@dataclass(frozen=True)
class Attempt:
    """One attempt at one notice through one channel."""

    notice_id: str
    channel: str
    now: datetime


async def take(attempt: Attempt, lease: timedelta, uow: UnitOfWork) -> int:
    """Take the notice for this attempt; returns the attempt's number."""
    notice = await uow.get(Notice, attempt.notice_id)
    return notice.take(channel=attempt.channel, now=attempt.now, lease=lease)


async def delivered(attempt: Attempt, number: int, uow: UnitOfWork) -> None:
    """The channel took it."""
    notice = await uow.get(Notice, attempt.notice_id)
    notice.delivered(attempt=number, channel=attempt.channel)


async def undelivered(
    attempt: Attempt, number: int, error: str, policy: RetryPolicy, uow: UnitOfWork
) -> datetime | None:
    """The channel refused: when it is tried again, or None (a dead letter)."""
    notice = await uow.get(Notice, attempt.notice_id)
    return notice.undelivered(
        attempt=number, channel=attempt.channel, error=error, now=attempt.now, policy=policy
    )


async def give_up(notice_id: str, error: str, uow: UnitOfWork) -> None:
    """Nothing reaches the recipient: a dead letter without an attempt."""
    notice = await uow.get(Notice, notice_id)
    notice.give_up(channel="", error=error)


def ensure_secretary(actor: Actor, org_unit: str) -> None:
    """Secretaries (and administrators) of the unit, or above it."""
    if not has_role(actor, *SECRETARIES):
        raise NotAllowed("only secretaries send notices again or send sign-in links")
    ensure_scope(actor, org_unit)


async def send_again(notice_id: str, uow: UnitOfWork) -> None:
    """A dead letter goes round again."""
    notice = await uow.get(Notice, notice_id)
    notice.send_again()


async def request_link(request_id: str, household_id: str, org_unit: str, uow: UnitOfWork) -> None:
    """Record the request; the sender makes the link when it sends it."""
    link = await uow.get(SignInLink, request_id)
    link.request(household_id, org_unit)
