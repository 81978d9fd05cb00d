"""The workbooks an import hands out: a template of each kind (the header row, an example row
the import skips while it is unchanged, lists to choose from where a column takes a few values or
the units of the reader's area, a sheet of instructions), and the answer to a file (each refused
row as the file had it, with its reason in the reader's language, so it can be corrected and
imported again)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from fourlinks_console.exports import Column as Shown
from fourlinks_console.exports import sheet_name, table_sheet
from fourlinks_console.i18n import Language
from fourlinks_console.names import N_
from fourlinks_console.rosters.checking import Plan, State
from fourlinks_console.rosters.directory import Directory, Unit
from fourlinks_console.rosters.kinds import KINDS, Kind, RosterKind
from fourlinks_console.rosters.problems import Problem
from fourlinks_console.rosters.reading import Roster, Row
from fourlinks_contracts.service_matters import SERVICE_MATTERS
from fourlinks_runtime.cells import inert

INSTRUCTIONS, UNITS, SUMMARY = "填写说明", "单位列表", "说明"
"""The sheets beside a roster (the import reads past them)."""
TEMPLATE_ROWS = 5000
"""How far down the template's lists to choose from reach."""
EXAMPLE_FONT = Font(italic=True, color="808080")
REQUIRED, OPTIONAL = N_("required"), N_("optional")
EXAMPLE_NOTE = N_(
    "An example: the import leaves this row out while it is unchanged. Delete it or write over it."
)
ROW_IN_FILE, REASON = N_("Row in the file"), N_("Reason")
COLUMN, WHETHER, WHAT = N_("Column"), N_("Required?"), N_("What to write")


