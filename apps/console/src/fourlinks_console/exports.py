"""Lists as files, the way secretaries use them: Excel with headers and values in the reader's
words, moments as real dates in the district's time zone, columns fitted to what they hold, a
filter on the frozen header row; CSV the same, with a byte-order mark so Excel opens the Chinese
correctly. A file is named after its unit, what it is and its day (星河社区-任务清单-2026-12-08.xlsx).

Every text cell is kept inert: what a person typed is shown, never run as a formula."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Literal
from urllib.parse import quote

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from fourlinks_runtime.cells import inert, is_formula_like

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CellKind = Literal["text", "number", "rate", "moment", "day"]
EXCEL_FORMATS: dict[str, str] = {"moment": "yyyy-mm-dd hh:mm", "day": "yyyy-mm-dd", "rate": "0.0%"}
SHOWN_AS: dict[str, str] = {"moment": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d"}
"""How a CSV cell spells a moment or a day (Excel reads both as dates)."""
WIDEST, NARROWEST = 60, 6
"""Column widths, in Excel's character widths: a long description wraps at the widest."""
WRAPPED = Alignment(wrap_text=True, vertical="top")
NOT_IN_NAMES = re.compile(r'[\\/:*?"<>|\[\]\x00-\x1f\x7f]+')
"""What a file name or a sheet's name may not hold (Windows, Excel)."""


@dataclass(frozen=True)
class Column:
    """One column: the row's key, its header in the reader's words, what its cells hold."""

    key: str
    header: str
    kind: CellKind = "text"


@dataclass(frozen=True)
class Table:
    """What a file holds: what it is (任务清单) and its ASCII name (tasks), the unit's name, the
    moment it was taken, the time zone its moments are shown in, its columns and rows; `period`
    is the month a monthly sheet is about (its name says that instead of the day); `heading`, a
    line an Excel sheet shows above its header (what it holds and when, for whoever opens the file
    without its name)."""

    title: str
    slug: str
    scope: str
    taken_at: datetime
    zone: tzinfo
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    period: str | None = None
    heading: str | None = None

    @property
    def stamp(self) -> str:
        """The day (or month) the file's name carries, in the district's time zone."""
        return self.period or self.taken_at.astimezone(self.zone).date().isoformat()

    def filename(self, extension: str) -> str:
        """The file's name as people read it: 星河社区-任务清单-2026-12-08.xlsx."""
        parts = (NOT_IN_NAMES.sub(" ", part).strip() for part in (self.scope, self.title, self.stamp))
        return "-".join(part for part in parts if part) + f".{extension}"

    def fallback(self, extension: str) -> str:
        """The file's name for programs that cannot read a UTF-8 name: ASCII only."""
        return f"fourlinks-{self.slug}-{self.stamp}.{extension}"

    def cells(self) -> list[list[Any]]:
        """The rows as typed cells: moments local and without a zone (Excel has none), days as
        dates, lists joined, absent values empty."""
        return [[_value(row.get(c.key), c.kind, self.zone) for c in self.columns] for row in self.rows]


def _value(value: Any, kind: CellKind, zone: tzinfo) -> Any:
    if value is None or value == "":
        return None
    if kind == "moment":
        return _moment(value).astimezone(zone).replace(tzinfo=None, microsecond=0)
    if kind == "day":
        return _day(value, zone)
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters Excel refuses to open
    return value


