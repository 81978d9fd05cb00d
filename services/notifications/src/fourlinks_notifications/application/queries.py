"""What the sender and the routes read from the notifier's read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_directory.members_directory import known_contacts, known_members
from fourlinks_kernel.rows import under
from fourlinks_notifications.projections.outbox import members, notices, phones

NOTICE_COLUMNS = (
    notices.c.notice_id,
    notices.c.cause,
    notices.c.correlation_id,
    notices.c.recipient_kind,
    notices.c.recipient_id,
    notices.c.org_unit,
    notices.c.message,
    notices.c.params,
    notices.c.state,
    notices.c.attempts,
    notices.c.next_at,
    notices.c.channel,
    notices.c.last_error,
    notices.c.settled_at,
)


async def due_notices(
    conn: AsyncConnection, *, now: datetime, fresh_since: datetime, kinds: Sequence[str], limit: int
) -> list[Any]:
    """Pending notices due by now for the recipients some channel reaches, oldest first. One not
    sent by `fresh_since` is left alone: a notifier started on an old log does not send its history."""
    if not kinds:
        return []
    query = (
        select(*NOTICE_COLUMNS)
        .where(
            notices.c.state == "pending",
            # next_at never falls below fresh_since: bounding it keeps the index walk to the
            # fresh window, however many stale notices a long history left behind
            notices.c.next_at.between(fresh_since, now),
            notices.c.fresh_since >= fresh_since,
            notices.c.recipient_kind.in_(list(kinds)),
        )
        .order_by(notices.c.next_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def member_address(conn: AsyncConnection, member_id: str) -> Any:
    """A member's unit and public phone, or None."""
    query = (
        select(known_members.c.org_unit, members.c.public_phone)
        .join(members, members.c.member_id == known_members.c.member_id)
        .where(known_members.c.member_id == member_id)
    )
    return (await conn.execute(query)).first()


async def contact_phone(conn: AsyncConnection, contact_id: str) -> str | None:
    """The phone of a household's first resident who has one (or an enterprise's contact person);
    None once they are erased."""
    query = (
        select(phones.c.phone)
        .where(phones.c.contact_id == contact_id, phones.c.phone.is_not(None))
        .order_by(phones.c.position)
        .limit(1)
    )
    phone: str | None = (await conn.execute(query)).scalar()
    return phone


async def contact_unit(conn: AsyncConnection, contact_id: str, kind: str) -> str | None:
    """A household's or enterprise's org unit, or None when it is not registered."""
    query = select(known_contacts.c.org_unit).where(
        known_contacts.c.contact_id == contact_id, known_contacts.c.kind == kind
    )
    unit: str | None = (await conn.execute(query)).scalar()
    return unit


async def notice(conn: AsyncConnection, notice_id: str) -> Any:
    """One notice, or None."""
    return (await conn.execute(select(*NOTICE_COLUMNS).where(notices.c.notice_id == notice_id))).first()


async def notices_in(
    conn: AsyncConnection, *, unit: str, state: str | None, limit: int, offset: int
) -> tuple[int, list[Any]]:
    """Notices seen by a unit's secretaries, the latest first, with how many there are."""
    where = [under(notices.c.org_unit, unit)]
    if state is not None:
        where.append(notices.c.state == state)
    total = (await conn.execute(select(func.count()).select_from(notices).where(*where))).scalar_one()
    query = (
        select(*NOTICE_COLUMNS).where(*where).order_by(notices.c.next_at.desc()).limit(limit).offset(offset)
    )
    return int(total), list((await conn.execute(query)).all())
