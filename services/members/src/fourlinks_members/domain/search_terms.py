"""What people type to find someone, and what a record is found by: the normalised terms of a
name, a phone, a room or a credit code, and the clauses a typed query asks for.

Pure and synchronous. The search projection turns each term of a record into a blind index (a
keyed digest: no term is stored as typed) and the search query digests the terms of a clause the
same way, so the two meet without the read model holding what was searched for.

What people type, and so what is indexed:
- a phone: its first digits (4 or more: 1391, 139123, the whole number), or its last 4 (5678);
  a landline also by its local number without the area code (8888 for 0571-88880001);
- a name: whole (王小明), any 2 characters of it (王小, 小明), or its pinyin initials (wxm, with
  the other readings of a character that has several: 单 → d, s, c);
- a household: its room (502), with its building and stairwell if typed (3幢502, 3-1-502);
- an enterprise: its name as a name is, or its unified social credit code.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from pypinyin import Style, lazy_pinyin, pinyin

MIN_PHONE_DIGITS = 4
"""The shortest start of a phone number a search looks up (fewer finds half the district)."""
LONGEST_START = 7
"""The longest start of a phone kept beside the whole number (a mobile's segment and area block):
a longer start is looked up by its first 7 digits, then checked against the number itself (about
a tenth of the index's rows saved; those 7 digits leave a few people in a district to check)."""
SUFFIX_DIGITS = 4
"""A phone's last digits people read out ("尾号 5678")."""
MOST_READINGS = 8
"""The most pinyin-initial spellings kept of one name (a few characters have several readings)."""
MOST_PARTS = 8
"""The most 2-character parts a query asks for at once."""
SEPARATORS = frozenset("-()+·・.,，、/#")
"""What people put between the parts of a number or a name, and what a search ignores."""
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
CREDIT_CODE = re.compile(r"^[0-9a-hj-np-rtuw-y]{18}$")
INITIALS = re.compile(r"^[a-z]{2,12}$")
PLACE = re.compile(
    r"^(?P<building>\d{1,3})(?:幢|栋|号楼|号|#|-|/)"
    r"(?:(?P<unit_no>\d{1,2})(?:单元|-|/))?"
    r"(?P<room>\d{2,5})室?$"
)
ROOM = re.compile(r"^(?P<room>\d{2,5})室?$")
LANDLINE = re.compile(r"^\(?0\d{2,3}\)?[-\s)]+(?P<local>\d{7,8})$")


class Facet(StrEnum):
    """Which part of a record a term comes from (the digest's purpose, so parts never mix)."""

    PHONE_PREFIX = "phone-prefix"
    PHONE_SUFFIX = "phone-suffix"
    NAME = "name"
    NAME_PART = "name-part"
    INITIALS = "initials"
    CREDIT_CODE = "credit-code"
    ROOM = "room"


@dataclass(frozen=True, order=True)
class Term:
    """One normalised thing a record is found by."""

    facet: Facet
    value: str

    @property
    def purpose(self) -> str:
        """The blind index's purpose for this term."""
        return f"search:{self.facet.value}"


@dataclass(frozen=True)
class Clause:
    """What one way of reading a query asks: a record with every one of its terms; for a household
    the building (its number) and stairwell typed with the room; for a start of a phone longer
    than the index keeps, the digits its phone must start with."""

    terms: frozenset[Term]
    building: str | None = None
    unit_no: str | None = None
    phone_start: str | None = None


def compact(text: str) -> str:
    """Full-width folded to half-width (NFKC), lower case, without spaces."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if not ch.isspace())


def normalised(text: str) -> str:
    """The form a term is kept in: `compact`, without the separators people type."""
    return "".join(ch for ch in compact(text) if ch not in SEPARATORS)


def phone_digits(phone: str) -> str:
    """A phone's digits, without China's country code before a mobile number."""
    digits = "".join(ch for ch in normalised(phone) if ch.isdigit())
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def phone_terms(phone: str | None) -> set[Term]:
    """Every start of 4 digits or more and the last 4 digits; a landline's local number too."""
    digits = phone_digits(phone or "")
    if len(digits) < MIN_PHONE_DIGITS:
        return set()
    terms = _prefixes(digits) | {Term(Facet.PHONE_SUFFIX, digits[-SUFFIX_DIGITS:])}
    landline = LANDLINE.match(compact(phone or "").replace("(", "").replace(")", "-"))
    if landline:
        terms |= _prefixes(landline["local"])
    return terms


def _prefixes(digits: str) -> set[Term]:
    longest = min(len(digits), LONGEST_START)
    starts = {Term(Facet.PHONE_PREFIX, digits[:n]) for n in range(MIN_PHONE_DIGITS, longest + 1)}
    return starts | {Term(Facet.PHONE_PREFIX, digits)}


def starts_with(phone: str | None, digits: str) -> bool:
    """Whether a phone (or a landline's local number) starts with these digits."""
    whole = phone_digits(phone or "")
    landline = LANDLINE.match(compact(phone or "").replace("(", "").replace(")", "-"))
    return whole.startswith(digits) or bool(landline and landline["local"].startswith(digits))


def name_terms(name: str | None) -> set[Term]:
    """The whole name, each 2 characters of its Chinese, and its pinyin initials."""
    form = normalised(name or "")
    if not form:
        return set()
    terms = {Term(Facet.NAME, form)} | {Term(Facet.NAME_PART, part) for part in han_parts(form)}
    if HAN.fullmatch(form):
        terms |= {Term(Facet.INITIALS, spelling) for spelling in initials(form)}
    return terms


def han_parts(text: str) -> list[str]:
    """Each 2 adjacent Chinese characters, in order, once (a run of one character has none)."""
    parts = [run[i : i + 2] for run in HAN.findall(text) for i in range(len(run) - 1)]
    return list(dict.fromkeys(parts))


def initials(han: str) -> list[str]:
    """The pinyin initials of Chinese characters: the reading in context first, then the other
    readings of characters with several (as many as `MOST_READINGS` allows)."""
    readings = pinyin(han, style=Style.FIRST_LETTER, heteronym=True)  # each: the usual reading first
    spellings = ["".join(r[0] for r in readings if r)]
    count = 1
    for each in readings:
        count *= max(len(each), 1)
    if count > MOST_READINGS:  # a long name: its reading in context only (a phrase may read otherwise)
        spellings = ["".join(lazy_pinyin(han, style=Style.FIRST_LETTER))]
    elif count > 1:
        spellings += ["".join(letters) for letters in itertools.product(*readings)]
    return [s for s in dict.fromkeys(spellings) if INITIALS.match(s)]


def room_terms(room: str | None) -> set[Term]:
    """A household's room number."""
    form = normalised(room or "")
    return {Term(Facet.ROOM, form)} if form else set()


def credit_code_terms(code: str | None) -> set[Term]:
    """An enterprise's unified social credit code."""
    form = normalised(code or "")
    return {Term(Facet.CREDIT_CODE, form)} if form else set()


def clauses(query: str) -> list[Clause]:
    """The ways a typed query may be meant, the most exact first; none for less than 2 characters."""
    typed, form = compact(query), normalised(query)
    if len(form) < 2:
        return []
    if CREDIT_CODE.match(form):
        return [_one(Facet.CREDIT_CODE, form)]
    found = _place(typed)
    if not found or form.isdigit():  # 3-502 may be a building and room, or the start of a phone
        found += _numbers(typed, form) if form.isdigit() or ROOM.match(typed) else []
    if found:
        return found
    if INITIALS.match(form):
        return [_one(Facet.INITIALS, form), _one(Facet.NAME, form)]
    found = [_one(Facet.NAME, form)]
    parts = han_parts(form)[:MOST_PARTS]
    if parts:
        found.append(Clause(frozenset(Term(Facet.NAME_PART, part) for part in parts)))
    return found


def _place(typed: str) -> list[Clause]:
    """A room with its building (and stairwell): 3幢502, 3-1-502."""
    place = PLACE.match(typed)
    if place is None:
        return []
    room = Term(Facet.ROOM, place["room"])
    return [Clause(frozenset({room}), building=place["building"], unit_no=place["unit_no"])]


def _numbers(typed: str, form: str) -> list[Clause]:
    """Digits: the start of a phone, its last 4, or a room (5 digits at most)."""
    digits = phone_digits(form) if form.isdigit() else form
    found: list[Clause] = []
    if digits.isdigit() and len(digits) >= MIN_PHONE_DIGITS:
        found.append(_one(Facet.PHONE_PREFIX, digits))  # a start the index keeps, or a whole number
        if len(digits) > LONGEST_START:
            kept = Term(Facet.PHONE_PREFIX, digits[:LONGEST_START])
            found.append(Clause(frozenset({kept}), phone_start=digits))
        if len(digits) == SUFFIX_DIGITS:
            found.append(_one(Facet.PHONE_SUFFIX, digits))
    room = ROOM.match(typed)
    if room:
        found.append(_one(Facet.ROOM, room["room"]))
    return found


def _one(facet: Facet, value: str) -> Clause:
    return Clause(frozenset({Term(facet, value)}))
