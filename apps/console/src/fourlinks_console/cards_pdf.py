"""Four Links service cards on paper (党员"四联"服务卡): a PDF of an A4 sheet of eight cards to cut,
or of door stickers (one A6 page each). Each household's or enterprise's copy names its member, the
member's public phone and party organisation, the place it is for, the service matters, the card's
revision and date, and the QR code of its doorway link; the member's own copy (first) states the
whole contact scope and carries no QR code (it opens no household's doorway).

Chinese by default, in the reader's words otherwise (the console's catalogue). The CJK font is
embedded as a subset (fpdf2 subsets TrueType collections with fontTools); the QR codes (segno) are
drawn as vector rectangles, so they stay sharp at any printer's resolution."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF

from fourlinks_console.i18n import Language
from fourlinks_contracts.service_matters import matter_label

FONTS = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),  # the collection's SC face
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
)
"""Debian's CJK fonts, the first installed is used: fonts-noto-cjk, else fonts-wqy-zenhei."""
FAMILY = "cjk"
# fontTools says it drops the font's bitmap strikes (EBDT) from each subset: outlines are what print.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
MARGIN_MM = 10.0
"""What every printer prints within: nothing is drawn closer to the paper's edge."""


class Layout(StrEnum):
    """How the cards are laid out on paper."""

    SHEET = "sheet"  # A4, eight cards of 95 x 65 mm to cut along the dashed lines
    STICKER = "sticker"  # one A6 door sticker a page


@dataclass(frozen=True)
class Copy:
    """One printed copy of a card: for its member, or for one household or enterprise."""

    member_name: str
    public_phone: str
    party_branch: str
    units: str
    place: str
    matters: str
    revision: str
    link: str | None


class NoCjkFont(RuntimeError):
    """No CJK font is installed to print with."""


def copies_of(
    cards: Iterable[dict[str, Any]], *, console_url: str, words: Language, zone: ZoneInfo
) -> list[Copy]:
    """Every copy of these cards (as the members service's `/cards/print` answers them): each
    card's member copy first, then one per household and enterprise, with its doorway link."""
    made: list[Copy] = []
    base = console_url.rstrip("/")
    for card in cards:
        made.append(_copy(card, _scope_words(card, words), None, words=words, zone=zone))
        made += [
            _copy(card, _place_words(c["place"], words), f"{base}/d/{c['link']}", words=words, zone=zone)
            for c in card["contacts"]
        ]
    return made


def _copy(card: dict[str, Any], place: str, link: str | None, *, words: Language, zone: ZoneInfo) -> Copy:
    since = card["since"]
    moment = datetime.fromisoformat(since) if isinstance(since, str) else since
    language = "en" if words.locale == "en" else "zh"
    return Copy(
        member_name=card["member_name"] or words.gettext("(erased)"),
        public_phone=card["public_phone"] or "",
        party_branch=card["party_branch"],
        units=card["units"][0] if card["units"] else "",  # the community; the place says the rest
        place=place,
        matters="、".join(matter_label(code, language) for code in card["service_matters"]),
        revision=words.gettext("Revision %(revision)s · %(date)s")
        % {"revision": card["revision"], "date": moment.astimezone(zone).date().isoformat()},
        link=link,
    )


def _place_words(place: dict[str, Any], words: Language) -> str:
    """A household's building, stairwell and room, or an enterprise's name and address."""
    units = " ".join(place["units"][1:])  # the community is on the card's unit line
    if place.get("room"):
        room = words.gettext("Stairwell %(unit)s, room %(room)s") % {
            "unit": place["unit_no"],
            "room": place["room"],
        }
        return f"{units} {room}".strip()
    return f"{place['name']} {place['address']}".strip()


def _scope_words(card: dict[str, Any], words: Language) -> str:
    """The member's whole contact scope: the buildings, how many households and enterprises."""
    scope = card["scope"]
    said = []
    if scope["households"]:
        homes = words.gettext("%(count)s households") % {"count": scope["households"]}
        said.append(f"{'、'.join(scope['buildings'])} {homes}")
    if scope["enterprises"]:
        said.append(words.gettext("%(count)s enterprises") % {"count": scope["enterprises"]})
    return "；".join(said) or words.gettext("No contacts yet")


def font_file() -> tuple[Path, int]:
    """The first installed CJK font, and its face in the collection."""
    for path, face in FONTS:
        if path.exists():
            return path, face
    raise NoCjkFont(
        "no CJK font to print service cards with: install Debian's fonts-noto-cjk or fonts-wqy-zenhei"
    )


