"""Maps kernel and domain errors to HTTP statuses with messages a person can act on.

Every refusal answers `{"detail": <English message>, "error": <kind>, "code": <error code>,
"params": {...}}`: `code` is stable and names the sentence a client shows (in its own language),
`params` fill it in; `detail` stays English for API clients and logs. A validation error is
`invalid_input` with, per field, a plain reason and the limit it broke (never a pattern)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import nats.errors
import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

import fourlinks_contracts.refusals  # noqa: F401 - registers the domain's codes the API description lists
from fourlinks_kernel.errors import (
    ERROR_CODES,
    NOT_ALLOWED,
    NOT_FOUND,
    REFUSED,
    SYSTEM_ERROR,
    AppendRejected,
    ConcurrencyConflict,
    DomainError,
    ErrorCode,
    ErrorParam,
    EventStoreUnavailable,
    Gone,
    InvalidCommand,
    InvalidStreamId,
    NotAllowed,
    NotFound,
    StateConflict,
    error_code,
)
from fourlinks_runtime.edge import RULE_OF_PATTERN, echo
from fourlinks_runtime.idempotency import KEY_RULE, IdempotencyKeyReused, MalformedIdempotencyKey

log = structlog.get_logger(__name__)

INVALID_INPUT = error_code(
    "invalid_input",
    "the request is not of the form the API takes: per field its name, a plain reason (required, "
    "too_short, too_long, too_few, too_many, too_small, too_large, wrong_format, not_a_choice, "
    "not_a_date, wrong_type, not_expected, invalid) and the limit it broke",
    "fields",
)
SIGN_IN_NEEDED = error_code("sign_in_needed", "no valid bearer token: sign in (again)")
ROLE_NEEDED = error_code("role_needed", "this needs one of the roles", "roles")
RATE_LIMITED = error_code(
    "rate_limited", "too many requests from this address: retry after the seconds", "seconds"
)
METHOD_NOT_ALLOWED = error_code("method_not_allowed", "this address does not take this method")
CODE_OF_STATUS = {401: SIGN_IN_NEEDED, 403: NOT_ALLOWED, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
"""The code of an HTTP refusal raised without one (FastAPI's own 404 and 405, a missing token)."""


class Refusal(HTTPException):
    """A refusal of the HTTP edge itself (roles, rate limits), with its error code and parameters."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        code: ErrorCode,
        *,
        headers: dict[str, str] | None = None,
        **params: ErrorParam,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.code = code
        self.params = params


STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (MalformedIdempotencyKey, 400),
    (IdempotencyKeyReused, 422),
    (Gone, 410),
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


def code_of(exc: Exception) -> tuple[ErrorCode, dict[str, ErrorParam]]:
    """The error code an exception names (its raise site's, else its kind's) and its parameters."""
    code = getattr(exc, "code", None)
    params = getattr(exc, "params", None)
    return (code if isinstance(code, ErrorCode) else SYSTEM_ERROR), dict(params or {})


def refusal_body(
    detail: Any, *, error: str, code: ErrorCode, params: Mapping[str, ErrorParam] | None = None
) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"detail": detail, "error": error, "code": code.name, "params": dict(params or {})}


REASON_OF_TYPE = {
    "missing": "required",
    "string_too_short": "too_short",
    "too_short": "too_few",
    "string_too_long": "too_long",
    "too_long": "too_many",
    "greater_than": "too_small",
    "greater_than_equal": "too_small",
    "less_than": "too_large",
    "less_than_equal": "too_large",
    "string_pattern_mismatch": "wrong_format",
    "enum": "not_a_choice",
    "literal_error": "not_a_choice",
    "date_parsing": "not_a_date",
    "date_from_datetime_parsing": "not_a_date",
    "date_from_datetime_inexact": "not_a_date",
    "datetime_parsing": "not_a_date",
    "datetime_from_date_parsing": "not_a_date",
    "timezone_aware": "not_a_date",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "float_type": "wrong_type",
    "float_parsing": "wrong_type",
    "bool_type": "wrong_type",
    "bool_parsing": "wrong_type",
    "list_type": "wrong_type",
    "dict_type": "wrong_type",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "json_invalid": "wrong_type",
    "extra_forbidden": "not_expected",
}
"""Pydantic's error types in a few plain reasons a client can word (anything else: invalid)."""
LIMITS = ("min_length", "max_length", "ge", "gt", "le", "lt")
PLACES = ("body", "query", "path", "header", "cookie")


def invalid_fields(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str | int | float]]:
    """Per field of a validation error: its name (its path in the body or query, dotted), a plain
    reason and the limit it broke, if any; never the pattern or the value sent."""
    fields: list[dict[str, str | int | float]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        path = loc[1:] if len(loc) > 1 and loc[0] in PLACES else loc
        entry: dict[str, str | int | float] = {
            "field": ".".join(path),
            "reason": REASON_OF_TYPE.get(str(error.get("type")), "invalid"),
        }
        ctx = error.get("ctx") or {}
        limit = next((ctx[name] for name in LIMITS if name in ctx), None)
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            entry["limit"] = limit
        fields.append(entry)
    return fields


def readable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's validation errors without the echoed input: the field's path, what is wrong, and
    at most a short prefix of what was sent (a 100 KB value is never sent back). A pattern is
    said in words, never as the pattern itself."""
    errors = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid"))
        pattern = (error.get("ctx") or {}).get("pattern")
        if pattern in RULE_OF_PATTERN:
            message = f"must be {RULE_OF_PATTERN[pattern]}"
        elif pattern is not None:
            message = "does not have the form this field takes (see the API description)"
        entry: dict[str, Any] = {
            "loc": list(error.get("loc", ())),
            "msg": message[:300],
            "type": error["type"],
        }
        if "input" in error and isinstance(error["input"], str | int | float | bool):
            entry["input"] = echo(error["input"])
        errors.append(entry)
    return errors


def http_code_of(exc: StarletteHTTPException) -> tuple[ErrorCode, dict[str, ErrorParam]]:
    """The code of an HTTP refusal: its own (a `Refusal`), else its status's."""
    if isinstance(exc, Refusal):
        return exc.code, dict(exc.params)
    if exc.status_code == 429:
        retry = (exc.headers or {}).get("Retry-After", "")
        return RATE_LIMITED, {"seconds": int(retry) if retry.isdigit() else None}
    return CODE_OF_STATUS.get(exc.status_code, REFUSED if exc.status_code < 500 else SYSTEM_ERROR), {}


def install_error_handlers(app: FastAPI) -> None:
    """Register JSON error responses: {"detail": ..., "error": <kind>, "code": ..., "params": {...}}."""

    async def known(_: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "1"} if status in (409, 503) else None
        code, params = code_of(exc)
        body = refusal_body(str(exc), error=type(exc).__name__, code=code, params=params)
        return JSONResponse(body, status_code=status, headers=headers)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        detail = (
            "the event store or read-model database is unreachable; "
            "retry shortly with the same Idempotency-Key"
        )
        return JSONResponse(
            refusal_body(detail, error=type(exc).__name__, code=EventStoreUnavailable.code),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = invalid_fields(exc.errors())
        body = refusal_body(
            readable_errors(exc),
            error="RequestValidationError",
            code=INVALID_INPUT,
            params={"fields": fields},
        )
        return JSONResponse(body, status_code=422)

    async def http_refused(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (204, 304) or exc.status_code < 200:  # no body may be sent
            return Response(status_code=exc.status_code, headers=exc.headers)
        code, params = http_code_of(exc)
        body = refusal_body(exc.detail, error=type(exc).__name__, code=code, params=params)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_refused)
    for kind, _code in STATUS_OF:
        app.add_exception_handler(kind, known)
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)


ERROR_RESPONSES = {
    "400": "Refused by a rule of the domain",
    "401": "No valid bearer token",
    "403": "Outside your role or scope, or a separation-of-duties rule",
    "404": "No such thing (or not yours to see)",
    "410": "A household's sign-in link (a resident's token) once the household was erased",
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


class ErrorResponse(BaseModel):
    """What every refusal (4xx) and failure (503) answers."""

    detail: str | list[dict[str, Any]] = Field(
        description="what is wrong, in English, for API clients and logs (per field for invalid_input)"
    )
    error: str = Field(description="the kind of error (RequestValidationError, StateConflict, ...)")
    code: str = Field(
        description="the stable error code: word a refusal by it, never by `detail` (codes listed below)"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="the parameters of the code's sentence (ids, states, limits)"
    )


def error_schema() -> dict[str, Any]:
    """The ErrorResponse schema, its `code` one of the registered codes, each with its meaning."""
    schema = ErrorResponse.model_json_schema()
    listed = "; ".join(
        f"`{code.name}`" + (f" ({', '.join(code.params)})" if code.params else "") + f": {code.meaning}"
        for code in sorted(ERROR_CODES.values(), key=lambda code: code.name)
    )
    schema["properties"]["code"]["enum"] = sorted(ERROR_CODES)
    schema["properties"]["code"]["description"] += f". Codes (parameters): {listed}"
    schema["x-error-codes"] = {
        code.name: {"meaning": code.meaning, "params": list(code.params)} for code in ERROR_CODES.values()
    }
    return schema


def document_errors(app: FastAPI) -> None:
    """Declare the error answers every operation can give, so the OpenAPI description is honest."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = error_schema()
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
