"""The console says a service's refusal in the reader's language, by its error code: a sentence
per code, its parameters in the reader's words (a task state in Chinese), a general Chinese
sentence for a code it does not know — never the service's English in the Chinese console; and
an unknown address or an unexpected failure is a page with a way home, never raw JSON."""

from __future__ import annotations

import ast
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fourlinks_console.app import create_app
from fourlinks_console.i18n import Language, catalogue
from fourlinks_console.refusals import SENTENCES, sentence
from fourlinks_console.services import ServiceRefused, Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts import refusals as domain_codes
from fourlinks_kernel import errors as kernel_codes
from fourlinks_kernel.errors import ERROR_CODES, ErrorCode
from fourlinks_runtime import edge, idempotency
from fourlinks_runtime import errors as edge_codes  # importing it registers every code a service answers
from fourlinks_runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
UNIT = "yuhang/nanyuan/xinghe/b1"
CHINESE = Language.of("zh_CN", "Asia/Shanghai")
ENGLISH = Language.of("en", "Asia/Shanghai")
NOT_READY = {
    "detail": "task t-1 is assigned; this needs it ready_to_close",
    "error": "StateConflict",
    "code": "task_not_in_state",
    "params": {"state": "assigned", "needed": ["ready_to_close"]},
}
TOO_SHORT = {
    "detail": [{"loc": ["body", "description"], "msg": "String should have at least 2 characters"}],
    "error": "RequestValidationError",
    "code": "invalid_input",
    "params": {"fields": [{"field": "description", "reason": "too_short", "limit": 2}]},
}


def _task() -> dict[str, Any]:
    return {
        "task_id": "t-1",
        "state": "assigned",
        "source": "administrator",
        "source_ref": None,
        "category": "repairs",
        "urgency": "general",
        "org_unit": UNIT,
        "origin_unit": UNIT,
        "assignee": "m-1",
        "helpers": [],
        "raised_at": "2026-11-30T02:00:00Z",
        "due_at": None,
        "rework_count": 0,
        "needs_reassignment": False,
        "description": "楼道灯坏了",
        "household_id": None,
        "enterprise_id": None,
        "withheld": [],
    }


def services_answering(request: httpx.Request) -> httpx.Response:
    """The services as the pages ask them; closing the task and sending feedback are refused."""
    path = request.url.path
    if request.method == "POST" and path == "/tasks/t-1/close":
        return httpx.Response(409, json=NOT_READY)
    if request.method == "POST" and path == "/tasks/t-1/reopen":
        return httpx.Response(409, json={"detail": "a rule no console knows", "code": "a_new_rule"})
    if request.method == "POST" and path == "/feedback":
        return httpx.Response(422, json=TOO_SHORT)
    if path.startswith("/names/"):  # the pages' names of units, members, households
        return httpx.Response(200, json=[])
    if path == "/org-units":
        return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
    if path == "/tasks/t-1":
        return httpx.Response(200, json=_task())
    if path == "/tasks/t-1/timeline":
        return httpx.Response(200, json=[])
    if path == "/tasks/t-1/actions":
        return httpx.Response(
            200, json={"task_id": "t-1", "state": "assigned", "actions": ["close", "reopen"]}
        )
    return httpx.Response(200, json={"items": [], "total": 0})


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    runtime = Settings(var_dir=tmp_path, jwt_secret="jwt-secret-for-the-console-tests-000000")
    settings = ConsoleSettings(local_signin=True, session_secret="console-test-secret-of-enough-length-0000")
    app = create_app(settings, runtime)
    app.state.services = Services(settings, transport=httpx.MockTransport(services_answering))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        yield app, client


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return token[1]


async def _signed_in_as_secretary(client: httpx.AsyncClient) -> str:
    csrf = await _csrf(client)
    signed = await client.post("/signin/local", data={"csrf_token": csrf, "who": "secretary:yuhang"})
    assert signed.status_code == 303, signed.text
    return await _csrf(client)


def _refusal(page: str) -> str:
    found = re.search(r'<p class="refused" role="alert"[^>]*>(.*?)</p>', page, re.S)
    assert found, page
    return found[1]


