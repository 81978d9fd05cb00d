"""What the assignments service's read routes answer, typed (OpenAPI shows every field)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, create_model

from fourlinks_assignments.domain.tasks import DeadlineStanding
from fourlinks_assignments.projections.tasks import party_days, tasks, timeline
from fourlinks_contracts.assignments import TaskState
from fourlinks_runtime.answers import page_of, ranking_of, row_model

WITHHELD = list[str]
"""The fields withheld from this reader (empty in the answer), as the resident asked: `description`
of a confidential item, `household_id` and `enterprise_id` of an anonymous one."""
TaskView = row_model(
    "Task",
    tasks,
    doc=(
        "One task as the read model shows it: state, people, deadlines, outcome; `deadline`: where an "
        "open task stands against its deadline now (`overdue`, `approaching` once its reminder has "
        "fallen, or null). What it copied from a confidential or anonymous feedback item (its "
        "description; its household or enterprise) is null for all but the secretaries of its unit, "
        "and named in `withheld`."
    ),
    exclude=frozenset({"helpers"}),
    fields={"helpers": list[str], "withheld": WITHHELD, "deadline": DeadlineStanding | None},
)
TaskPage = page_of(TaskView)
BoardColumns: type[BaseModel] = create_model(
    "BoardColumns",
    __doc__="A board: for every state, its oldest tasks (up to the limit) and how many there are.",
    **{state.value: (TaskPage, ...) for state in TaskState},  # type: ignore[call-overload]
)
TimelineEntry = row_model(
    "TaskTimelineEntry",
    timeline,
    doc=(
        "One event of a task: what, who, when, with its details (never personal data); the household "
        "of an anonymous item and the words of a confidential one's correction are null for all but "
        "the secretaries of its unit, and named in `withheld`."
    ),
    exclude=frozenset({"details"}),
    fields={"details": dict[str, Any], "withheld": WITHHELD},
)
PartyDayView = row_model(
    "PartyDay",
    party_days,
    doc="A community's themed party day and its agenda.",
    exclude=frozenset({"agenda"}),
    fields={"agenda": list[str]},
)


class PartyDaySummary(BaseModel):
    """What a session handed out, and what its community closed since the session before."""

    session_id: str
    community: str
    held_on: date
    agenda: list[str]
    previous_session_on: date | None
    handed_out: list[str]
    closed_since_previous: list[str]
    handed_out_count: int
    closed_since_previous_count: int


class BoardSummary(BaseModel):
    """A unit's tasks now: waiting for triage, open (between triage and closure), and of the open
    ones those past their deadline or near it (the reminder has fallen)."""

    unit: str
    raised: int
    open: int
    overdue: int
    approaching: int


class RecurringProblem(BaseModel):
    """A place (the unit the tasks came from) and category raised again and again lately."""

    unit: str
    category: str
    count: int


class CategoryCount(BaseModel):
    """How many tasks raised in a month fall in a category (and, counted by building, came from
    one building: `unit` is the building, or the community for tasks from above any building;
    null by category)."""

    category: str
    unit: str | None
    count: int


class TaskActions(BaseModel):
    """The commands the caller may send on a task now (the names of its `POST /tasks/{id}/...`
    routes; `extension-decision` is `/extension/decision`)."""

    task_id: str
    state: str
    actions: list[str]


class TaskFigures(BaseModel):
    """One group's task KPIs for one month (the month the tasks were raised in)."""

    group: str
    month: str
    tasks: int
    closed: int
    closure_rate: float | None
    due: int
    extended: int
    closed_on_time: int
    on_time_closure_rate: float | None
    worked: int = Field(description="closed tasks that were worked (not withdrawn nor duplicates)")
    resolved_at_level: int = Field(description="of those worked, closed without escalation")
    resolved_at_level_rate: float | None
    rework_count: int
    median_hours_to_close: dict[str, float]


TaskRanking = ranking_of(TaskFigures)


class TaskSearchAnswer(BaseModel):
    """The tasks a search found in the reader's scope, the latest raised first, each as the reader
    may read it."""

    q: str
    unit: str
    tasks: list[TaskView]  # type: ignore[valid-type]
