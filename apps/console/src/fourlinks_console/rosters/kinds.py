"""The four kinds of roster and their columns, as the templates write them and the import reads
them: headers in Chinese whatever the page's language (a roster is the district's paperwork, and
`fourlinks import` reads the same files), with the other spellings secretaries use.

Households come one row per resident: rows with the same building, unit and room are one
household. A service card names its member by unit, name and phone, its households by address
(3幢1单元101室) and its enterprises by credit code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from fourlinks_console.names import N_
from fourlinks_contracts.credit_codes import credit_code_check_char
from fourlinks_contracts.members import CONTACT_LEVELS, OrgLevel


class Kind(StrEnum):
    """What a sheet registers, in the order an import sends them (a card names the others)."""

    MEMBERS = "members"
    HOUSEHOLDS = "households"
    ENTERPRISES = "enterprises"
    CARDS = "cards"


@dataclass(frozen=True)
class Column:
    """One column: its key, its header, what to write in it (a message id), whether a row needs
    it, the other headers that mean it, and what the template's example row holds."""

    key: str
    header: str
    note: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    example: str = ""
    choices: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        """Every header that names this column."""
        return (self.header, *self.aliases)


@dataclass(frozen=True)
class RosterKind:
    """One kind of roster: its sheet's name, its words on the pages, its columns, the columns of
    its natural key (a row names the record it stands for by them), the levels its units may be."""

    kind: Kind
    sheet: str
    label: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    unit_levels: tuple[OrgLevel, ...] = CONTACT_LEVELS

    def column(self, key: str) -> Column:
        """The column with this key."""
        return next(c for c in self.columns if c.key == key)

    @property
    def example(self) -> dict[str, str]:
        """The template's example row (skipped when it comes back unchanged)."""
        return {c.key: c.example for c in self.columns}


YES, NO = "是", "否"
EXAMPLE_FIRST17 = "91330110MA2F1G5X8"
EXAMPLE_CREDIT_CODE = EXAMPLE_FIRST17 + credit_code_check_char(EXAMPLE_FIRST17)
UNIT_NOTE = N_(
    "The unit by its names from your area down, joined by /, as in 星河社区/3幢 (a name alone is "
    "enough where it is the only one of that name)"
)
PHONE_NOTE = N_("A mobile (11 digits, starting with 1) or a landline with its area code, as in 0571-88880001")

MEMBERS = RosterKind(
    Kind.MEMBERS,
    "党员",
    N_("Members"),
    (
        Column("name", "姓名", N_("The member's name"), True, ("党员姓名",), "张建国"),
        Column("phone", "手机", PHONE_NOTE, True, ("公开电话", "联系电话", "电话", "手机号"), "13912345678"),
        Column("unit", "所在单位", UNIT_NOTE, True, ("所在单元/楼栋", "所在单元", "单位"), "星河社区/3幢"),
        Column(
            "branch", "党支部", N_("The member's party branch"), True, ("所在党支部",), "星河社区第一党支部"
        ),
        Column(
            "capacity",
            "联系上限",
            N_("How many households and enterprises the member can serve (empty: the district's default)"),
            aliases=("联系户上限",),
            example="8",
        ),
    ),
    ("unit", "name", "phone"),
)
HOUSEHOLDS = RosterKind(
    Kind.HOUSEHOLDS,
    "住户",
    N_("Households"),
    (
        Column("unit", "楼栋", UNIT_NOTE, True, ("所在楼栋", "所在单元/楼栋", "所在单位"), "星河社区/3幢"),
        Column(
            "unit_no",
            "单元",
            N_("The stairwell unit (empty where there is none)"),
            aliases=("单元号",),
            example="1",
        ),
        Column("room", "室", N_("The room"), True, ("房号", "室号", "门牌号"), "101"),
        Column(
            "resident",
            "住户姓名",
            N_("One resident a row: rows with the same building, unit and room are one household"),
            aliases=("居民姓名", "姓名"),
            example="王小明",
        ),
        Column(
            "resident_phone",
            "住户手机",
            PHONE_NOTE,
            aliases=("居民手机", "手机", "联系电话"),
            example="13900000001",
        ),
        Column(
            "elderly",
            "独居老人",
            N_("是 or 否 (sensitive: only secretaries see it)"),
            example=NO,
            choices=(YES, NO),
        ),
        Column(
            "disability",
            "残疾",
            N_("是 or 否 (sensitive: only secretaries see it)"),
            example=NO,
            choices=(YES, NO),
        ),
        Column(
            "cadence",
            "走访周期（天）",
            N_("Days between visits, 1 to 366 (empty: 30)"),
            aliases=("走访周期", "走访周期(天)"),
            example="30",
        ),
    ),
    ("unit", "unit_no", "room"),
)
ENTERPRISES = RosterKind(
    Kind.ENTERPRISES,
    "企业",
    N_("Enterprises"),
    (
        Column("name", "企业名称", N_("The enterprise's registered name"), True, ("名称",), "杭州星河便利店"),
        Column(
            "credit_code",
            "统一社会信用代码",
            N_("18 characters; its last one is checked"),
            True,
            ("信用代码", "社会信用代码"),
            EXAMPLE_CREDIT_CODE,
        ),
        Column("unit", "所在单位", UNIT_NOTE, True, ("所在社区", "所在单元/楼栋"), "星河社区"),
        Column("address", "地址", N_("Where it is"), True, ("经营地址", "企业地址"), "星河路1号"),
        Column("contact_name", "联系人", N_("Its contact person"), True, ("联系人姓名",), "孙老板"),
        Column(
            "contact_phone", "联系电话", PHONE_NOTE, aliases=("联系人手机", "手机"), example="13900000002"
        ),
    ),
    ("credit_code",),
)
CARDS = RosterKind(
    Kind.CARDS,
    "服务卡",
    N_("Service cards"),
    (
        Column(
            "name", "党员姓名", N_("The card's member, as on the members' sheet"), True, ("姓名",), "张建国"
        ),
        Column("phone", "党员手机", PHONE_NOTE, True, ("手机", "公开电话"), "13912345678"),
        Column("unit", "党员所在单位", UNIT_NOTE, True, ("所在单位",), "星河社区/3幢"),
        Column(
            "households",
            "联系住户",
            N_("Its households by address, as in 3幢1单元101室, separated by 、"),
            aliases=("联系户",),
            example="3幢1单元101室、3幢1单元102室",
        ),
        Column(
            "enterprises",
            "联系企业",
            N_("Its enterprises by unified social credit code, separated by 、"),
            aliases=("联系企业信用代码",),
            example=EXAMPLE_CREDIT_CODE,
        ),
        Column(
            "matters",
            "服务事项",
            N_("What the member helps with, separated by 、: %(matters)s"),
            True,
            example="政策宣讲、维修协调",
        ),
        Column("note", "服务事项说明", N_("Anything beyond the list (optional)"), aliases=("备注",)),
    ),
    ("unit", "name", "phone"),
)
KINDS: dict[Kind, RosterKind] = {k.kind: k for k in (MEMBERS, HOUSEHOLDS, ENTERPRISES, CARDS)}
"""Every kind, in the order an import sends them."""
LIST_SEPARATORS = re.compile(r"[、,，;；\n]+")
SEPARATORS_OF_UNITS = re.compile(r"\s*[/／\\>＞]\s*")
ADDRESS = re.compile(
    r"^(?P<building>.+?)(?:(?P<unit_no>[0-9A-Za-z]+)单元)?(?P<room>[0-9A-Za-z][0-9A-Za-z-]*)室?$"
)
"""A household as a card names it: 3幢1单元101室, 3幢101室, 星河社区/3幢1单元101."""
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^(0\d{2,3})?[2-9]\d{6,7}$|^(400|800)\d{7}$|^9\d{4}$")
"""A landline (a local number starts with 2 to 9), a 400 or 800 number, a 95 service number."""


