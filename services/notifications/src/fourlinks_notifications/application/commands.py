"""The notifier's commands: what the sender or a secretary asks of a notice or a sign-in link, as
frozen objects; the class name labels each in the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fourlinks_notifications.domain.notice import RetryPolicy


@dataclass(frozen=True)
class Attempt:
    """One attempt at one notice through one channel."""

    notice_id: str
    channel: str
    now: datetime


@dataclass(frozen=True)
class TakeNotice:
    """The sender takes the notice for an attempt, for the lease's time."""

    attempt: Attempt
    lease: timedelta


@dataclass(frozen=True)
class RecordDelivered:
    """The channel took the attempt's message."""

    attempt: Attempt
    number: int


@dataclass(frozen=True)
class RecordUndelivered:
    """The channel refused the attempt's message: tried again later, or a dead letter."""

    attempt: Attempt
    number: int
    error: str
    policy: RetryPolicy


@dataclass(frozen=True)
class GiveUp:
    """No configured channel reaches the recipient: a dead letter without an attempt."""

    notice_id: str
    error: str


@dataclass(frozen=True)
class SendAgain:
    """A secretary sends a dead letter again (a full round of attempts)."""

    notice_id: str


@dataclass(frozen=True)
class RequestSignInLink:
    """A secretary asks for a household's sign-in link; the sender makes it when it sends it."""

    request_id: str
    household_id: str
    org_unit: str