def template(roster: RosterKind, directory: Directory, language: Language) -> bytes:
    """A kind's template as a workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = roster.sheet
    columns = [Shown(c.key, c.header) for c in roster.columns]
    table_sheet(sheet, columns, [[c.example or None for c in roster.columns]])
    for number, column in enumerate(roster.columns, start=1):
        sheet.cell(row=1, column=number).comment = Comment(_note(column.note, language), "四联")
        sheet.cell(row=2, column=number).font = EXAMPLE_FONT
    sheet.cell(row=2, column=1).comment = Comment(language.gettext(EXAMPLE_NOTE), "四联")
    for number, column in enumerate(roster.columns, start=1):
        if column.choices:
            _choose(sheet, number, '"' + ",".join(column.choices) + '"')
    units = _unit_list(book, roster, directory)
    if units:
        number = 1 + [c.key for c in roster.columns].index("unit")
        _choose(sheet, number, units, strict=False)
    _instructions(book, roster, language)
    return _saved(book)


def template_csv(roster: RosterKind) -> bytes:
    """A kind's template as CSV (UTF-8 with a byte-order mark, as Excel opens Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in roster.columns])
    writer.writerow([inert(c.example) for c in roster.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _note(note: str, language: Language) -> str:
    matters = "、".join(m.zh if language.locale == "zh_CN" else m.en for m in SERVICE_MATTERS.values())
    return language.gettext(note) % {"matters": matters} if "%(matters)s" in note else language.gettext(note)


def _choose(sheet: Any, column: int, source: str, *, strict: bool = True) -> None:
    """A list to choose from in a column's cells below the header (strict: nothing else taken)."""
    letter = get_column_letter(column)
    rule = DataValidation(type="list", formula1=source, allow_blank=True, showErrorMessage=strict)
    rule.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
    sheet.add_data_validation(rule)


def _unit_list(book: Workbook, roster: RosterKind, directory: Directory) -> str | None:
    """The reader's units that take this kind's records, on a hidden sheet, as the template's
    unit column lists them to choose from (the fewest names that tell each apart)."""
    units = sorted(
        (u for u in directory.units.values() if u.level in roster.unit_levels), key=lambda u: u.path
    )
    if not units:
        return None
    listed = book.create_sheet(UNITS)
    for number, unit in enumerate(units, start=1):
        listed.cell(row=number, column=1, value=shortest_name(unit, directory))
    listed.sheet_state = "hidden"
    return f"'{UNITS}'!$A$1:$A${len(units)}"


def shortest_name(unit: Unit, directory: Directory) -> str:
    """The fewest of a unit's names, from its own up, that no other unit of the area shares."""
    for count in range(1, len(unit.names) + 1):
        names = "/".join(unit.names[-count:])
        found = directory.find_unit(names)
        if isinstance(found, Unit) and found.path == unit.path:
            return names
    return "/".join(unit.names)


def _instructions(book: Workbook, roster: RosterKind, language: Language) -> None:
    sheet = book.create_sheet(INSTRUCTIONS)
    columns = [Shown("column", language.gettext(COLUMN)), Shown("whether", language.gettext(WHETHER))]
    columns.append(Shown("what", language.gettext(WHAT)))
    cells = [
        [c.header, language.gettext(REQUIRED if c.required else OPTIONAL), _note(c.note, language)]
        for c in roster.columns
    ]
    table_sheet(sheet, columns, cells)


@dataclass(frozen=True)
class Answered:
    """What an answer sheet tells beside the rows: the scope's name, when, and whether the run
    stopped before every row was sent (those rows are then listed as not sent)."""

    scope: str
    at: datetime
    stopped: bool = False


def answer(roster: Roster, plan: Plan, answered: Answered, language: Language) -> bytes:
    """Each refused row (and each not sent, when the run stopped) with its reason, sheet by sheet
    as the file had them; a first sheet says what the file was and what became of it."""
    book = Workbook()
    summary = book.active
    assert summary is not None  # a new workbook has one sheet
    summary.title = SUMMARY
    table_sheet(summary, *_summary(roster, plan, answered, language))
    reasons = _reasons(plan, answered.stopped)
    for source in roster.sheets:
        rows = [
            (row, reasons[row.sheet, row.number]) for row in source.rows if (row.sheet, row.number) in reasons
        ]
        if rows:
            _refused_sheet(book, source.name, source.headers, rows, language)
    return _saved(book)


def _reasons(plan: Plan, stopped: bool) -> dict[tuple[str, int], Problem]:
    reasons = {(row.sheet, row.number): problem for row, problem in plan.refused()}
    if stopped:
        for item in plan.all_items():
            if item.state == State.NEW:
                reasons.update({(row.sheet, row.number): Problem("not_sent") for row in item.rows})
    return reasons


def _refused_sheet(
    book: Workbook, name: str, headers: Sequence[str], rows: list[tuple[Row, Problem]], language: Language
) -> None:
    """The refused rows of one sheet: its columns as the file had them, then where and why."""
    sheet = book.create_sheet(sheet_name(name))
    width = max([len(headers), *(len(row.cells) for row, _ in rows)])
    columns = [Shown(f"c{i}", headers[i] if i < len(headers) else "") for i in range(width)]
    columns += [
        Shown("row", language.gettext(ROW_IN_FILE), "number"),
        Shown("reason", language.gettext(REASON)),
    ]
    cells = [[*_padded(row.cells, width), row.number, problem.said(language)] for row, problem in rows]
    table_sheet(sheet, columns, cells)


def _padded(cells: Sequence[str], width: int) -> list[str | None]:
    return [(cells[i] or None) if i < len(cells) else None for i in range(width)]


SUMMARY_WORDS = {
    "file": N_("File"),
    "scope": N_("Area"),
    "at": N_("Checked at"),
    State.NEW: N_("To register"),
    State.EXISTS: N_("Registered before: left as they are"),
    State.CREATED: N_("Registered now"),
    State.REFUSED: N_("Refused"),
}


def _summary(
    roster: Roster, plan: Plan, answered: Answered, language: Language
) -> tuple[list[Shown], list[list[Any]]]:
    """What the file was, and its records by kind and where they stand."""
    say = language.gettext
    kinds = [k for k in Kind if plan.items[k]]
    columns = [Shown("what", ""), *(Shown(str(k), say(KINDS[k].label), "number") for k in kinds)]
    counts = plan.counts()
    cells: list[list[Any]] = [
        [say(SUMMARY_WORDS["file"]), roster.name, *[None] * (len(kinds) - 1)],
        [say(SUMMARY_WORDS["scope"]), answered.scope, *[None] * (len(kinds) - 1)],
        [say(SUMMARY_WORDS["at"]), answered.at.strftime("%Y-%m-%d %H:%M"), *[None] * (len(kinds) - 1)],
    ]
    cells = [row[: len(columns)] + [None] * (len(columns) - len(row)) for row in cells]
    for state in (State.NEW, State.EXISTS, State.CREATED, State.REFUSED):
        cells.append([say(SUMMARY_WORDS[state]), *(counts[k][state] for k in kinds)])
    cells += [[problem.said(language), *[None] * len(kinds)] for _, problem in plan.sheet_problems]
    return columns, cells


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
