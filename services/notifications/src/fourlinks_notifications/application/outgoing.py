"""What every channel is handed, and how one says it could not deliver: the port the sender
sends through (the channels in adapters/ implement it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Undelivered(Exception):
    """The channel refused or could not be reached. The reason names the answer (a status, an
    error code), never an address or the message."""


@dataclass(frozen=True)
class Outgoing:
    """One message: its text, a subject line for e-mail, and the notice's id, which a receiver
    can use to drop a repeat."""

    key: str
    text: str
    subject: str


class Channel(Protocol):
    """A way to reach people: sends one message to the given addresses (phones or e-mail)."""

    name: str

    async def send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        """Deliver, or raise Undelivered."""
        ...
