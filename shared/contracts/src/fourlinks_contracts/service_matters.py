"""The catalogue of service matters (服务事项): what a service card says its member helps with, and
the category a resident, a member or a secretary picks for a problem.

Codes are stable and never change (events hold them); labels may be reworded. Events keep the
category as text, and old events hold free text: wherever a category is shown to people, it is
shown by its label, and text that is not a code reads as "other" (其他), never as itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field


@dataclass(frozen=True)
class ServiceMatter:
    """One matter of the catalogue: its code and its labels in Chinese and in English."""

    code: str
    zh: str
    en: str

    def label(self, language: str = "zh") -> str:
        """The label in a language: "en" (or an English locale) for English, else Chinese."""
        return self.en if language.lower().startswith("en") else self.zh


OTHER = "other"
SERVICE_MATTERS: dict[str, ServiceMatter] = {
    matter.code: matter
    for matter in (
        ServiceMatter("policy_explanation", "政策宣讲", "policy explanation"),
        ServiceMatter("dispute_mediation", "矛盾调解", "dispute mediation"),
        ServiceMatter("repairs", "维修协调", "repairs"),
        ServiceMatter("elderly_care", "为老服务", "elderly care"),
        ServiceMatter("enterprise_services", "助企服务", "enterprise services"),
        ServiceMatter("environment", "环境整治", "environment and sanitation"),
        ServiceMatter("safety", "安全隐患", "safety hazards"),
        ServiceMatter("employment", "就业帮扶", "employment help"),
        ServiceMatter("health", "健康服务", "health services"),
        ServiceMatter(OTHER, "其他", "other"),
    )
}
"""Every matter by its code, in the order a list or a choice shows them."""


def matter_code(category: str) -> str:
    """The code a stored category stands for: itself when it is a code, else "other"."""
    return category if category in SERVICE_MATTERS else OTHER


def matter_label(category: str, language: str = "zh") -> str:
    """The label of a stored category in a language ("zh" or "en"); text that is not a code
    (old free text read from the log) reads as the label of "other", never as itself."""
    return SERVICE_MATTERS[matter_code(category)].label(language)


def matters_named(words: str) -> tuple[str, ...]:
    """The codes whose label, Chinese or English, holds these words (维修 → repairs): what a search
    by words finds a category by."""
    wanted = " ".join(words.lower().split())
    if not wanted:
        return ()
    return tuple(m.code for m in SERVICE_MATTERS.values() if wanted in m.zh or wanted in m.en.lower())


def checked_matter(value: str) -> str:
    """A code of the catalogue, or a ValueError that lists the codes to choose from."""
    if value not in SERVICE_MATTERS:
        raise ValueError(f"not a service matter; choose one of the codes of GET /service-matters: {CHOICES}")
    return value


CHOICES = ", ".join(SERVICE_MATTERS)
MatterCode = Annotated[
    str,
    AfterValidator(checked_matter),
    Field(description="a code from GET /service-matters", json_schema_extra={"enum": list(SERVICE_MATTERS)}),
]
"""A category as a request names it: a code of the catalogue (anything else is a 422)."""
