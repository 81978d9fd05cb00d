"""What a district sends upward to its city and province: figures per community and month (counts,
never events, never a rate), and its latest signed checkpoint — and the one rule every rate is
computed by, in a district's services and at the province alike.

A district publishes into its stream FOURLINKS_UPLINK, one subject per community, month and kind
(`uplink.figures.<kind>.<month>.<unit>`, the unit path's "/" written "~"), keeping only the latest
statement per subject: figures are restated, not appended. The province sources those streams
into its own, each district's subjects under its code (`330110.uplink.>`), the code taken from the
province's own configuration, never from what a district says."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

VERSION: Literal[1] = 1
STREAM = "FOURLINKS_UPLINK"
"""The district's stream of what may leave it (in its own NATS account, UPLINK)."""
PROVINCE_STREAM = "FOURLINKS_PROVINCE"
"""The province's stream: every district's FOURLINKS_UPLINK, sourced under the district's code."""
PREFIX = "uplink"
CHECKPOINT_SUBJECT = f"{PREFIX}.checkpoint"

FigureKind = Literal["tasks", "feedback", "categories", "coverage"]
KINDS: tuple[FigureKind, ...] = ("tasks", "feedback", "categories", "coverage")
COUNTS: dict[str, tuple[str, ...]] = {
    "tasks": (
        "tasks",
        "closed",
        "due",
        "extended",
        "closed_on_time",
        "worked",
        "resolved_at_level",
        "rework_count",
    ),
    "feedback": ("feedback", "responded", "callbacks_answered", "resolved", "satisfied", "not_reached"),
    "coverage": (
        "households",
        "households_covered",
        "enterprises",
        "enterprises_covered",
        "uncovered",
        "members_active",
        "members_over_capacity",
    ),
}
"""The counts each kind of figures carries (categories: a count per service-matter code)."""

DISTRICT_CODE = re.compile(r"^[1-9]\d{5}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-~]+$")


