"""Lists as files: Excel (xlsx) with Chinese headers and the scope and time on the sheet, and CSV
with a byte-order mark so Excel opens the Chinese correctly."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from openpyxl import Workbook

from fourlinks_runtime.cells import inert, is_formula_like

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    """One column: the row's key and its header (Chinese first, as people read it)."""

    key: str
    header: str


@dataclass(frozen=True)
class Table:
    """What a file holds: its title, scope, the moment it was taken, the columns and rows."""

    title: str
    scope: str
    taken_at: datetime
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]

    def values(self) -> list[list[Any]]:
        """The rows as cells (lists joined, absent values blank)."""
        return [[_cell(row.get(c.key)) for c in self.columns] for row in self.rows]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    return value


def csv_file(table: Table, name: str) -> Response:
    """The table as CSV, UTF-8 with a BOM; the first lines say what and as of when."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [table.title, f"范围 scope: {table.scope}", f"导出时间 taken at: {table.taken_at.isoformat()}"]
    )
    writer.writerow([c.header for c in table.columns])
    writer.writerows([inert(cell) for cell in row] for row in table.values())
    return _download(("\ufeff" + out.getvalue()).encode("utf-8"), f"{name}.csv", "text/csv; charset=utf-8")


def xlsx_file(table: Table, name: str) -> Response:
    """The table as an Excel workbook: a title row with scope and time, then headers and rows."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = table.title[:31]
    sheet.append(
        [table.title, f"范围 scope: {table.scope}", f"导出时间 taken at: {table.taken_at.isoformat()}"]
    )
    sheet.append([c.header for c in table.columns])
    for values in table.values():
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if is_formula_like(cell.value):
                cell.data_type = "s"  # kept as text: openpyxl would have written a live formula
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return _download(out.getvalue(), f"{name}.xlsx", XLSX)


def _download(content: bytes, filename: str, media_type: str) -> Response:
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
