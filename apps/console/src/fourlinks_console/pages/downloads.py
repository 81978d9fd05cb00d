"""Every list as a file: `/export/{list}.csv` or `.xlsx`, with the list's own filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from fourlinks_console.exports import Column, Table, csv_file, xlsx_file
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Service, Services

router = APIRouter()
PAGE = 500
MOST_ROWS = 50_000

LISTS: dict[str, tuple[str, Service, str, list[Column]]] = {
    "members": (
        "党员名单 members",
        "members",
        "/members",
        [
            Column("name", "姓名 name"),
            Column("org_unit", "所在单元 unit"),
            Column("party_branch", "党支部 branch"),
            Column("capacity", "联系上限 capacity"),
            Column("contact_count", "已联系 contacts"),
            Column("status", "状态 status"),
        ],
    ),
    "tasks": (
        "任务清单 tasks",
        "assignments",
        "/tasks",
        [
            Column("task_id", "编号 id"),
            Column("state", "状态 state"),
            Column("category", "类别 category"),
            Column("urgency", "紧急程度 urgency"),
            Column("org_unit", "单元 unit"),
            Column("assignee", "承办党员 assignee"),
            Column("raised_at", "提出时间 raised at"),
            Column("due_at", "期限 due"),
            Column("closed_at", "销号时间 closed at"),
        ],
    ),
    "uncovered": (
        "未覆盖联系对象 uncovered",
        "members",
        "/coverage/uncovered",
        [
            Column("org_unit", "单元 unit"),
            Column("household_id", "住户 household"),
            Column("room", "房号 room"),
            Column("enterprise_id", "企业 enterprise"),
            Column("name", "名称 name"),
        ],
    ),
    "callbacks": (
        "待回访 call-backs due",
        "feedback",
        "/callbacks/due",
        [
            Column("reference", "反馈编号 reference"),
            Column("org_unit", "单元 unit"),
            Column("kind", "回访类型 kind"),
            Column("round", "轮次 round"),
            Column("due_at", "应回访时间 due"),
            Column("answer_by", "答复截止 answer by"),
            Column("task_id", "任务 task"),
        ],
    ),
}


@router.get("/export/{name}.{fmt}")
async def export(
    request: Request, person: CurrentPerson, name: str, fmt: str, unit: str | None = None
) -> Response:
    if name not in LISTS or fmt not in ("csv", "xlsx"):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "exports: members, tasks or uncovered, as .csv or .xlsx"
        )
    title, service, path, columns = LISTS[name]
    root = (unit or person.scope).strip("/")
    filters = {k: v for k, v in request.query_params.items() if k not in ("unit",)}
    rows = await _all_rows(request.app.state.services, person.token, service, path, {**filters, "unit": root})
    table = Table(title, root, datetime.now(UTC), columns, rows)
    filename = f"fourlinks-{name}-{root.replace('/', '-')}"
    return csv_file(table, filename) if fmt == "csv" else xlsx_file(table, filename)


async def _all_rows(
    services: Services, token: str, service: Service, path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every page of a list (at most MOST_ROWS rows)."""
    rows: list[dict[str, Any]] = []
    while len(rows) < MOST_ROWS:
        page = await services.get(token, service, path, {**params, "limit": PAGE, "offset": len(rows)})
        if isinstance(page, list):  # a list the service answers whole
            return page[:MOST_ROWS]
        rows.extend(page["items"])
        if len(page["items"]) < PAGE or len(rows) >= page.get("total", 0):
            return rows
    return rows