# -- the rates: one rule, wherever a rate is computed -------------------------------------------------
def rate(part: int, whole: int) -> float | None:
    """part / whole to four decimals, or None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class RateRule:
    """A rate as counts: the sum of `numerator` over the sum of `denominator` less the sum of
    `less`; `sample` is the count a group needs enough of to be ranked by it."""

    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    sample: str
    less: tuple[str, ...] = ()

    def whole(self, counts: Mapping[str, int]) -> int:
        """What the rate divides by."""
        return sum(counts[name] for name in self.denominator) - sum(counts[name] for name in self.less)

    def of(self, counts: Mapping[str, int]) -> float | None:
        """The rate of these counts (None: nothing to divide by)."""
        return rate(sum(counts[name] for name in self.numerator), self.whole(counts))


RATES: dict[str, RateRule] = {
    "closure_rate": RateRule(("closed",), ("tasks",), sample="tasks"),
    # Tasks whose deadline was extended on approval leave the denominator.
    "on_time_closure_rate": RateRule(("closed_on_time",), ("due",), sample="tasks", less=("extended",)),
    # Of the tasks worked (not withdrawn nor duplicates), those closed without escalation.
    "resolved_at_level_rate": RateRule(("resolved_at_level",), ("worked",), sample="tasks"),
    "response_rate": RateRule(("responded",), ("feedback",), sample="feedback"),
    # A call-back nobody answered is in neither numerator nor denominator.
    "resolution_rate": RateRule(("resolved",), ("callbacks_answered",), sample="callbacks_answered"),
    "satisfaction_rate": RateRule(("satisfied",), ("callbacks_answered",), sample="callbacks_answered"),
    "coverage_rate": RateRule(
        ("households_covered", "enterprises_covered"), ("households", "enterprises"), sample="households"
    ),
}
"""Every rate the system reports, by name: which counts make it (the services' KPIs and the
province's sums both compute it here)."""
TASK_RATES = ("closure_rate", "on_time_closure_rate", "resolved_at_level_rate")
FEEDBACK_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")


def rate_of(name: str, counts: Mapping[str, int]) -> float | None:
    """One named rate of a group's counts."""
    return RATES[name].of(counts)


def rates_of(names: tuple[str, ...], counts: Mapping[str, int]) -> dict[str, float | None]:
    """The named rates of a group's counts, by name."""
    return {name: RATES[name].of(counts) for name in names}


# -- subjects -----------------------------------------------------------------------------------------
def unit_token(unit: str) -> str:
    """An org-unit path as one subject token ("yuhang/s01/c001" → "yuhang~s01~c001")."""
    token = unit.strip("/").replace("/", "~")
    if not token or not _TOKEN.match(token):
        raise ValueError(f"the unit path {unit!r} cannot be a subject token")
    return token


def figures_subject(kind: FigureKind, month: str, unit: str) -> str:
    """The subject of one community's figures of one kind for one month."""
    if kind not in KINDS or not MONTH.match(month):
        raise ValueError(f"no figures subject for kind {kind!r} and month {month!r}")
    return f"{PREFIX}.figures.{kind}.{month}.{unit_token(unit)}"


@dataclass(frozen=True)
class Place:
    """Where a subject sits: the district that sent it (as the province's transform wrote it,
    None on the district's own stream), and for figures their kind, month and unit."""

    district: str | None
    kind: str
    month: str | None = None
    unit: str | None = None


def parse_subject(subject: str) -> Place:
    """What a subject of FOURLINKS_UPLINK (or of FOURLINKS_PROVINCE, with its district code in
    front) is about; ValueError for any other subject."""
    tokens = subject.split(".")
    district = None
    if tokens and DISTRICT_CODE.match(tokens[0]):
        district, tokens = tokens[0], tokens[1:]
    if tokens == [PREFIX, "checkpoint"]:
        return Place(district, "checkpoint")
    if (
        len(tokens) == 5
        and tokens[:2] == [PREFIX, "figures"]
        and tokens[2] in KINDS
        and MONTH.match(tokens[3])
    ):
        return Place(district, tokens[2], tokens[3], tokens[4].replace("~", "/"))
    raise ValueError(f"{subject!r} is no subject of the figures sent upward")


# -- payloads -----------------------------------------------------------------------------------------
class Figures(BaseModel):
    """One community's figures of one kind for one month, as of a position of its district's log."""

    v: Literal[1] = VERSION
    kind: FigureKind
    district: str = Field(pattern=DISTRICT_CODE.pattern)
    unit: str
    unit_name: str
    street: str
    street_name: str
    month: str = Field(pattern=MONTH.pattern)
    position: int = Field(ge=0, description="the district log's position the figures are as of")
    published_at: str
    counts: dict[str, int]

    @model_validator(mode="after")
    def _counts_of_the_kind(self) -> Figures:
        expected = COUNTS.get(self.kind)
        if expected is not None and set(self.counts) != set(expected):
            raise ValueError(f"{self.kind} figures carry the counts {', '.join(expected)}")
        if any(count < 0 for count in self.counts.values()):
            raise ValueError("a count is never negative")
        return self

    @property
    def subject(self) -> str:
        """The subject these figures are published on."""
        return figures_subject(self.kind, self.month, self.unit)


class CheckpointStatement(BaseModel):
    """A district's latest signed checkpoint of its audit log, as its checkpointer publishes it."""

    v: Literal[1] = VERSION
    kind: Literal["checkpoint"] = "checkpoint"
    district: str = Field(pattern=DISTRICT_CODE.pattern)
    origin: str
    note: str
    published_at: str


def payload_of(statement: Figures | CheckpointStatement) -> bytes:
    """The message body: compact JSON, UTF-8, keys sorted (the same figures, the same bytes)."""
    data = statement.model_dump(mode="json")
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def msg_id(subject: str, payload: bytes) -> str:
    """The `Nats-Msg-Id` of a statement: a retried publish of the same bytes is stored once."""
    return hashlib.sha256(subject.encode() + b"\n" + payload).hexdigest()


def city_of(district: str) -> str:
    """The city a district code lies in (330110 → 330100)."""
    return district[:4] + "00"


def province_of(district: str) -> str:
    """The province a district code lies in (330110 → 330000)."""
    return district[:2] + "0000"
