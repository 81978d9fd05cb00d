"""Maps kernel and domain errors to HTTP statuses with messages a person can act on."""

from __future__ import annotations

from typing import Any

import nats.errors
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
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
from fourlinks_runtime.edge import RULE_OF_PATTERN, echo
from fourlinks_runtime.idempotency import KEY_RULE, IdempotencyKeyReused, MalformedIdempotencyKey

log = structlog.get_logger(__name__)

STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (MalformedIdempotencyKey, 400),
    (IdempotencyKeyReused, 422),
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


def readable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's validation errors without the echoed input: the field's path, what is wrong, and
    at most a short prefix of what was sent (a 100 KB value is never sent back)."""
    errors = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid"))
        pattern = (error.get("ctx") or {}).get("pattern")
        if pattern in RULE_OF_PATTERN:
            message = f"must be {RULE_OF_PATTERN[pattern]}"
        entry: dict[str, Any] = {
            "loc": list(error.get("loc", ())),
            "msg": message[:300],
            "type": error["type"],
        }
        if "input" in error and isinstance(error["input"], str | int | float | bool):
            entry["input"] = echo(error["input"])
        errors.append(entry)
    return errors


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

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(
            {"detail": readable_errors(exc), "error": "RequestValidationError"}, status_code=422
        )

    app.add_exception_handler(RequestValidationError, invalid_request)
    for kind, _code in STATUS_OF:
        app.add_exception_handler(kind, known)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)


ERROR_RESPONSES = {
    "400": "Refused by a rule of the domain",
    "401": "No valid bearer token",
    "403": "Outside your role or scope, or a separation-of-duties rule",
    "404": "No such thing (or not yours to see)",
    "409": "The thing is not in a state that accepts this, or a concurrent change won: retry",
    "503": "The event store or database is unreachable: retry with the same Idempotency-Key",
}
COMMAND_METHODS = ("post", "put", "patch", "delete")
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "makes a retry safe: the same key with the same request answers the recorded result; "
        "with a different request 422; malformed 400. Kept for a day, per person. " + KEY_RULE
    ),
    "schema": {"type": "string", "pattern": '^"?[A-Za-z0-9_.:-]{8,100}"?$'},
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "error": {"type": "string"}},
    "required": ["detail"],
}


def document_errors(app: FastAPI) -> None:
    """Declare the error answers every operation can give, so the OpenAPI description is honest."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for code, description in ERROR_RESPONSES.items():
                    responses.setdefault(code, {"description": description, "content": error})
                if method in COMMAND_METHODS:
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
                if "422" in responses:  # FastAPI's validation errors, or a rule refusing the command
                    declared = responses["422"]["content"]["application/json"]["schema"]
                    responses["422"]["content"]["application/json"]["schema"] = {
                        "anyOf": [declared, {"$ref": "#/components/schemas/ErrorResponse"}]
                    }
                else:
                    responses["422"] = {"description": "The command breaks a rule", "content": error}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
