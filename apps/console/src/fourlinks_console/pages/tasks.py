"""The task board (columns by state, deadlines flagged as the service answers them, filters) and a
task's page: its timeline from the events and the actions this person may take now — and only those."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.actions import ACTION_FORMS, body_of
from fourlinks_console.figures import BOARD_STATES
from fourlinks_console.labels import Labels, Wanted, labels_for
from fourlinks_console.names import N_
from fourlinks_console.pages.search import is_id, picked, to_pick
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.timeline import CONFIDENTIAL, told, wanted_by, withheld_words
from fourlinks_console.uploads import photo_from, uploaded_photos
from fourlinks_console.web import pages_of, query, see_other
from fourlinks_contracts.assignments import TaskSource
from fourlinks_contracts.members import Urgency

router = APIRouter()
COLUMN_LIMIT = 30
FILTERS = ("category", "urgency", "source", "assignee", "overdue")


@router.get("/tasks", name="board", dependencies=[opening("board")])
async def board(
    request: Request, person: CurrentPerson, unit: str | None = None, at: int | None = None
) -> Response:
    root = (unit or person.scope).strip("/")
    chosen = {name: request.query_params.get(name) or None for name in FILTERS}
    assignee, words = picked(request.query_params, "assignee")
    if words:  # a member's name typed, not chosen: choose from what it finds
        return to_pick(request, "member", words, back="/tasks" + query(unit=root), field="assignee")
    chosen["assignee"] = assignee or None
    new_household = request.query_params.get("household_id")  # chosen for a new task
    services: Services = request.app.state.services
    wanted = {"unit": root, **{k: v for k, v in chosen.items() if k != "overdue"}, "limit": COLUMN_LIMIT}
    if chosen["overdue"]:
        wanted["overdue"] = "true"
    columns = await services.get(person.token, "assignments", "/board/columns", wanted, min_position=at)
    new_household = new_household if is_id(new_household) else None
    named = Wanted().trail(root).member(chosen["assignee"]).household(new_household)
    for state in BOARD_STATES:
        named.unit(*(t["org_unit"] for t in columns[state]["items"]))
    return pages_of(request).render(
        request,
        "board.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "columns": [(state, columns[state], columns[state]["items"]) for state in BOARD_STATES],
            "filters": chosen,
            "urgencies": list(Urgency),
            "sources": list(TaskSource),
            "new_household": new_household,
        },
    )


@router.get("/tasks/{task_id}", name="task", dependencies=[opening("task")])
async def task_page(
    request: Request, person: CurrentPerson, task_id: str, at: int | None = None, do: str | None = None
) -> Response:
    """A task; `do` opens one action's form, with the ids chosen on the search page filled in."""
    spec = ACTION_FORMS.get(do or "")
    chosen = {
        f.name: request.query_params[f.name]
        for f in (spec.fields if spec else ())
        if f.pick and is_id(request.query_params.get(f.name))
    }
    return await _render_task(request, person, task_id, at, opened=(do, chosen) if spec else None)


async def _render_task(
    request: Request,
    person: Person,
    task_id: str,
    at: int | None,
    refused: tuple[str, ServiceRefused] | None = None,
    *,
    opened: tuple[str | None, dict[str, str]] | None = None,
) -> Response:
    services: Services = request.app.state.services
    token = person.token
    task, timeline, actions = await asyncio.gather(
        services.get(token, "assignments", f"/tasks/{part(task_id)}", min_position=at),
        services.get(token, "assignments", f"/tasks/{part(task_id)}/timeline", min_position=at),
        services.get(token, "assignments", f"/tasks/{part(task_id)}/actions", min_position=at),
    )
    offered = [(name, ACTION_FORMS[name]) for name in actions["actions"] if name in ACTION_FORMS]
    named = Wanted().task(task).trail(task["org_unit"]).member(*(opened[1].values() if opened else ()))
    reported, labels = await asyncio.gather(
        _reported_with(services, token, task),
        labels_for(request, person, wanted_by(timeline, named)),
    )
    return pages_of(request).render(
        request,
        "task.html",
        {
            "task": task,
            "place": place_of(task, labels),
            "timeline": told(timeline, labels),
            "offered": offered,
            "refused": refused,
            "reported": reported,
            "resident_words": resident_words(reported, task, labels),
            "labels": labels,
            "opened": opened[0] if opened else None,
            "chosen": opened[1] if opened else {},
        },
        status=refused[1].status if refused else 200,
    )


