"""Every refusal a service answers carries a stable error code and the parameters of its sentence
besides its English `detail`; validation errors are `invalid_input` in plain reasons per field,
never a pattern; the API description lists the codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field

from fourlinks_contracts.refusals import TASK_NOT_IN_STATE
from fourlinks_kernel.errors import ERROR_CODES, NotFound, StateConflict
from fourlinks_runtime.edge import Body
from fourlinks_runtime.errors import RATE_LIMITED, Refusal, document_errors, install_error_handlers

PERIOD = r"^20\d{2}-(0[1-9]|1[0-2])$"


class Rating(Body):
    comment: Annotated[str, Field(min_length=2, max_length=20)]
    period: Annotated[str, Field(pattern=PERIOD)]
    score: Annotated[int, Field(ge=1, le=5)]


def refusing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    document_errors(app)

    @app.post("/tasks/t-1/close")
    async def close() -> None:
        raise StateConflict(
            "task t-1 is assigned; this needs it ready_to_close",
            TASK_NOT_IN_STATE,
            state="assigned",
            needed=["ready_to_close"],
        )

    @app.get("/tasks/t-2")
    async def missing() -> None:
        raise NotFound("task t-2 does not exist")

    @app.post("/ratings")
    async def rate(body: Rating) -> None:
        """Takes a rating."""

    @app.get("/busy")
    async def busy() -> None:
        raise Refusal(429, "too many requests", RATE_LIMITED, headers={"Retry-After": "7"}, seconds=7)

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=refusing_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        yield client


async def test_a_state_refusal_answers_its_code_and_the_parameters_of_its_sentence(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/tasks/t-1/close")
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "task t-1 is assigned; this needs it ready_to_close",
        "error": "StateConflict",
        "code": "task_not_in_state",
        "params": {"state": "assigned", "needed": ["ready_to_close"]},
    }


async def test_a_refusal_raised_without_a_finer_code_answers_the_code_of_its_kind(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/tasks/t-2")
    assert (answer.status_code, answer.json()["code"], answer.json()["params"]) == (404, "not_found", {})


async def test_a_validation_error_says_per_field_what_is_wrong_in_plain_reasons_never_the_pattern(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/ratings", json={"comment": "x", "period": "2026/11", "score": 9})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "invalid_input"
    assert body["params"] == {
        "fields": [
            {"field": "comment", "reason": "too_short", "limit": 2},
            {"field": "period", "reason": "wrong_format"},
            {"field": "score", "reason": "too_large", "limit": 5},
        ]
    }
    assert PERIOD not in answer.text
    assert [error["loc"] for error in body["detail"]] == [
        ["body", "comment"],
        ["body", "period"],
        ["body", "score"],
    ]
    missing = await client.post("/ratings", json={"comment": "好的", "period": "2026-11", "extra": 1})
    assert missing.json()["params"]["fields"] == [
        {"field": "score", "reason": "required"},
        {"field": "extra", "reason": "not_expected"},
    ]


async def test_an_unknown_address_and_an_edge_refusal_answer_their_codes(client: httpx.AsyncClient) -> None:
    nowhere = await client.get("/nowhere")
    assert (nowhere.status_code, nowhere.json()["detail"], nowhere.json()["code"]) == (
        404,
        "Not Found",
        "not_found",
    )
    wrong_method = await client.get("/ratings")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
    busy = await client.get("/busy")
    assert (busy.status_code, busy.headers["retry-after"]) == (429, "7")
    assert (busy.json()["code"], busy.json()["params"]) == ("rate_limited", {"seconds": 7})


async def test_the_api_description_lists_every_code_with_its_parameters(client: httpx.AsyncClient) -> None:
    described = (await client.get("/openapi.json")).json()
    error = described["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) >= {"detail", "code"}
    assert "$ref" not in json.dumps(error)  # self-contained: it sits among the document's components
    assert error["properties"]["code"]["enum"] == sorted(ERROR_CODES)
    assert {"task_not_in_state", "invalid_input", "separation_of_duties", "out_of_scope"} <= set(ERROR_CODES)
    assert error["x-error-codes"]["task_not_in_state"]["params"] == ["state", "needed"]
    assert "`task_not_in_state` (state, needed)" in error["properties"]["code"]["description"]
    close = described["paths"]["/tasks/t-1/close"]["post"]["responses"]
    assert close["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