def _moment(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _day(value: date | datetime | str, zone: tzinfo) -> date:
    if isinstance(value, datetime):
        return value.astimezone(zone).date() if value.tzinfo else value.date()
    if isinstance(value, str):
        return _day(_moment(value), zone) if "T" in value else date.fromisoformat(value[:10])
    return value


def csv_file(table: Table) -> Response:
    """The table as CSV, UTF-8 with a BOM: the header row, then the rows, moments local."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([inert(c.header) for c in table.columns])
    for row in table.cells():
        writer.writerow([_spelled(value, c.kind) for value, c in zip(row, table.columns, strict=True)])
    content = ("\ufeff" + out.getvalue()).encode("utf-8")
    return _download(content, table, "csv", "text/csv; charset=utf-8")


def _spelled(value: Any, kind: CellKind) -> Any:
    if value is None:
        return ""
    if isinstance(value, date) and kind in SHOWN_AS:
        return value.strftime(SHOWN_AS[kind])
    if kind == "rate" and isinstance(value, int | float):
        return f"{value:.1%}"
    return inert(value)


def xlsx_file(table: Table) -> Response:
    """The table as an Excel workbook: a frozen header row with a filter, typed and formatted
    cells, fitted columns; the unit, the title and the moment in the printed page's header."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = NOT_IN_NAMES.sub(" ", table.title)[:31] or table.slug
    cells = table.cells()
    top = 1
    if table.heading:
        _put(sheet, 1, 1, table.heading, "text").font = Font(bold=True, size=14)
        top = 2  # the heading spills over the empty cells to its right; the filter starts below it
    _write(sheet, table.columns, cells, top=top)
    sheet.freeze_panes = f"A{top + 1}"
    last = get_column_letter(max(len(table.columns), 1))
    sheet.auto_filter.ref = f"A{top}:{last}{len(cells) + top}"
    _fit(sheet, table.columns, cells)
    taken = table.taken_at.astimezone(table.zone).strftime(SHOWN_AS["moment"])
    printed = sheet.oddHeader
    assert printed is not None  # every sheet has a header for printed pages
    printed.center.text = _printable(f"{table.scope} {table.title}")
    printed.right.text = taken
    book.properties.title = f"{table.scope} {table.title} {table.stamp}"
    out = io.BytesIO()
    book.save(out)
    return _download(out.getvalue(), table, "xlsx", XLSX)


def _write(sheet: Worksheet, columns: Sequence[Column], cells: list[list[Any]], *, top: int = 1) -> None:
    """The header row (bold) at row `top`, then the rows; text never becomes a formula."""
    bold = Font(bold=True)
    for number, column in enumerate(columns, start=1):
        _put(sheet, top, number, column.header, "text").font = bold
    for row_number, row in enumerate(cells, start=top + 1):
        for number, (value, column) in enumerate(zip(row, columns, strict=True), start=1):
            cell = _put(sheet, row_number, number, value, column.kind)
            if isinstance(value, str) and ("\n" in value or shown_width(value) > WIDEST):
                cell.alignment = WRAPPED  # a long description wraps in its column


def _put(sheet: Worksheet, row: int, column: int, value: Any, kind: CellKind) -> Any:
    cell = sheet.cell(row=row, column=column, value=value)
    if is_formula_like(value):
        cell.data_type = "s"  # kept as text: openpyxl would have written a live formula
    if kind in EXCEL_FORMATS and value is not None:
        cell.number_format = EXCEL_FORMATS[kind]
    return cell


def _fit(sheet: Worksheet, columns: Sequence[Column], cells: list[list[Any]]) -> None:
    """Each column as wide as its widest cell (a Chinese character is two wide), within bounds."""
    for number, column in enumerate(columns, start=1):
        widest = max([shown_width(column.header), *(_width(row[number - 1], column.kind) for row in cells)])
        sheet.column_dimensions[get_column_letter(number)].width = min(WIDEST, max(NARROWEST, widest + 2))


def _width(value: Any, kind: CellKind) -> int:
    if value is None:
        return 0
    if kind == "rate":
        return len("100.0%")
    if isinstance(value, date) and kind in SHOWN_AS:
        return len(value.strftime(SHOWN_AS[kind]))
    return max(shown_width(line) for line in str(value).splitlines() or [""])


def shown_width(text: str) -> int:
    """How many columns text takes: a wide (Chinese) character two, any other one."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _printable(text: str) -> str:
    """Text for a printed page's header, where "&" starts a code."""
    return text.replace("&", "&&")


def _download(content: bytes, table: Table, extension: str, media_type: str) -> Response:
    """The file as an attachment: its UTF-8 name (RFC 5987), and an ASCII name for old programs."""
    name = quote(table.filename(extension), safe="")
    disposition = f"attachment; filename=\"{table.fallback(extension)}\"; filename*=UTF-8''{name}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


def table_sheet(sheet: Worksheet, columns: Sequence[Column], cells: list[list[Any]]) -> None:
    """One sheet of a workbook of several, written as every download writes its one: a bold,
    frozen header row with a filter, typed cells that never become formulas, fitted columns."""
    _write(sheet, columns, cells)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(columns), 1))}{len(cells) + 1}"
    _fit(sheet, columns, cells)


def sheet_name(text: str) -> str:
    """Text as a sheet's name: without what Excel refuses there, at most 31 characters."""
    return NOT_IN_NAMES.sub(" ", text).strip()[:31] or "Sheet"


def attachment(content: bytes, *, name: str, fallback: str, media_type: str) -> Response:
    """A file to download under its UTF-8 name (RFC 5987), with an ASCII name for old programs."""
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})
