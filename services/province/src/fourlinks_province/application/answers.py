"""Typed answers of the province's routes: counts as the districts send them (one field per count
of `fourlinks_contracts.figures.COUNTS`), rates as the shared rule computes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from fourlinks_contracts.figures import COUNTS, FEEDBACK_RATES, TASK_RATES
from fourlinks_runtime.answers import ranking_of


def _figures_model(name: str, doc: str, counts: tuple[str, ...], rates: tuple[str, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "group": (str, ...),
        "name": (str, ...),
        "district": (str | None, None),
        "month": (str | None, None),
    }
    fields.update(dict.fromkeys(counts, (int, ...)))
    fields.update(dict.fromkeys(rates, (float | None, ...)))
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="ignore"), __doc__=doc, **fields)
    return model


GroupFigures = _figures_model(
    "GroupFigures",
    "A group's task and feedback counts for a month, summed over its communities, and their rates "
    "(`group`: a district's code, `<district>:<street path>`, a city's or the province's code).",
    (*COUNTS["tasks"], *COUNTS["feedback"]),
    (*TASK_RATES, *FEEDBACK_RATES),
)
GroupCoverage = _figures_model(
    "GroupCoverage",
    "A group's coverage: each community as its latest statement (of the month asked, or before) "
    "says, summed.",
    COUNTS["coverage"],
    ("coverage_rate",),
)
GroupRanking = ranking_of(GroupFigures)


class TrendPoint(BaseModel):
    """One month of a rate of everything the reader sees, and the count a ranking would sample."""

    month: str
    metric: str
    value: float | None
    sample: int
    group: str


class CategoryCount(BaseModel):
    """Tasks raised in a month in one category, in a group."""

    group: str
    name: str
    district: str | None
    category: str
    count: int


class CheckpointStanding(BaseModel):
    """A district's latest checkpoint, verified against its public log key, or why not
    (`no_checkpoint`, `no_log_key`, `signature_invalid`, `origin_mismatch`)."""

    verified: bool
    problem: str | None
    size: int | None
    origin: str | None
    published_at: str | None


class LinkStanding(BaseModel):
    """The district's stream source as the province's server sees it: messages not yet sourced,
    seconds since it was last heard, its error."""

    lag: int | None
    active_seconds: float | None
    error: str | None


class Refused(BaseModel):
    """The latest statement of the district the province refused, and why."""

    subject: str
    reason: str


class DistrictStanding(BaseModel):
    """A district: its figures as of which position of its log and when, how long since it was
    last heard (figures or checkpoint), whether that is longer than the province waits, its
    checkpoint and its link."""

    code: str
    name: str
    as_of_position: int | None
    as_of: str | None
    heard_seconds_ago: float | None
    stale: bool
    checkpoint: CheckpointStanding
    link: LinkStanding | None
    refused: Refused | None
