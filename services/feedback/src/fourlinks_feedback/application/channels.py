"""The channel a feedback came by, from how its request was authorised, never guessed: a resident's
from how their token was obtained (its `via` claim), a member's or secretary's as they say."""

from __future__ import annotations

from datetime import datetime

from fourlinks_contracts.feedback import STAFF_CHANNELS, Channel
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand
from fourlinks_runtime.phone_confirmations import PhoneNotConfirmed, check_vouched

RESIDENT_CHANNELS = {"sign_in_link": Channel.SIGN_IN_LINK, "card_qr": Channel.CARD_QR}
"""A resident token's `via` claim → the channel; a resident token without one signed in on the web."""


def channel_of(actor: Actor, said: Channel | None) -> Channel:
    """The channel of what this actor submits: a household's is its token's, and may not be said
    otherwise; staff say which of theirs it came by (a visit, a phone call, a themed party day)."""
    if Role.RESIDENT in actor.roles:
        came_by = RESIDENT_CHANNELS.get(actor.via, Channel.WEB)
        if said is not None and said != came_by:
            raise InvalidCommand(
                f"channel: this household signed in by {came_by.value}, so its feedback came by "
                f"{came_by.value}, not {said.value} (leave channel out)",
                field="channel",
            )
        return came_by
    if said is None or said not in STAFF_CHANNELS:
        allowed = ", ".join(sorted(c.value for c in STAFF_CHANNELS))
        raise InvalidCommand(f"channel: say how this feedback reached you, one of {allowed}", field="channel")
    return said


def phone_confirmed(actor: Actor, confirmation: str | None, *, key: bytes, now: datetime) -> bool:
    """Whether the notifications service vouched that this reporter typed the code texted to their
    phone (the console carries its vouching); a vouching refused is said (PhoneNotConfirmed)."""
    if confirmation is None:
        return False
    if Role.RESIDENT not in actor.roles or actor.via != "card_qr":
        raise PhoneNotConfirmed(
            "phone_confirmation: a phone is confirmed for a report from a card's QR code only"
        )
    check_vouched(confirmation, actor.id, key, now=now)
    return True


def unconfirmed(actor: Actor, *, phone_confirmed: bool = False) -> bool:
    """Whether nobody vouched for the reporter: a service card's QR code lets in whoever stands at
    the door, unless they confirmed a phone by a one-time code."""
    return Role.RESIDENT in actor.roles and actor.via == "card_qr" and not phone_confirmed
