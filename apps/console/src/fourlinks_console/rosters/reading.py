"""A roster file as rows: an Excel workbook (each visible sheet one roster, its kind told by its
name or its header row) or a CSV file (UTF-8, or GB18030 as Excel saves it on Chinese Windows).
Cells become text as a person reads them: 13912345678, not 1.3912345678E10."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from fourlinks_console.rosters.kinds import KINDS, Kind, RosterKind, column_keys, kind_of
from fourlinks_console.rosters.problems import Problem, RosterRefused
from fourlinks_runtime.cells import FORMULA_STARTS

MAX_ROWS = 200_000
"""Rows one file may hold: a district's households with their residents fit several times over."""
HEADER_ROWS = 10
"""How far down a sheet its header row may be (a title row or two above it is common)."""
NOT_ROSTERS = frozenset({"填写说明", "单位列表", "说明"})
"""Sheets the templates and answer sheets add beside the roster: instructions, the list of units."""
UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
YES_NO = {True: "是", False: "否"}
WORKBOOKS = frozenset({".xlsx", ".xlsm", ".xls"})
"""What a workbook's name ends with (.xls, Excel's old format, is refused: save it as .xlsx)."""


@dataclass(frozen=True)
class Row:
    """One row of a roster: its sheet, its number as Excel shows it, its cells by column key,
    and every cell as the file had it (the answer sheet gives them back)."""

    sheet: str
    number: int
    values: dict[str, str]
    cells: tuple[str, ...]

    def get(self, key: str) -> str:
        """The cell of a column ("" when empty or absent)."""
        return self.values.get(key, "")


@dataclass
class Sheet:
    """One roster: its name, its header row as written, its kind (None: not a roster), which
    column holds what, its rows, how many unchanged example rows were left out, and whether it
    holds nothing at all (left out of the roster)."""

    name: str
    headers: list[str]
    kind: Kind | None
    keys: dict[int, str]
    rows: list[Row] = field(default_factory=list)
    examples: int = 0
    blank: bool = False

    @property
    def roster(self) -> RosterKind | None:
        """The kind's columns, when the sheet is a roster."""
        return KINDS[self.kind] if self.kind else None


@dataclass
class Roster:
    """A file's rosters."""

    name: str
    sheets: list[Sheet]

    @property
    def rows(self) -> int:
        """How many rows its rosters hold."""
        return sum(len(s.rows) for s in self.sheets)


def read_roster(name: str, content: bytes) -> Roster:
    """A file's rosters; refused when it is neither a workbook nor CSV, holds no row, or too many."""
    suffix, workbook = PurePath(name).suffix.lower(), zipfile.is_zipfile(io.BytesIO(content))
    if suffix in WORKBOOKS and not workbook:  # an old .xls, a damaged or renamed file
        raise RosterRefused(Problem("file_unreadable", message="not a workbook"))
    if suffix == ".csv" or not workbook:
        sheets = [_sheet(PurePath(name).stem or "CSV", _csv_rows(content))]
    else:
        sheets = list(_workbook_sheets(content))
    roster = Roster(name, [s for s in sheets if not s.blank])
    if roster.rows > MAX_ROWS:
        raise RosterRefused(Problem("too_many_rows", {"limit": MAX_ROWS}))
    if not any(s.rows for s in roster.sheets):
        raise RosterRefused(Problem("file_empty"))
    return roster


def _workbook_sheets(content: bytes) -> Iterator[Sheet]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RosterRefused(Problem("file_unreadable", message=type(exc).__name__)) from exc
    try:
        for sheet in book.worksheets:
            if sheet.sheet_state == "visible" and sheet.title not in NOT_ROSTERS:
                yield _sheet(
                    sheet.title, ([_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
                )
    finally:
        book.close()


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterRefused(Problem("file_unreadable", message="encoding"))
    if "\x00" in text:
        raise RosterRefused(Problem("file_unreadable", message="binary"))
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    for row in csv.reader(io.StringIO(text), dialect):
        yield [_text(v) for v in row]


def _sheet(name: str, rows: Iterable[list[str]]) -> Sheet:
    """A sheet's header row (the first naming columns of a roster), then its rows by column."""
    numbered = enumerate(rows, start=1)
    headers: list[str] = []
    blank = True
    for number, cells in numbered:
        blank = blank and not any(cells)
        if _names_columns(cells):
            headers = cells
            break
        if number >= HEADER_ROWS:
            break
    kind = kind_of(name, headers) if headers else None
    sheet = Sheet(name, headers, kind, column_keys(KINDS[kind], headers) if kind else {}, blank=blank)
    if kind is None:
        sheet.blank = blank and not any(any(cells) for _, cells in numbered)
        return sheet
    example = KINDS[kind].example
    for number, cells in numbered:
        if not any(cells):
            continue
        values = {key: cells[i] for i, key in sheet.keys.items() if i < len(cells) and cells[i]}
        if values and all(values.get(k, "") == v for k, v in example.items()):
            sheet.examples += 1  # the template's example row, left as it was
            continue
        sheet.rows.append(Row(name, number, values, tuple(cells)))
        if len(sheet.rows) > MAX_ROWS:
            raise RosterRefused(Problem("too_many_rows", {"limit": MAX_ROWS}))
    return sheet


def _names_columns(cells: Sequence[str]) -> bool:
    """Whether a row is a header row: it names at least two columns of some roster."""
    headers = [c for c in cells if c]
    return len(headers) >= 2 and any(len(column_keys(r, headers)) >= 2 for r in KINDS.values())


def _text(value: object) -> str:
    """A cell as a person reads it: whole numbers without a decimal point, days as YYYY-MM-DD,
    no control characters, a CSV's protecting apostrophe removed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES_NO[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    text = UNWRITABLE.sub("", str(value)).strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]  # what `inert` protected when the answer sheet was written as CSV
    return text