async def test_a_task_refused_for_its_state_is_said_in_chinese_with_the_states_in_chinese(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = console
    csrf = await _signed_in_as_secretary(client)
    refused = await client.post("/tasks/t-1/do/close", data={"csrf_token": csrf, "reason": "resolved"})
    assert refused.status_code == 409
    assert _refusal(refused.text) == "该任务当前为“已派单”，此操作要求任务为“待销号”。"
    assert "ready_to_close" not in _refusal(refused.text)
    assert "this needs it" not in refused.text  # the service's English is not shown

    client.cookies.set("fourlinks_locale", "en")
    english = await client.post("/tasks/t-1/do/close", data={"csrf_token": csrf, "reason": "resolved"})
    assert _refusal(english.text) == "This task is Assigned; this needs it to be Ready to close."


async def test_a_code_the_console_does_not_know_reads_as_a_general_chinese_sentence(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = console
    csrf = await _signed_in_as_secretary(client)
    refused = await client.post("/tasks/t-1/do/reopen", data={"csrf_token": csrf, "reason": "再看看"})
    assert _refusal(refused.text) == "操作未能完成：当前状态不允许此操作，请刷新页面。"
    assert "a rule no console knows" not in refused.text


async def test_a_residents_description_too_short_is_said_in_plain_chinese(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = console
    claims = {"sub": "h-1", "roles": ["resident"], "scope": UNIT, "exp": time.time() + 3600}
    link = "header." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".sig"
    signed = await client.post("/r", data={"csrf_token": await _csrf(client), "t": link})
    assert signed.status_code == 303, signed.text
    form = {"csrf_token": await _csrf(client), "kind": "problem", "category": "repairs", "description": "漏"}
    refused = await client.post("/r/feedback", data=form)
    assert refused.status_code == 422
    assert _refusal(refused.text) == "请检查：问题描述：至少 2 个字。"
    assert "String should" not in refused.text


async def test_an_unknown_console_address_is_a_chinese_page_with_a_way_home(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = console
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in missing.text
    assert "页面不存在" in missing.text
    assert '<a href="/">返回首页</a>' in missing.text
    assert '"detail"' not in missing.text


async def test_a_form_too_large_is_a_page_too(console: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = console
    refused = await client.post("/signout", data={"csrf_token": "x", "note": "x" * 300_000})
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "提交的内容过大" in refused.text


async def test_an_unexpected_failure_is_a_chinese_page_not_a_trace(
    console: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = console

    async def broken() -> None:
        raise RuntimeError("a bug's words, never shown")

    app.add_api_route("/broken", broken)
    failed = await client.get("/broken")
    assert failed.status_code == 500
    assert "出错了" in failed.text
    assert '<a href="/">返回首页</a>' in failed.text
    assert "a bug's words" not in failed.text
    assert failed.headers["x-frame-options"] == "DENY"


def test_a_sentence_fills_in_the_parameters_in_the_readers_words() -> None:
    invalid = ServiceRefused(
        422,
        "score: too large",
        code="invalid_input",
        params={
            "fields": [{"field": "score", "reason": "too_large", "limit": 5}, {"field": "x", "reason": "?"}]
        },
    )
    assert sentence(invalid, CHINESE) == "请检查：评分：最多 5；x：填写的内容不被接受。"
    duty = ServiceRefused(403, "no one closes ...", code="separation_of_duties", params={"duty": "close"})
    assert sentence(duty, CHINESE) == "职责分离：参与办理此任务的人不能销号。"
    assert sentence(duty, ENGLISH) == "Separation of duties: whoever worked on this task may not close it."
    member = ServiceRefused(
        409,
        "member ... is deactivated",
        code="member_deactivated",
        params={"member": "0190aaaa-0000-7000-8000-00000000beef"},
    )
    assert sentence(member, CHINESE) == "党员 0190aaaa 已停止服务。"
    unknown = ServiceRefused(404, "no such route in English", code="something_new")
    assert sentence(unknown, CHINESE) == "操作未能完成：未找到相关内容。"
    assert sentence(unknown, ENGLISH) == "This could not be done: no such route in English"
    fewer = ServiceRefused(409, "task is x", code="task_not_in_state", params={"state": "assigned"})
    assert sentence(fewer, CHINESE) == "操作未能完成：当前状态不允许此操作，请刷新页面。"


def _codes_by_constant() -> dict[str, ErrorCode]:
    """Every registered code by the constant names it is imported under."""
    modules = (kernel_codes, domain_codes, edge, idempotency, edge_codes)
    return {name: value for m in modules for name, value in vars(m).items() if isinstance(value, ErrorCode)}


def _raise_sites() -> list[tuple[str, ErrorCode, set[str]]]:
    """Every place in services/ and shared/ that names a code: where, which, and the parameters given."""
    constants = _codes_by_constant()
    found = []
    for source in [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("shared/*/src/**/*.py")]:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            named = [arg.id for arg in node.args if isinstance(arg, ast.Name) and arg.id in constants]
            if named:
                given = {k.arg for k in node.keywords if k.arg and k.arg != "headers"}
                found.append((f"{source.relative_to(ROOT)}:{node.lineno}", constants[named[0]], given))
    return found


def test_every_code_raised_anywhere_has_a_sentence_in_chinese_and_english() -> None:
    sites = _raise_sites()
    raised = {code.name for _, code, _ in sites}
    assert {"task_not_in_state", "separation_of_duties", "out_of_scope", "over_capacity"} <= raised
    words = catalogue("zh_CN")
    for name, code in ERROR_CODES.items():
        assert name in SENTENCES, f"no sentence for the error code {name} (add it to refusals.py)"
        assert words.get(SENTENCES[name]), f"no Chinese for the sentence of {name}"
        unknown = set(PLACEHOLDER.findall(SENTENCES[name])) - set(code.params)
        assert not unknown, f"the sentence of {name} needs {unknown}, which the code does not carry"


def test_every_raise_site_gives_exactly_the_parameters_its_code_declares() -> None:
    wrong = [(where, code.name, given) for where, code, given in _raise_sites() if given != set(code.params)]
    assert not wrong, wrong


def test_codes_are_registered_only_where_the_registry_looks() -> None:
    registries = {
        "shared/kernel/src/fourlinks_kernel/errors.py",
        "shared/contracts/src/fourlinks_contracts/refusals.py",
        "shared/runtime/src/fourlinks_runtime/errors.py",
        "shared/runtime/src/fourlinks_runtime/edge.py",
        "shared/runtime/src/fourlinks_runtime/idempotency.py",
    }
    elsewhere = [
        str(source.relative_to(ROOT))
        for source in [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("shared/*/src/**/*.py")]
        if "error_code(" in source.read_text(encoding="utf-8")
        and str(source.relative_to(ROOT)) not in registries
    ]
    assert not elsewhere, (
        f"codes defined outside the registry the console's words are checked against: {elsewhere}"
    )
