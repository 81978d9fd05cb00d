"""A category is chosen from the service matters (GET /service-matters), never typed; a page shows
it by its label, and text that is not a code (old feedback's free text) as "other", never as
typed."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from apps.console.tests.harness import console_before, sign_in

from fourlinks_console.figures import BOARD_STATES
from fourlinks_contracts.service_matters import SERVICE_MATTERS

HOUSEHOLD = "0190aaaa-0000-7000-8000-00000000beef"
REFERENCE = "FL-20261130-ABCDEFGH"
TYPED = "路灯坏了\n详见 https://evil.example/x"  # what a resident could type before categories were codes
OLD_ITEM = {
    "feedback_id": "f-1",
    "reference": REFERENCE,
    "category": TYPED,
    "state": "submitted",
    "submitted_at": "2026-11-30T02:00:00Z",
    "photos": [],
}


def services_answering(request: httpx.Request) -> httpx.Response:
    """The services as these pages ask them: sign-in's lists, a household's feedback, a receipt."""
    if request.url.path == "/org-units":
        return httpx.Response(200, json=[{"path": "yuhang", "name": "余杭区", "level": "district"}])
    if request.url.path == "/feedback":
        return httpx.Response(200, json={"items": [OLD_ITEM], "total": 1})
    if request.url.path == f"/public/follow-up/{REFERENCE}":
        followed = {k: OLD_ITEM[k] for k in ("reference", "category", "state", "submitted_at")}
        return httpx.Response(200, json={**followed, "task_state": None, "history": []})
    if request.url.path == "/board/columns":
        return httpx.Response(200, json={state: {"items": [], "total": 0} for state in BOARD_STATES})
    if request.url.path == "/members":
        return httpx.Response(200, json={"items": [], "total": 0})
    return httpx.Response(404, json={"detail": "nothing here"})  # e.g. names: a page shows ids then


def resident_link_token() -> str:
    claims = {"sub": HOUSEHOLD, "roles": ["resident"], "scope": "yuhang", "exp": time.time() + 3600}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"header.{payload}.signature"  # the console reads it; the (stand-in) services accept it


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with console_before(tmp_path, services_answering) as client:
        yield client


def choices_of(page: str, select_id: str) -> list[tuple[str, str]]:
    """(value, label) of each option of a page's <select>, which must be the category's input."""
    found = re.search(rf'<select id="{select_id}" name="category"[^>]*>(.*?)</select>', page, re.S)
    assert found, page
    return re.findall(r'<option value="([^"]*)">([^<]*)</option>', found[1])


async def test_a_resident_picks_a_service_matter_and_sees_old_free_text_as_other(
    console: httpx.AsyncClient,
) -> None:
    await sign_in(console, {"t": resident_link_token()}, path="/r")
    page = (await console.get("/r/feedback")).text
    choices = choices_of(page, "fb-category")
    assert choices == [("", "请选择服务事项"), *((m.code, m.zh) for m in SERVICE_MATTERS.values())]
    assert re.search(r'<select id="fb-category" name="category" class="matter" required>', page)
    assert not re.search(r'<input[^>]*name="category"', page)  # nothing to type
    assert f"{REFERENCE} · 其他" in page  # their old item, by the label of "other"
    assert "evil.example" not in page
    assert "路灯" not in page


async def test_the_public_follow_up_page_shows_the_label_never_what_was_typed(
    console: httpx.AsyncClient,
) -> None:
    page = (await console.get("/follow", params={"reference": REFERENCE})).text
    assert "<p>其他 · 已提交 " in page
    assert "evil.example" not in page
    assert "路灯" not in page
    console.cookies.set("fourlinks_locale", "en")
    english = (await console.get("/follow", params={"reference": REFERENCE})).text
    assert "<p>other · " in english


async def test_a_member_s_visit_and_a_secretary_s_task_choose_their_category_too(
    console: httpx.AsyncClient,
) -> None:
    await sign_in(console, {"who": "secretary:yuhang"})
    visit = (await console.get("/me/visits/new", params={"kind": "household", "contact": HOUSEHOLD})).text
    assert [code for code, _ in choices_of(visit, "problem-category")] == ["", *SERVICE_MATTERS]
    board = (await console.get("/tasks", params={"unit": "yuhang"})).text
    assert ("repairs", "维修协调") in choices_of(board, "new-category")
    assert not re.search(r'<input[^>]*name="category"', board)  # the filter is a choice as well
