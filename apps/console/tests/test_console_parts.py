"""The console's parts that hold no page: settings, forms to command bodies, exports, where a form
may send a person next, and the identity provider's claims."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from fastapi import HTTPException
from openpyxl import load_workbook
from pydantic import ValidationError

from fourlinks_console.actions import ACTION_FORMS, body_of
from fourlinks_console.exports import Column, Table, csv_file, xlsx_file
from fourlinks_console.pages.signin import person_from_claims
from fourlinks_console.services import part
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.web import local_path

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLE = Table(
    title="党员名单",
    slug="members",
    scope="南苑街道",
    taken_at=datetime(2026, 11, 30, 17, tzinfo=UTC),  # 1 December in Hangzhou
    zone=SHANGHAI,
    columns=[Column("name", "姓名"), Column("helpers", "协助人员"), Column("since", "入党日期", "day")],
    rows=[
        {"name": "王芳", "helpers": ["甲", "乙"], "since": "2001-07-01"},
        {"name": "李强", "helpers": None},
    ],
)


def test_local_sign_in_is_refused_in_production_and_production_needs_a_session_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        ConsoleSettings(environment="production", local_signin=True)
    with pytest.raises(ValueError, match="SESSION_SECRET is required"):
        ConsoleSettings(environment="production").session_secret_value(tmp_path)
    embedded = ConsoleSettings()
    made = embedded.session_secret_value(tmp_path)
    assert made == embedded.session_secret_value(tmp_path)
    assert (tmp_path / "console.secret").stat().st_mode & 0o077 == 0
    assert not embedded.secure_cookies
    assert ConsoleSettings(environment="production").secure_cookies


def test_a_form_becomes_the_body_the_service_wants() -> None:
    spot = body_of(ACTION_FORMS["spot-check"], {"passed": "no", "note": ""}, "Asia/Shanghai")
    assert spot == {"passed": False}
    extension = body_of(
        ACTION_FORMS["extension"], {"new_due_at": "2026-12-20T10:00", "reason": "等配件"}, "Asia/Shanghai"
    )
    assert extension == {"new_due_at": "2026-12-20T10:00:00+08:00", "reason": "等配件"}
    close = body_of(
        ACTION_FORMS["close"], {"reason": "resolved", "note": " ", "duplicate_of": ""}, "Asia/Shanghai"
    )
    assert close == {"reason": "resolved", "note": " "}


def test_after_a_form_a_person_is_only_sent_to_a_page_of_this_console() -> None:
    assert local_path("/tasks?unit=yuhang") == "/tasks?unit=yuhang"
    for elsewhere in (
        "https://example.org/",
        "//example.org/x",
        "/\\example.org",
        "javascript:alert(1)",
        None,
        "",
    ):
        assert local_path(elsewhere) == "/"


def test_csv_has_a_byte_order_mark_the_headers_first_and_a_file_name_by_unit_list_and_local_day() -> None:
    answer = csv_file(TABLE)
    body = bytes(answer.body)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [["姓名", "协助人员", "入党日期"], ["王芳", "甲、乙", "2001-07-01"], ["李强", "", ""]]
    disposition = answer.headers["content-disposition"]
    assert 'filename="fourlinks-members-2026-12-01.csv"' in disposition
    assert f"filename*=UTF-8''{quote('南苑街道-党员名单-2026-12-01.csv')}" in disposition


def test_excel_has_a_frozen_filtered_header_row_typed_days_and_fitted_columns() -> None:
    book = load_workbook(io.BytesIO(bytes(xlsx_file(TABLE).body)))
    sheet = book.active
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["姓名", "协助人员", "入党日期"]
    assert rows[1][:2] == ["王芳", "甲、乙"]
    assert (rows[1][2], sheet["C2"].number_format) == (datetime(2001, 7, 1), "yyyy-mm-dd")
    assert (sheet.freeze_panes, sheet.auto_filter.ref, sheet.title) == ("A2", "A1:C3", "党员名单")
    assert sheet.column_dimensions["B"].width == len("协助人员") * 2 + 2  # a Chinese character is two wide
    assert sheet.column_dimensions["C"].width == len("2001-07-01") + 2


def test_roles_and_scope_come_from_the_claims_named_in_the_settings() -> None:
    settings = ConsoleSettings()
    token = {
        "access_token": "at",
        "expires_at": 2_000_000_000,
        "userinfo": {
            "sub": "u1",
            "name": "书记",
            "fourlinks_roles": "secretary auditor",
            "fourlinks_scope": "yuhang",
        },
    }
    person = person_from_claims(settings, token)
    assert (person.id, person.roles, person.scope, person.token) == (
        "u1",
        ("secretary", "auditor"),
        "yuhang",
        "at",
    )
    with pytest.raises(HTTPException) as refused:
        person_from_claims(settings, {"access_token": "at", "userinfo": {"sub": "u2"}})
    assert refused.value.status_code == 403


def test_an_id_from_a_form_cannot_change_which_route_of_a_service_is_called() -> None:
    assert part("0b1e2c4d-0000-4000-8000-000000000000") == "0b1e2c4d-0000-4000-8000-000000000000"
    assert part("../tasks") == "..%2Ftasks"
    assert part("..") == "%2E%2E"
    assert part("x?admin=1#y") == "x%3Fadmin%3D1%23y"
    assert part("\x00") == "%00"


FORMULAS = Table(
    title="任务清单",
    slug="tasks",
    scope="南苑街道",
    taken_at=datetime(2026, 11, 30, tzinfo=UTC),
    zone=SHANGHAI,
    columns=[Column("name", "姓名"), Column("description", "问题描述")],
    rows=[
        {"name": '=HYPERLINK("http://evil.example","点我")', "description": "+1+1"},
        {"name": "@SUM(A1)", "description": "-2"},
        {"name": "\t=1+1", "description": "楼道灯坏了"},
    ],
)


def test_a_formula_typed_by_a_person_is_text_in_the_excel_export() -> None:
    import zipfile

    body = bytes(xlsx_file(FORMULAS).body)
    sheet_xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no cell is a formula
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    assert sheet["A2"].value == '=HYPERLINK("http://evil.example","点我")'
    assert sheet["A2"].data_type == "s"


def test_a_formula_typed_by_a_person_is_shown_not_run_in_the_csv_export() -> None:
    text = bytes(csv_file(FORMULAS).body).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert rows == [
        ['\'=HYPERLINK("http://evil.example","点我")', "'+1+1"],
        ["'@SUM(A1)", "'-2"],
        ["'\t=1+1", "楼道灯坏了"],
    ]


def test_signing_in_from_one_address_is_slowed_down_with_429(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from fourlinks_console.app import create_app
    from fourlinks_runtime.settings import Settings

    app = create_app(ConsoleSettings(local_signin=True), Settings(var_dir=tmp_path, jwt_secret="s" * 40))
    with TestClient(app) as client:
        answers = [client.post("/signin/local", data={"who": "nobody"}).status_code for _ in range(25)]
    assert 429 not in answers[:20]  # a minute's worth of attempts, refused for what they are
    assert answers[20:] == [429] * 5
