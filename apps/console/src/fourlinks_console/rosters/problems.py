"""Why a row (or a sheet, or a file) is refused: an error code and its parameters, said in the
reader's language. The import's own codes have their sentences here; a refusal of the members
service keeps its code and is said as every page says it (`refusals.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fourlinks_console.i18n import Language
from fourlinks_console.names import N_
from fourlinks_console.refusals import sentence
from fourlinks_console.services import ServiceRefused

SENTENCES: dict[str, str] = {
    "file_unreadable": N_(
        "This file cannot be read: save it as an Excel workbook (.xlsx) or as CSV, and try again."
    ),
    "file_empty": N_("This file holds no rows to import."),
    "file_missing": N_("Choose the file to check."),
    "too_many_rows": N_("This file holds more than %(limit)s rows: split it into several files."),
    "sheet_unknown": N_(
        "The sheet %(sheet)s is not a roster: its header row does not name the columns of any template."
    ),
    "columns_missing": N_("The sheet %(sheet)s lacks the columns %(columns)s."),
    "required": N_("%(column)s is empty."),
    "too_long": N_("%(column)s is too long: at most %(limit)s characters."),
    "phone_malformed": N_(
        "%(column)s %(phone)s is not a phone number: a mobile has 11 digits starting with 1, a landline "
        "is written like 0571-88880001."
    ),
    "number_malformed": N_("%(column)s must be a whole number from %(low)s to %(high)s."),
    "yes_or_no": N_("%(column)s takes 是 or 否."),
    "unit_unknown": N_("There is no unit %(unit)s in your area (%(scope)s)."),
    "unit_ambiguous": N_("%(count)s units are called %(unit)s: add the unit above it, as in %(example)s."),
    "unit_outside": N_("%(unit)s is outside your area (%(scope)s)."),
    "unit_wrong_level": N_("%(unit)s is a %(level)s: this column needs a %(needed)s."),
    "repeated": N_("The same %(key)s as row %(row)s: one record, one row."),
    "resident_repeated": N_("The same resident as row %(row)s of this household."),
    "household_refused": N_("Row %(rows)s of this household is refused, so the household is not imported."),
    "cadence_differs": N_("The household's visit cadence differs from row %(row)s."),
    "too_many_residents": N_("A household holds at most %(limit)s residents."),
    "phone_without_name": N_("A resident's phone needs the resident's name."),
    "member_unknown": N_("The card's member is neither registered nor on the members' sheet."),
    "member_refused": N_(
        "The card's member is refused (sheet %(sheet)s, row %(row)s), so the card is not imported."
    ),
    "address_malformed": N_("%(address)s is not an address like 3幢1单元101室."),
    "household_unknown": N_("There is no household %(address)s, registered or on the households' sheet."),
    "household_refused_for_card": N_(
        "The household %(address)s is refused on its sheet, so the card is not imported."
    ),
    "enterprise_unknown": N_(
        "No enterprise has the credit code %(code)s, registered or on the enterprises' sheet."
    ),
    "enterprise_refused_for_card": N_(
        "The enterprise %(code)s is refused on its sheet, so the card is not imported."
    ),
    "matters_unknown": N_("Not a service matter: %(matters)s. Choose from: %(choices)s."),
    "contact_covered": N_("%(contact)s is already on another member's card: revise that card first."),
    "contact_on_two_cards": N_("%(contact)s is on the card of row %(row)s too."),
    "contact_elsewhere": N_("%(contact)s is not in the member's community %(community)s."),
    "card_over_capacity": N_(
        "The card would hold %(size)s households and enterprises, more than the member's limit of "
        "%(capacity)s."
    ),
    "imported_otherwise": N_(
        "This row was imported before with other details: change that record on its own page."
    ),
    "not_sent": N_("Not imported: the import stopped before this row. Run it again to continue."),
}
"""The import's own codes and their sentences."""


@dataclass(frozen=True)
class Problem:
    """Why something is refused: a code, its parameters (what the sentence is filled with), the
    HTTP status a service answered (422 for the import's own) and its English message."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    status: int = 422
    message: str = ""

    @classmethod
    def of(cls, refused: ServiceRefused) -> Problem:
        """A service's refusal, kept by its code and parameters."""
        return cls(refused.code, dict(refused.params), refused.status, refused.message)

    def said(self, language: Language) -> str:
        """The sentence a person reads, in their language."""
        template = SENTENCES.get(self.code)
        if template is None:
            return sentence(self, language)
        values = {name: _shown(value, language) for name, value in self.params.items()}
        return language.gettext(template) % values


def _shown(value: Any, language: Language) -> str:
    if isinstance(value, list | tuple):
        return language.gettext(N_(", ")).join(_shown(v, language) for v in value)
    return language.gettext(value) if isinstance(value, str) and value in WORDS else str(value)


WORDS = frozenset(
    {"district", "street", "town", "community", "village", "grid", "natural_village", "building"}
)
"""Parameters that are words of the domain (a unit's level): said in the reader's language."""


class RosterRefused(Exception):
    """A file (not a row) that cannot be imported: unreadable, empty, too large."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem
