"""Events of the notifications context: each notice's attempts and their outcome, and a
secretary's request to send a household its sign-in link.

A notice is one message for one recipient caused by one event; its id is derived from both, so
a redelivered or replayed event meets the notice it already made. Errors name the channel's
answer (a status, a code), never an address or a message's text.
"""

from __future__ import annotations

from typing import ClassVar

from fourlinks_kernel.events import DomainEvent
from fourlinks_kernel.instants import Instant

CONTEXT = "notifications"


class NoticeEvent(DomainEvent):
    """Base of every event of a notice."""

    notice_id: str


class NoticeAttempted(NoticeEvent):
    """A sender took the notice: no other sender tries it before `lease_until`."""

    event_type: ClassVar[str] = "NoticeAttempted"
    attempt: int
    channel: str
    lease_until: Instant


class NoticeSent(NoticeEvent):
    """The channel accepted the message."""

    event_type: ClassVar[str] = "NoticeSent"
    attempt: int
    channel: str


class NoticeFailed(NoticeEvent):
    """The channel refused or could not be reached; tried again at `retry_at`, or, with none,
    given up (a dead letter a secretary can send again)."""

    event_type: ClassVar[str] = "NoticeFailed"
    attempt: int
    channel: str
    error: str
    retry_at: Instant | None


class NoticeRetried(NoticeEvent):
    """A secretary sent a dead letter again."""

    event_type: ClassVar[str] = "NoticeRetried"


class SignInLinkRequested(DomainEvent):
    """A secretary asked for a household to be sent its sign-in link (the link itself, a signed
    token, is made when sent and never recorded)."""

    event_type: ClassVar[str] = "SignInLinkRequested"
    request_id: str
    household_id: str
    org_unit: str


EVENTS: tuple[type[DomainEvent], ...] = (
    NoticeAttempted,
    NoticeSent,
    NoticeFailed,
    NoticeRetried,
    SignInLinkRequested,
)