def kind_of(sheet_name: str, headers: list[str]) -> Kind | None:
    """The kind a sheet holds: by its name (党员, 住户 ...), else the one kind whose required
    columns its header row all names (the one naming most of its columns, if several do)."""
    for kind, roster in KINDS.items():
        if sheet_name.strip() == roster.sheet:
            return kind
    fits = {
        kind: len(keys)
        for kind, roster in KINDS.items()
        if missing_columns(roster, keys := column_keys(roster, headers)) == []
    }
    best = sorted(fits.items(), key=lambda fit: -fit[1])
    if not best or (len(best) > 1 and best[0][1] == best[1][1]):
        return None
    return best[0][0]


def missing_columns(roster: RosterKind, keys: dict[int, str]) -> list[Column]:
    """The required columns a sheet's header row does not name."""
    return [c for c in roster.columns if c.required and c.key not in keys.values()]


def column_keys(roster: RosterKind, headers: list[str]) -> dict[int, str]:
    """Which column of the sheet holds which key (by position); headers it does not know are left
    out (the answer sheet's 原因 and 原行号, a secretary's own notes)."""
    known = {header: column.key for column in roster.columns for header in column.headers}
    keys: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = known.get(header.strip())
        if key is not None and key not in keys.values():
            keys[index] = key
    return keys


def phone_digits(phone: str) -> str:
    """A phone number as the natural key compares it: digits only, without China's +86."""
    digits = re.sub(r"[\s\-()（）+]", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def is_phone(phone: str) -> bool:
    """Whether this is a Chinese mobile, landline (with or without its area code) or service number."""
    digits = phone_digits(phone)
    return (
        bool(MOBILE.match(digits) or LANDLINE.match(digits))
        and re.fullmatch(r"[0-9+\- ()]+", phone) is not None
    )


def listed(cell: str) -> list[str]:
    """The entries of a cell that lists several (、 , ; or one a line)."""
    return [entry.strip() for entry in LIST_SEPARATORS.split(cell) if entry.strip()]


def unit_names(cell: str) -> list[str]:
    """A unit's names from the top down, as a row writes them (南苑街道/星河社区/3幢)."""
    return [name for name in SEPARATORS_OF_UNITS.split(cell.strip()) if name]


def unit_number(cell: str) -> str:
    """A stairwell unit as the natural key compares it: 1, not 1单元."""
    return cell.strip().removesuffix("单元").strip()


def room_number(cell: str) -> str:
    """A room as the natural key compares it: 101, not 101室."""
    return cell.strip().removesuffix("室").strip()


@dataclass(frozen=True)
class Address:
    """A household as a card row names it: its building's names, its unit and its room."""

    building: list[str]
    unit_no: str
    room: str


def address_of(text: str) -> Address | None:
    """The parts of 3幢1单元101室 (or 星河社区/3幢101室), or None when it is not an address."""
    names = unit_names(text)
    if not names:
        return None
    found = ADDRESS.match(names[-1].replace(" ", ""))
    if found is None:
        return None
    return Address([*names[:-1], found["building"]], found["unit_no"] or "", found["room"])
