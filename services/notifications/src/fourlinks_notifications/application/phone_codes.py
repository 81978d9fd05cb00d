"""Texting a one-time code to a reporter's phone, and checking the code they type: the codes' table
(digests only, an hour long; not a read model of the log, so a rebuild leaves it alone) and the two
handlers. A right code answers a vouching the feedback service takes (fourlinks_runtime.
phone_confirmations); the phone itself is texted and forgotten."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, ColumnElement, Integer, MetaData, String, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fourlinks_kernel.columns import UtcDateTime
from fourlinks_notifications.application.outgoing import Channel, Outgoing
from fourlinks_notifications.domain.phone_codes import (
    KEPT,
    TRIES,
    VALID,
    CodeExpired,
    CodeUsed,
    PhoneCode,
    code_digest,
    new_code,
    phone_digest,
    seconds_to_wait,
    text_of,
)
from fourlinks_runtime.phone_confirmations import vouched

metadata = MetaData()
codes = Table(
    "phone_codes",
    metadata,
    Column("code_id", String(36), primary_key=True),
    Column("contact_id", String(36), nullable=False, index=True),
    Column("phone_digest", String(64), nullable=False, index=True),
    Column("code_digest", String(64), nullable=False),
    Column("sent_at", UtcDateTime, nullable=False, index=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("tries", Integer, nullable=False, default=0),
    Column("used_at", UtcDateTime),
)


@dataclass(frozen=True)
class Keys:
    """The key codes and phones are digested with, and the one vouchings are signed with."""

    codes: bytes
    confirmations: bytes


@dataclass(frozen=True)
class CodeSent:
    """A code texted: its id (what the doorway's form carries) and until when it works."""

    code_id: str
    expires_at: datetime


class TooSoon(Exception):
    """This phone or card was texted enough codes for now."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many codes for this phone or card: try again in {seconds} seconds")
        self.seconds = seconds


async def create_table(engine: AsyncEngine) -> None:
    """The codes' table, if missing."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def send_code(
    engine: AsyncEngine, sms: Channel, *, contact_id: str, phone: str, keys: Keys, now: datetime, locale: str
) -> CodeSent:
    """Text a new code to the phone for this contact's report, within the limits (TooSoon past them);
    the provider's refusal (Undelivered) leaves the code unusable."""
    phone_key = phone_digest(phone, keys.codes)
    code_id, code = str(uuid.uuid4()), new_code()
    async with engine.begin() as conn:
        await conn.execute(delete(codes).where(codes.c.sent_at < now - KEPT))
        wait = seconds_to_wait(
            to_phone=await _sent(conn, codes.c.phone_digest == phone_key, now),
            for_card=await _sent(conn, codes.c.contact_id == contact_id, now),
            now=now,
        )
        if wait:
            raise TooSoon(wait)
        await conn.execute(
            codes.insert().values(
                code_id=code_id,
                contact_id=contact_id,
                phone_digest=phone_key,
                code_digest=code_digest(code_id, code, keys.codes),
                sent_at=now,
                expires_at=now + VALID,
                tries=0,
            )
        )
    await sms.send(Outgoing(key=code_id, text=text_of(code, locale), subject=""), (phone,))
    return CodeSent(code_id, now + VALID)


async def _sent(conn: AsyncConnection, which: ColumnElement[bool], now: datetime) -> list[datetime]:
    """When the codes of the last hour matching `which` (this phone's, this card's) were texted."""
    rows = await conn.execute(select(codes.c.sent_at).where(which, codes.c.sent_at >= now - KEPT))
    return [row.sent_at for row in rows]


async def confirm_code(
    engine: AsyncEngine, *, contact_id: str, code_id: str, typed: str, keys: Keys, now: datetime
) -> str:
    """The vouching for this contact's reporter once `typed` is the code texted (counted as a try
    first, so parallel guesses get no more tries); CodeWrong, CodeExpired or CodeUsed otherwise."""
    mine = (codes.c.code_id == code_id) & (codes.c.contact_id == contact_id)
    async with engine.begin() as conn:
        await conn.execute(
            update(codes)
            .where(mine, codes.c.used_at.is_(None), codes.c.tries <= TRIES)
            .values(tries=codes.c.tries + 1)
        )
        row = (await conn.execute(select(codes).where(mine))).first()
    if row is None:  # never texted for this card, or forgotten after an hour
        raise CodeExpired(f"code {code_id} has expired: ask for another", minutes=VALID.seconds // 60)
    kept = PhoneCode(row.code_id, row.code_digest, row.expires_at, row.tries, row.used_at is not None)
    kept.check(typed, key=keys.codes, now=now)
    async with engine.begin() as conn:
        used = await conn.execute(update(codes).where(mine, codes.c.used_at.is_(None)).values(used_at=now))
    if used.rowcount != 1:  # a parallel request with the same code was first
        raise CodeUsed(f"code {code_id} was used: ask for another")
    return vouched(contact_id, keys.confirmations, now=now)
