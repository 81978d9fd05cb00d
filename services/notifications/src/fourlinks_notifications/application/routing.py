"""Who the configured channels reach: a member through their unit's group robot (mentioned by
public phone); a unit's secretaries by e-mail, else through its robot; a household or enterprise
by text message to the phone on record. The most specific unit configured wins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from fourlinks_kernel.access import scope_covers
from fourlinks_notifications.application import queries
from fourlinks_notifications.application.outgoing import Channel
from fourlinks_notifications.domain.rules import STAFF, RecipientKind
from fourlinks_notifications.settings import Channels

T = TypeVar("T")


class Unreachable(Exception):
    """No configured channel reaches this recipient (the reason says what to configure)."""


@dataclass(frozen=True)
class Route:
    """A channel and the addresses on it (phones to mention or text, or e-mail addresses)."""

    channel: Channel
    to: tuple[str, ...]


def nearest(configured: Mapping[str, T], org_unit: str) -> T | None:
    """The entry of the most specific configured unit at or above `org_unit` ('' covers all)."""
    best: tuple[int, T] | None = None
    for configured_unit, value in configured.items():
        unit = configured_unit.strip("/")
        if unit and not scope_covers(unit, org_unit):
            continue
        depth = len(unit.split("/")) if unit else 0
        if best is None or depth > best[0]:
            best = (depth, value)
    return None if best is None else best[1]


@dataclass(frozen=True)
class Reach:
    """The channels a deployment's channels file configures, built (by adapters/channels.py)."""

    robots: Mapping[str, Channel]
    mail: Channel | None
    sms: Channel | None


class Outlet:
    """The channels of one deployment, built once from its channels file."""

    def __init__(self, channels: Channels, reach: Reach) -> None:
        self._channels = channels
        self._robots = reach.robots
        self._emails = channels.secretaries_email if reach.mail is not None else {}
        self._mail = reach.mail
        self._sms = reach.sms

    @property
    def reaches(self) -> tuple[str, ...]:
        """The kinds of recipient some channel reaches (the others are not even looked at)."""
        kinds: list[str] = []
        if self._channels.reaches_staff:
            kinds += [kind.value for kind in STAFF]
        if self._channels.reaches_residents:
            kinds += [RecipientKind.HOUSEHOLD.value, RecipientKind.ENTERPRISE.value]
        return tuple(kinds)

    async def route(self, conn: AsyncConnection, notice: Any) -> Route:
        """Where this notice goes, or Unreachable."""
        kind = RecipientKind(notice.recipient_kind)
        if kind is RecipientKind.MEMBER:
            return await self._member(conn, notice.recipient_id)
        if kind is RecipientKind.SECRETARIES:
            return self._secretaries(notice.recipient_id)
        return await self._contact(conn, notice.recipient_id)

    async def _member(self, conn: AsyncConnection, member_id: str) -> Route:
        address = await queries.member_address(conn, member_id)
        if address is None:
            raise Unreachable(f"member {member_id} is not known to the notifier")
        robot = nearest(self._robots, address.org_unit)
        if robot is None:
            raise Unreachable(f"no group robot is configured for {address.org_unit}")
        # The phone @-mentions the member in the group; an erased member is mentioned by no one.
        return Route(robot, (address.public_phone,) if address.public_phone else ())

    def _secretaries(self, org_unit: str) -> Route:
        addresses = nearest(self._emails, org_unit)
        if addresses and self._mail is not None:
            return Route(self._mail, tuple(addresses))
        robot = nearest(self._robots, org_unit)
        if robot is not None:
            return Route(robot, ())
        raise Unreachable(f"no secretaries' e-mail or group robot is configured for {org_unit}")

    async def _contact(self, conn: AsyncConnection, contact_id: str) -> Route:
        phone = await queries.contact_phone(conn, contact_id)
        if self._sms is None:
            raise Unreachable("no SMS provider is configured")
        if phone is None:
            raise Unreachable(f"{contact_id} has no phone on record (or was erased)")
        return Route(self._sms, (phone,))
