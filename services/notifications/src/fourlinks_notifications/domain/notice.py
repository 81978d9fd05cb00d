"""A notice: one message for one recipient caused by one event, tried until a channel takes it.

Exactly once per event and recipient: the notice's id is derived from both, its attempts are
recorded in the log with the usual expectation (two senders never hold it at once), and a notice
the log says was sent is never sent again. A sender that dies between sending and recording may
send once more after its lease: channels receive the notice id to drop such a repeat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from fourlinks_contracts.notifications import (
    CONTEXT,
    NoticeAttempted,
    NoticeFailed,
    NoticeRetried,
    NoticeSent,
)
from fourlinks_contracts.refusals import (
    NOTICE_BEING_SENT,
    NOTICE_GIVEN_UP,
    NOTICE_NOT_DEAD_LETTER,
    NOTICE_SENT,
)
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import StateConflict
from fourlinks_kernel.events import DomainEvent

_NOTICES = uuid.UUID("6b0f8f52-2d5e-4c1e-9f3a-5d7c1a2b9e40")


def notice_id_for(event_id: str, recipient: str) -> str:
    """The same event and recipient always meet the same notice."""
    return str(uuid.uuid5(_NOTICES, f"{event_id}:{recipient}"))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed notice is tried again before it becomes a dead letter."""

    attempts: int = 5
    first_delay: timedelta = timedelta(seconds=30)
    longest_delay: timedelta = timedelta(hours=1)

    def delay_after(self, failures: int) -> timedelta:
        """Doubling from the first delay, never longer than the longest."""
        doubled: timedelta = self.first_delay * (2 ** (failures - 1))
        return min(doubled, self.longest_delay)


class Notice(Aggregate):
    """A notice's attempts: taken under a lease, then sent, or failed and retried, or given up."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "notice"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.attempts = 0
        self.failures_since_retry = 0
        self.sent = False
        self.given_up = False
        self.lease_until: datetime | None = None

    def take(self, *, channel: str, now: datetime, lease: timedelta) -> int:
        """Take the notice for one attempt; refused while another sender holds it or once settled."""
        if self.sent:
            raise StateConflict(f"notice {self.id} has been sent", NOTICE_SENT)
        if self.given_up:
            raise StateConflict(
                f"notice {self.id} was given up: a secretary may send it again", NOTICE_GIVEN_UP
            )
        if self.lease_until is not None and now < self.lease_until:
            raise StateConflict(f"notice {self.id} is being sent by another sender", NOTICE_BEING_SENT)
        attempt = self.attempts + 1
        self._record(
            NoticeAttempted(notice_id=self.id, attempt=attempt, channel=channel, lease_until=now + lease)
        )
        return attempt

    def delivered(self, *, attempt: int, channel: str) -> None:
        """The channel took the message."""
        self._ensure_current(attempt)
        self._record(NoticeSent(notice_id=self.id, attempt=attempt, channel=channel))

    def undelivered(
        self, *, attempt: int, channel: str, error: str, now: datetime, policy: RetryPolicy
    ) -> datetime | None:
        """The channel refused: tried again later, or given up after the policy's attempts.
        Returns when it is tried again (None: given up)."""
        self._ensure_current(attempt)
        failures = self.failures_since_retry + 1
        retry_at = None if failures >= policy.attempts else now + policy.delay_after(failures)
        self._record(
            NoticeFailed(
                notice_id=self.id, attempt=attempt, channel=channel, error=error[:500], retry_at=retry_at
            )
        )
        return retry_at

    def give_up(self, *, channel: str, error: str) -> None:
        """No channel can reach the recipient: a dead letter at once, without an attempt."""
        if self.sent or self.given_up:
            return
        self._record(
            NoticeFailed(
                notice_id=self.id, attempt=self.attempts, channel=channel, error=error[:500], retry_at=None
            )
        )

    def send_again(self) -> None:
        """A secretary sends a dead letter again: the full round of attempts starts over."""
        if not self.given_up:
            raise StateConflict(
                f"notice {self.id} is not a dead letter: only those are sent again", NOTICE_NOT_DEAD_LETTER
            )
        self._record(NoticeRetried(notice_id=self.id))

    def _ensure_current(self, attempt: int) -> None:
        if self.sent or attempt != self.attempts:
            raise StateConflict(f"attempt {attempt} of notice {self.id} is no longer current")

    def apply(self, event: DomainEvent) -> None:
        """Follow the attempts and their outcome."""
        match event:
            case NoticeAttempted():
                self.attempts = event.attempt
                self.lease_until = event.lease_until
            case NoticeSent():
                self.sent = True
                self.lease_until = None
            case NoticeFailed():
                self.failures_since_retry += 1
                self.given_up = event.retry_at is None
                self.lease_until = None
            case NoticeRetried():
                self.failures_since_retry = 0
                self.given_up = False
