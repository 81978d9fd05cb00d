"""Conditions a command expects and reports in one line a person can act on."""

from __future__ import annotations

import nats.errors
from sqlalchemy.exc import OperationalError, ProgrammingError

from fourlinks_kernel.errors import KernelError
from fourlinks_runtime.natsconn import NatsUnreachable
from fourlinks_runtime.settings import MissingSecret, Settings

EXPECTED: tuple[type[BaseException], ...] = (
    NatsUnreachable,
    MissingSecret,
    nats.errors.Error,
    TimeoutError,
    ConnectionError,
    OperationalError,
    ProgrammingError,
    KernelError,
    FileNotFoundError,
)


def explain(exc: BaseException) -> str:
    """What went wrong and what to do, in one line."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OperationalError | ProgrammingError):
        if "no such table" in text or "does not exist" in text:
            return (
                "the read models are not built yet: start the services once (`make up`) "
                "or run `fourlinks replay rebuild SERVICE`"
            )
        return f"the read-model database refused: {text[:200]}"
    if isinstance(exc, nats.errors.Error | TimeoutError | ConnectionError):
        return (
            f"NATS at {Settings().nats_url} did not answer ({type(exc).__name__}): is `make up` "
            "running on this var dir? Another NATS can be named with FOURLINKS_NATS_URL"
        )
    return text[:300]