def render(copies: Sequence[Copy], *, layout: Layout, words: Language) -> bytes:
    """The PDF of these copies in this layout."""
    pdf = _document(layout)
    if layout == Layout.SHEET:
        _sheets(pdf, copies, words)
    else:
        for copy in copies:
            pdf.add_page()
            _sticker(pdf, copy, words)
    if not copies:
        pdf.add_page()
    return bytes(pdf.output())


def with_cjk_font(pdf: FPDF) -> None:
    """Embed the installed CJK font in a document as `FAMILY` (a subset: what it prints). Every
    PDF the console makes prints with it: the cards, the monthly report."""
    path, face = font_file()
    pdf.add_font(FAMILY, fname=str(path), collection_font_number=face)


def _document(layout: Layout) -> FPDF:
    pdf = FPDF(unit="mm", format="A4" if layout == Layout.SHEET else (105, 148))  # A6
    with_cjk_font(pdf)
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN_MM, MARGIN_MM)
    pdf.set_title("党员“四联”服务卡")
    pdf.set_creator("Four Links")
    return pdf


# -- the A4 sheet: 2 x 4 cards of 95 x 65 mm, centred, cut along dashed lines -------------------
CARD_W, CARD_H = 95.0, 65.0
COLUMNS, ROWS = 2, 4
PER_SHEET = COLUMNS * ROWS


def _sheets(pdf: FPDF, copies: Sequence[Copy], words: Language) -> None:
    left = (210 - COLUMNS * CARD_W) / 2
    top = (297 - ROWS * CARD_H) / 2
    for start in range(0, len(copies), PER_SHEET):
        pdf.add_page()
        _cut_lines(pdf, left, top)
        for n, copy in enumerate(copies[start : start + PER_SHEET]):
            row, column = divmod(n, COLUMNS)
            _card(pdf, copy, words, x=left + column * CARD_W, y=top + row * CARD_H)


def _cut_lines(pdf: FPDF, left: float, top: float) -> None:
    pdf.set_draw_color(170)
    pdf.set_line_width(0.2)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=1.5, gap=1.5)
        for column in range(COLUMNS + 1):
            x = left + column * CARD_W
            pdf.line(x, top, x, top + ROWS * CARD_H)
        for row in range(ROWS + 1):
            y = top + row * CARD_H
            pdf.line(left, y, left + COLUMNS * CARD_W, y)


def _card(pdf: FPDF, copy: Copy, words: Language, *, x: float, y: float) -> None:
    """One card: a red title band, the member and phone large, the rest small, the QR code right."""
    pad, qr = 4.0, 30.0
    pdf.set_fill_color(196, 30, 58)
    pdf.rect(x + 2, y + 2, CARD_W - 4, 9, style="F")
    pdf.set_text_color(255)
    _text(
        pdf,
        words.gettext("Party member Four Links service card"),
        x=x + pad,
        y=y + 3.2,
        width=CARD_W - 2 * pad,
        size=12,
    )
    pdf.set_text_color(0)
    text_w = CARD_W - 2 * pad - (qr + 2 if copy.link else 0)
    line = y + 14
    _text(pdf, copy.member_name, x=x + pad, y=line, width=text_w, size=15)
    _text(pdf, copy.public_phone, x=x + pad, y=line + 7, width=text_w, size=13)
    rows = [
        (words.gettext("Party organisation"), copy.party_branch),
        (words.gettext("Contact scope"), f"{copy.units} {copy.place}".strip()),
        (words.gettext("Service matters"), copy.matters),
    ]
    below = line + 14
    for label, value in rows:
        below = _field(pdf, label, value, x=x + pad, y=below, width=text_w, lines=2)
    pdf.set_text_color(110)
    _text(pdf, copy.revision, x=x + pad, y=y + CARD_H - 7, width=text_w, size=7)
    pdf.set_text_color(0)
    if copy.link:
        _qr(pdf, copy.link, x + CARD_W - pad - qr, y + 15, qr)
        pdf.set_font(FAMILY, size=6.5)
        hint = words.gettext("Scan to reach your member or report a problem")
        _text(pdf, hint, x=x + CARD_W - pad - qr, y=y + 15 + qr + 1, width=qr, size=6.5)


