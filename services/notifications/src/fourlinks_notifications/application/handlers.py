"""The notifier's handlers, one per command: load, one decision, and the unit of work appends."""

from __future__ import annotations

from datetime import datetime

from fourlinks_contracts.refusals import SECRETARIES_ONLY
from fourlinks_kernel.access import SECRETARIES, ensure_scope, has_role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_notifications.application.commands import (
    GiveUp,
    RecordDelivered,
    RecordUndelivered,
    RequestSignInLink,
    SendAgain,
    TakeNotice,
)
from fourlinks_notifications.domain.notice import Notice
from fourlinks_notifications.domain.sign_in import SignInLink


async def take(cmd: TakeNotice, uow: UnitOfWork) -> int:
    """Take the notice for this attempt; returns the attempt's number."""
    notice = await uow.get(Notice, cmd.attempt.notice_id)
    return notice.take(channel=cmd.attempt.channel, now=cmd.attempt.now, lease=cmd.lease)


async def delivered(cmd: RecordDelivered, uow: UnitOfWork) -> None:
    """The channel took it."""
    notice = await uow.get(Notice, cmd.attempt.notice_id)
    notice.delivered(attempt=cmd.number, channel=cmd.attempt.channel)


async def undelivered(cmd: RecordUndelivered, uow: UnitOfWork) -> datetime | None:
    """The channel refused: when it is tried again, or None (a dead letter)."""
    notice = await uow.get(Notice, cmd.attempt.notice_id)
    attempt = cmd.attempt
    return notice.undelivered(
        attempt=cmd.number, channel=attempt.channel, error=cmd.error, now=attempt.now, policy=cmd.policy
    )


async def give_up(cmd: GiveUp, uow: UnitOfWork) -> None:
    """Nothing reaches the recipient: a dead letter without an attempt."""
    notice = await uow.get(Notice, cmd.notice_id)
    notice.give_up(channel="", error=cmd.error)


def ensure_secretary(actor: Actor, org_unit: str) -> None:
    """Secretaries (and administrators) of the unit, or above it."""
    if not has_role(actor, *SECRETARIES):
        raise NotAllowed("only secretaries send notices again or send sign-in links", SECRETARIES_ONLY)
    ensure_scope(actor, org_unit)


async def send_again(cmd: SendAgain, uow: UnitOfWork) -> None:
    """A dead letter goes round again."""
    notice = await uow.get(Notice, cmd.notice_id)
    notice.send_again()


async def request_link(cmd: RequestSignInLink, uow: UnitOfWork) -> None:
    """Record the request; the sender makes the link when it sends it."""
    link = await uow.get(SignInLink, cmd.request_id)
    link.request(cmd.household_id, cmd.org_unit)
