"""Maps kernel and domain errors to HTTP statuses with messages a person can act on."""

from __future__ import annotations

import nats.errors
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from fourlinks_kernel.errors import (
    AppendRejected,
    ConcurrencyConflict,
    DomainError,
    EventStoreUnavailable,
    InvalidCommand,
    InvalidStreamId,
    NotAllowed,
    NotFound,
    StateConflict,
)

log = structlog.get_logger(__name__)

STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (NotAllowed, 403),
    (StateConflict, 409),
    (InvalidCommand, 422),
    (InvalidStreamId, 422),
    (DomainError, 400),
    (ConcurrencyConflict, 409),
    (EventStoreUnavailable, 503),
    (AppendRejected, 503),
)
UNAVAILABLE = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    OperationalError,
    TimeoutError,
)


def status_for(exc: Exception) -> int:
    """The HTTP status of a kernel or domain error."""
    for kind, code in STATUS_OF:
        if isinstance(exc, kind):
            return code
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Register JSON error responses: {"detail": ..., "error": <kind>}."""

    async def known(_: Request, exc: Exception) -> JSONResponse:
        code = status_for(exc)
        headers = {"Retry-After": "1"} if code in (409, 503) else None
        return JSONResponse(
            {"detail": str(exc), "error": type(exc).__name__}, status_code=code, headers=headers
        )

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        return JSONResponse(
            {
                "detail": (
                    "the event store or read-model database is unreachable; "
                    "retry shortly with the same Idempotency-Key"
                ),
                "error": type(exc).__name__,
            },
            status_code=503,
            headers={"Retry-After": "2"},
        )

    for kind, _code in STATUS_OF:
        app.add_exception_handler(kind, known)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)