# -- the door sticker: A6 portrait, the member and the QR code large ----------------------------
def _sticker(pdf: FPDF, copy: Copy, words: Language) -> None:
    width = 105 - 2 * MARGIN_MM
    pdf.set_fill_color(196, 30, 58)
    pdf.rect(MARGIN_MM, MARGIN_MM, width, 12, style="F")
    pdf.set_text_color(255)
    _text(
        pdf,
        words.gettext("Party member Four Links service card"),
        x=MARGIN_MM + 3,
        y=MARGIN_MM + 3,
        width=width - 6,
        size=15,
    )
    pdf.set_text_color(0)
    _text(pdf, copy.member_name, x=MARGIN_MM, y=27, width=width, size=22)
    _text(pdf, copy.public_phone, x=MARGIN_MM, y=37, width=width, size=18)
    below = 47.0
    for label, value in (
        (words.gettext("Party organisation"), copy.party_branch),
        (words.gettext("Contact scope"), f"{copy.units} {copy.place}".strip()),
        (words.gettext("Service matters"), copy.matters),
    ):
        below = _field(pdf, label, value, x=MARGIN_MM, y=below, width=width, lines=2, size=9)
    if copy.link:
        size = min(50.0, 148 - MARGIN_MM - below - 14)
        _qr(pdf, copy.link, (105 - size) / 2, below + 1, size)
        hint = words.gettext("Scan to reach your member or report a problem")
        _text(pdf, hint, x=MARGIN_MM, y=below + size + 2, width=width, size=9, centred=True)
    pdf.set_text_color(110)
    _text(pdf, copy.revision, x=MARGIN_MM, y=148 - MARGIN_MM - 4, width=width, size=8)
    pdf.set_text_color(0)


# -- drawing --------------------------------------------------------------------------------
def _field(
    pdf: FPDF, label: str, value: str, *, x: float, y: float, width: float, lines: int, size: float = 7.5
) -> float:
    """A label and its value in up to `lines` lines (cut with … past them); where the next starts."""
    height = size * 0.42
    pdf.set_text_color(110)
    _text(pdf, label, x=x, y=y, width=width, size=size * 0.9)
    pdf.set_text_color(0)
    pdf.set_font(FAMILY, size=size)
    for n, part in enumerate(_wrapped(pdf, value, width, lines)):
        pdf.set_xy(x, y + height + n * height)
        pdf.cell(width, height, part)
    return y + height * (1 + max(1, len(_wrapped(pdf, value, width, lines)))) + 1


def _wrapped(pdf: FPDF, text: str, width: float, lines: int) -> list[str]:
    """The text broken into lines that fit the width, character by character (Chinese has no
    spaces to break at); the last line cut with … when more is left."""
    found, current, used = [], "", 0.0
    for char in text:
        wide = _char_width(pdf, char)
        if used + wide > width and current:
            found.append(current)
            current, used = char.lstrip(), (wide if char.strip() else 0.0)
        else:
            current, used = current + char, used + wide
    found.append(current)
    if len(found) > lines:
        last = found[lines - 1]
        while last and _width_of(pdf, last + "…") > width:
            last = last[:-1]
        found = [*found[: lines - 1], last + "…"]
    return found


def _text(
    pdf: FPDF, text: str, *, x: float, y: float, width: float, size: float, centred: bool = False
) -> None:
    """One line, shrunk until it fits the width."""
    while size > 5 and _width_at(pdf, text, size) > width:
        size -= 0.5
    pdf.set_font(FAMILY, size=size)
    pdf.set_xy(x, y)
    pdf.cell(width, size * 0.4, _wrapped(pdf, text, width, 1)[0], align="C" if centred else "L")


def _width_at(pdf: FPDF, text: str, size: float) -> float:
    pdf.set_font(FAMILY, size=size)
    return _width_of(pdf, text)


def _width_of(pdf: FPDF, text: str) -> float:
    return sum(_char_width(pdf, char) for char in text)


_WIDTHS: dict[str, float] = {}
"""Characters' widths at 1 pt by character (fpdf2 measures a string in ~60 µs: a page of cards
measures thousands), the font being the one CJK font of the process."""


def _char_width(pdf: FPDF, char: str) -> float:
    """A character's width at the current font size (measured once per character)."""
    if char not in _WIDTHS:
        size = pdf.font_size_pt
        pdf.set_font(FAMILY, size=1)
        _WIDTHS[char] = float(pdf.get_string_width(char))
        pdf.set_font(FAMILY, size=size)
    return _WIDTHS[char] * pdf.font_size_pt


def _qr(pdf: FPDF, link: str, x: float, y: float, size: float) -> None:
    """The link's QR code (error correction M) as filled rectangles, one per run of dark modules,
    inside a quiet zone of four modules that the size includes."""
    code = segno.make(link, error="m", micro=False)
    matrix = [list(row) for row in code.matrix]
    module = size / (len(matrix) + 8)
    pdf.set_fill_color(0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + (4 + start) * module, y + (4 + r) * module, (c - start) * module, module, style="F")
