"""Errors of the event-sourcing kernel; the edges map them to HTTP statuses and log lines."""

from __future__ import annotations


class KernelError(Exception):
    """Base of every error the kernel raises."""


class InvalidStreamId(KernelError):
    """A stream id token would break the subject design (dots, wildcards, blanks)."""


class ConcurrencyConflict(KernelError):
    """Another writer appended to the aggregate since it was loaded."""

    def __init__(self, stream: str, expected_position: int, detail: str = "") -> None:
        super().__init__(
            f"{stream} changed since it was loaded (expected last position {expected_position})"
            + (f": {detail}" if detail else "")
        )
        self.stream = stream
        self.expected_position = expected_position


class EventStoreUnavailable(KernelError):
    """The event store cannot be reached or did not confirm a write; safe to retry."""


class AppendRejected(KernelError):
    """The event store refused a write for a reason other than concurrency."""


class UnknownEventType(KernelError):
    """An event type this process has no contract for; never silently dropped."""


class UnsupportedSchemaVersion(KernelError):
    """An event written with a newer schema than this process understands."""


class CorruptEvent(KernelError):
    """Stored bytes that do not decode into an envelope."""


class LogRegression(KernelError):
    """A projection checkpoint is ahead of the stream: the log went backwards."""


class StreamMissing(KernelError):
    """The events stream does not exist on the server (nothing provisioned it yet)."""


class OldSubjectLayout(KernelError):
    """The events stream still files events under `<aggregate>.<event type>` subjects."""


class PersonalDataError(KernelError):
    """Key material for personal data is missing or wrong."""


class DomainError(KernelError):
    """Base of the services' domain errors; the HTTP edge maps each kind to a status."""


class NotFound(DomainError):
    """The thing a command or query names does not exist."""


class PersonErased(NotFound):
    """The person was erased: no key is made for them again, so nothing new is kept about them."""


class InvalidCommand(DomainError):
    """A command that breaks a rule of the domain (unprocessable)."""


class NotAllowed(DomainError):
    """The actor may not do this (separation of duties, wrong party)."""


class StateConflict(DomainError):
    """The aggregate is not in a state that accepts this command."""
