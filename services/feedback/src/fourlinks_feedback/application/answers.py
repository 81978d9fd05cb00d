"""What the feedback service's read routes answer, typed (OpenAPI shows every field)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fourlinks_contracts.photos import PhotoInfo
from fourlinks_feedback.projections.feedback import callbacks, items
from fourlinks_runtime.answers import Moment, page_of, ranking_of, row_model

FeedbackItem = row_model(
    "FeedbackItem",
    items,
    doc=(
        "A feedback item as the asker may see it: confidential content only for its unit's secretaries "
        "and the submitter, the submitter hidden from all but them when anonymous (those fields are "
        "null then, and named in `withheld`); the photos sent with it "
        "(GET /feedback/{id}/photos/{sha256}), empty when its content is hidden. While it waits for "
        "a response (a problem: its task assigned; anything else: answered), `response_due_at` is "
        "when the response limit runs out and `response_seconds_left` how long is left then (below "
        "zero: overdue); both null once responded to."
    ),
    fields={
        "submitted_by": str | None,
        "photos": list[PhotoInfo],
        "withheld": list[str],
        "response_due_at": Moment | None,
        "response_seconds_left": int | None,
    },
)
FeedbackPage = page_of(FeedbackItem)
DueCallback = row_model(
    "DueCallback",
    callbacks,
    doc=(
        "A call-back to make now, with the item's reference, unit and household or enterprise (null "
        "for all but its unit's secretaries when the item is anonymous, and named in `withheld`)."
    ),
    fields={
        "reference": str,
        "org_unit": str,
        "household_id": str | None,
        "enterprise_id": str | None,
        "withheld": list[str],
    },
)


class CallbackSummary(BaseModel):
    """How many call-backs a unit has to make now (those `/callbacks/due` lists)."""

    unit: str
    due: int


class StateCount(BaseModel):
    """How many of a unit's items are in one state."""

    state: str
    count: int


class InboxSummary(BaseModel):
    """A unit's feedback by state; how many wait for a response, and how many of those are past
    the response limit."""

    unit: str
    states: list[StateCount]
    total: int
    waiting: int
    overdue: int


class CategoryCount(BaseModel):
    """How many items of a month fall in a category (and, counted by building, in one building:
    `unit` is the building, or the community for items above any building; null by category)."""

    category: str = Field(description='a code from GET /service-matters ("other" for old free text)')
    unit: str | None
    count: int


class HistoryLine(BaseModel):
    """One step of a feedback item: what happened and when (no one's personal data)."""

    what: str
    at: Moment
    detail: str | None


class FollowUp(BaseModel):
    """What a resident sees by reference number: states and dates, nobody's personal data."""

    reference: str
    category: str = Field(description='a code from GET /service-matters ("other" for old free text)')
    state: str
    task_state: str | None
    submitted_at: Moment
    history: list[HistoryLine]


class PublicStep(BaseModel):
    """One step as anyone holding the reference sees it: what happened and when."""

    what: str
    at: Moment


class PublicFollowUp(BaseModel):
    """A feedback item by its reference alone, without signing in: its category, state and the
    dates of its steps; no detail, nobody's name, no text anyone wrote."""

    reference: str
    category: str = Field(description='a code from GET /service-matters ("other" for old free text)')
    state: str
    task_state: str | None
    submitted_at: Moment
    history: list[PublicStep]


class PeriodRatings(BaseModel):
    """A member's ratings in one period."""

    period: str
    ratings: int
    average: float


class MemberRatings(BaseModel):
    """A member's ratings by period."""

    member_id: str
    periods: list[PeriodRatings]


class FeedbackFigures(BaseModel):
    """One group's feedback rates for one month, with their counts."""

    group: str
    month: str
    feedback: int
    responded: int
    response_rate: float | None
    callbacks_answered: int
    resolved: int
    resolution_rate: float | None
    satisfied: int
    satisfaction_rate: float | None
    not_reached: int


FeedbackRanking = ranking_of(FeedbackFigures)


class FeedbackSearchAnswer(BaseModel):
    """The feedback a search found in the reader's scope, the latest first, each as the reader may
    see it."""

    q: str
    unit: str
    items: list[FeedbackItem]  # type: ignore[valid-type]
