"""Every word a page shows has its Chinese translation, and English ids that are identifiers read
as English; placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from fourlinks_console.i18n import Language, catalogue

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fourlinks_console"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted() -> set[str]:
    found = extract_from_dir(
        str(PACKAGE),
        method_map=METHODS,
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={"_": None, "N_": None, "gettext": None},
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_message_on_every_page_has_a_chinese_translation_with_its_placeholders() -> None:
    words = catalogue("zh_CN")
    messages = extracted()
    assert len(messages) > 150
    missing = sorted(m for m in messages if not words.get(m))
    assert not missing, f"untranslated (add them to locale/zh_CN/LC_MESSAGES/messages.po): {missing}"
    for message in messages:
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(words[message])), message


def test_identifiers_read_as_english_words_in_english() -> None:
    english = Language.of("en", "Asia/Shanghai")
    assert english.gettext("in_progress") == "In progress"
    assert english.gettext("TaskClosed") == "Task closed"
    assert english.gettext("Coverage") == "Coverage"


def test_dates_and_rates_follow_the_locale_in_the_district_time_zone() -> None:
    chinese = Language.of("zh_CN", "Asia/Shanghai")
    english = Language.of("en", "Asia/Shanghai")
    assert chinese.when("2026-11-30T16:00:00Z") == "2026年12月1日 00:00:00"
    assert english.when("2026-11-30T16:00:00Z").startswith("Dec 1, 2026")
    assert chinese.percent(0.9567) == "95.7%"
    assert chinese.percent(None) == "—"
    assert english.number(30000) == "30,000"
    assert Language.of("fr", "Asia/Shanghai").locale == "zh_CN"


def test_the_english_catalogue_only_spells_out_identifiers() -> None:
    """English pages show the ids themselves; only snake_case or CamelCase ids get words."""
    identifier = re.compile(r"^[a-z_]+$|^[a-z]+ [a-z]+$|^(?:[A-Z][a-z]+){2,}$")
    odd = [m for m in catalogue("en") if not identifier.match(m)]
    assert not odd, odd
