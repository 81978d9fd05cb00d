"""Errors of the event-sourcing kernel; the edges map them to HTTP statuses and log lines.

Every error names a stable **error code** (`ErrorCode`) and the parameters a sentence about it
needs: a client words a refusal by its code (the console, in Chinese) and never parses the English
message, which stays for API clients and logs. Each kind of error has a code as a class attribute;
a raise site a person meets names a finer one with its parameters:

    raise StateConflict(f"task {id} is {state}", TASK_NOT_IN_STATE, state=state, needed=[...])

Every code is registered once in `ERROR_CODES`: the general ones here, the domain's in
`fourlinks_contracts.refusals`, the HTTP edge's in `fourlinks_runtime.errors`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CODE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ErrorParam = str | int | float | bool | None | Sequence[str] | Sequence[Mapping[str, object]]
"""A parameter of an error's sentence, as JSON a client reads: an id, a state, a number, a list.
Never a person's name, phone or words."""


@dataclass(frozen=True)
class ErrorCode:
    """A stable, machine-readable name of one kind of refusal, the names of the parameters its
    sentence is filled with, and what it means (for the API description)."""

    name: str
    meaning: str
    params: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


ERROR_CODES: dict[str, ErrorCode] = {}
"""Every error code by name: what the API description lists and the console has a sentence for."""


def error_code(name: str, meaning: str, *params: str) -> ErrorCode:
    """Register a code: a name means one thing for good (clients key their words on it)."""
    if not CODE_NAME.match(name) or name in ERROR_CODES:
        raise ValueError(f"error code {name!r} is malformed or registered twice")
    code = ErrorCode(name, meaning, params)
    ERROR_CODES[name] = code
    return code


SYSTEM_ERROR = error_code("system_error", "the system failed to do this")
INVALID_ID = error_code("invalid_id", "an identifier has a form the system cannot use")
CONCURRENT_CHANGE = error_code("concurrent_change", "someone else changed this at the same moment: retry")
UNAVAILABLE = error_code("unavailable", "the event store or database is unreachable: retry shortly")
REFUSED = error_code("refused", "refused by a rule of the domain")
NOT_FOUND = error_code("not_found", "no such thing, or not yours to see")
PERSON_ERASED = error_code("person_erased", "the person was erased: nothing new is kept about them")
GONE = error_code("gone", "it existed and was erased at the person's request (a household's sign-in link)")
INVALID_COMMAND = error_code("invalid_command", "the command breaks a rule of the domain")
NOT_ALLOWED = error_code("not_allowed", "outside your role, or a rule of who may do this")
STATE_CONFLICT = error_code("state_conflict", "the thing is not in a state that accepts this")
OUT_OF_SCOPE = error_code("out_of_scope", "the org unit is outside your scope", "unit")


class KernelError(Exception):
    """Base of every error the kernel raises: a message for logs and API clients, an error code
    (the class's, unless the raise site names a finer one) and the parameters of its sentence."""

    code: ErrorCode = SYSTEM_ERROR

    def __init__(self, message: str = "", code: ErrorCode | None = None, **params: ErrorParam) -> None:
        super().__init__(message)
        self.params: dict[str, ErrorParam] = params
        if code is not None:
            self.code = code  # this raise site's finer code, in place of its kind's


class InvalidStreamId(KernelError):
    """A stream id token would break the subject design (dots, wildcards, blanks)."""

    code = INVALID_ID


class ConcurrencyConflict(KernelError):
    """Another writer appended to the aggregate since it was loaded."""

    code = CONCURRENT_CHANGE

    def __init__(self, stream: str, expected_position: int, detail: str = "") -> None:
        super().__init__(
            f"{stream} changed since it was loaded (expected last position {expected_position})"
            + (f": {detail}" if detail else "")
        )
        self.stream = stream
        self.expected_position = expected_position


class EventStoreUnavailable(KernelError):
    """The event store cannot be reached or did not confirm a write; safe to retry."""

    code = UNAVAILABLE


class AppendRejected(KernelError):
    """The event store refused a write for a reason other than concurrency."""

    code = UNAVAILABLE


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

    code = REFUSED


class NotFound(DomainError):
    """The thing a command or query names does not exist."""

    code = NOT_FOUND


class Gone(NotFound):
    """What a command or query names existed and was erased: answered 410 Gone, not 404."""

    code = GONE


class PersonErased(NotFound):
    """The person was erased: no key is made for them again, so nothing new is kept about them."""

    code = PERSON_ERASED


class InvalidCommand(DomainError):
    """A command that breaks a rule of the domain (unprocessable)."""

    code = INVALID_COMMAND


class NotAllowed(DomainError):
    """The actor may not do this (separation of duties, wrong party)."""

    code = NOT_ALLOWED


class StateConflict(DomainError):
    """The aggregate is not in a state that accepts this command."""

    code = STATE_CONFLICT