def place_of(task: dict[str, Any], labels: Labels) -> str:
    """Where the problem is: the household's address where the reader may see it, else the unit
    the task came from (with "anonymous" where the resident withheld who they are)."""
    unit = labels.unit(task.get("origin_unit") or task.get("org_unit"))
    if "household_id" in (task.get("withheld") or []):
        return f"{unit} {labels.say(withheld_words('household_id'))}"
    if task.get("household_id"):
        return labels.household(task["household_id"]) or unit
    if task.get("enterprise_id"):
        return f"{unit} {labels.say(N_('Enterprise'))}"
    return unit


def resident_words(reported: dict[str, Any] | None, task: dict[str, Any], labels: Labels) -> str | None:
    """What the resident wrote, as the feedback service answers it to this reader: their words,
    or why they are not shown; nothing when the task says the same already or did not come from
    a resident."""
    if reported is None:
        return None
    if "description" in (reported.get("withheld") or []):
        return labels.say(CONFIDENTIAL)
    words = str(reported.get("description") or "").strip()
    return words if words and words != (task.get("description") or "").strip() else None


async def _reported_with(services: Services, token: str, task: dict[str, Any]) -> dict[str, Any] | None:
    """The resident's feedback a task came from, as this person may see it (its photos), if any."""
    if task.get("source") != "feedback" or not task.get("source_ref"):
        return None
    try:
        found: dict[str, Any] = await services.get(token, "feedback", f"/feedback/{part(task['source_ref'])}")
    except ServiceRefused:  # not theirs to see (an anonymous item for its member, say)
        return None
    return found


@router.get("/feedback/{feedback_id}/photos/{sha256}")
async def feedback_photo(request: Request, person: CurrentPerson, feedback_id: str, sha256: str) -> Response:
    """A photo a resident sent, for whoever the feedback service lets see it."""
    path = f"/feedback/{part(feedback_id)}/photos/{part(sha256)}"
    return await photo_from(request.app.state.services, person.token, "feedback", path)


@router.get("/tasks/{task_id}/photos/{sha256}")
async def task_photo(request: Request, person: CurrentPerson, task_id: str, sha256: str) -> Response:
    """A photo of the task's work, for the task's readers."""
    path = f"/tasks/{part(task_id)}/photos/{part(sha256)}"
    return await photo_from(request.app.state.services, person.token, "assignments", path)


@router.post("/tasks/{task_id}/do/{action}")
async def act(
    request: Request, person: CurrentPerson, form: CheckedForm, task_id: str, action: str
) -> Response:
    """Send one command. An action the page did not offer is still sent: the service refuses it
    with its own reason, shown on the page (the console holds no rules of its own)."""
    spec = ACTION_FORMS.get(action)
    if spec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such action: {action}")
    services: Services = request.app.state.services
    sent = dict(form)
    for field in (f for f in spec.fields if f.pick):
        chosen, words = picked(form, field.name)
        if words:  # words typed, not an id chosen: choose from what they find, then come back
            back = f"/tasks/{part(task_id)}" + query(do=action)
            return to_pick(request, field.pick or "", words, back=back, field=field.name)
        sent[field.name] = chosen
    body = body_of(spec, sent, request.app.state.runtime.timezone)
    try:
        if any(field.kind == "photos" for field in spec.fields):
            path = f"/tasks/{part(task_id)}/photos"
            if photos := await uploaded_photos(request, services, person.token, "assignments", path):
                body["photos"] = photos
        answer = await services.send(
            person.token, "assignments", f"/tasks/{part(task_id)}/{spec.route}", body
        )
    except ServiceRefused as refused:
        return await _render_task(request, person, task_id, None, (action, refused))
    return see_other(f"/tasks/{part(task_id)}" + query(at=answer.get("position")))


@router.post("/tasks/new")
async def raise_task(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    """Raise a task from the board (a secretary's own, or one an inspection found)."""
    services: Services = request.app.state.services
    body = {
        "source": "inspection" if person.has("inspector") and not person.manages else "administrator",
        "category": form.get("category", "").strip(),
        "urgency": form.get("urgency") or "general",
        "org_unit": form.get("org_unit", "").strip(),
        "description": form.get("description", ""),
    }
    household, words = picked(form, "household_id")
    if words:  # words typed, not a household chosen: choose from what they find (then raise it)
        back = "/tasks" + query(unit=body["org_unit"]) + "#new-task"
        return to_pick(request, "household", words, back=back, field="household_id")
    if household:
        body["household_id"] = household
    if form.get("enterprise_id", "").strip():
        body["enterprise_id"] = form["enterprise_id"].strip()
    try:
        answer = await services.send(person.token, "assignments", "/tasks", body)
    except ServiceRefused as refused:
        return pages_of(request).render(
            request,
            "refused.html",
            {"refused": refused, "back": "/tasks" + query(unit=body["org_unit"])},
            status=refused.status,
        )
    return see_other(f"/tasks/{answer['id']}" + query(at=answer.get("position")))
