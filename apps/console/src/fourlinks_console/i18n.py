"""Chinese first, English as a choice: Babel message catalogues, and dates and numbers formatted
per locale in the district's time zone.

Templates and code write English message ids; `locale/zh_CN/LC_MESSAGES/messages.po` translates
every one (a test extracts them all and checks). English is the ids themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LOCALES = ("zh_CN", "en")
CATALOGUES = Path(__file__).parent / "locale"


@cache
def catalogue(locale: str) -> dict[str, str]:
    """msgid → translation of one locale (empty for English: the ids are English)."""
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as source:
        parsed = read_po(source, locale=locale)
    return {str(m.id): str(m.string) for m in parsed if m.id and isinstance(m.id, str) and m.string}


@dataclass(frozen=True)
class Language:
    """One locale's words and formats, in one time zone."""

    locale: str
    timezone: str
    _words: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, locale: str, timezone: str) -> Language:
        """The language for a locale code (zh_CN unless it is one we have)."""
        chosen = locale if locale in LOCALES else LOCALES[0]
        return cls(chosen, timezone, catalogue(chosen))

    @property
    def html_lang(self) -> str:
        """The `lang` attribute of pages in this locale."""
        return Locale.parse(self.locale).language + ("-CN" if self.locale == "zh_CN" else "")

    def gettext(self, message: str) -> str:
        """The translation of a message id (the id itself when untranslated)."""
        return self._words.get(message, message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """Chinese has one form; English picks by count."""
        return self.gettext(singular if count == 1 else plural)

    def when(self, value: datetime | str | None) -> str:
        """A moment in the district's time zone, in the locale's medium format."""
        moment = _moment(value)
        if moment is None:
            return "—"
        return format_datetime(moment, "medium", tzinfo=ZoneInfo(self.timezone), locale=self.locale)

    def short(self, value: datetime | str | None) -> str:
        """A moment short, in the district's time zone: 12月22日 16:23 (with the year when it is
        not this year's) — a deadline in a sentence."""
        moment = _moment(value)
        if moment is None:
            return "—"
        zone = ZoneInfo(self.timezone)
        day = "MMMd" if moment.astimezone(zone).year == datetime.now(zone).year else "yMMMd"
        shown = (format_skeleton(pattern, moment, tzinfo=zone, locale=self.locale) for pattern in (day, "Hm"))
        return " ".join(shown)

    def day(self, value: date | datetime | str | None) -> str:
        """A calendar day in the locale's format."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return format_date(value, "medium", locale=self.locale)

    def percent(self, value: float | None) -> str:
        """A rate as a percentage (one decimal), or a dash when there is nothing to rate."""
        if value is None:
            return "—"
        return format_percent(value, "#,##0.0%", locale=self.locale)

    def number(self, value: float | None) -> str:
        """A count or figure with the locale's grouping."""
        if value is None:
            return "—"
        return format_decimal(value, locale=self.locale)


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value
