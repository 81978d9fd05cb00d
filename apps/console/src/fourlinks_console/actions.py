"""The forms of the task commands: which fields each asks for, and the body the service wants.

What a person may do is the assignments service's answer (`GET /tasks/{id}/actions`); this only
says how each command is asked for on a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_console.names import N_
from fourlinks_contracts.assignments import CloseReason, RejectionReason, ResolutionResult


@dataclass(frozen=True)
class Field:
    """One control of an action's form."""

    name: str
    kind: str  # text | textarea | choice | yesno | datetime | photos
    label: str
    required: bool = True
    choices: tuple[str, ...] = ()
    pick: str | None = None  # an id found by search: household, member, task (`pages.search.PICKS`)


PHOTOS = Field("photos", "photos", N_("Photos (up to 6; their location is removed)"), required=False)


def _reason(label: str = N_("Reason")) -> Field:
    return Field("reason", "textarea", label)


@dataclass(frozen=True)
class ActionForm:
    """How one command is asked for: its title, its route below the task, its fields."""

    title: str
    route: str
    fields: tuple[Field, ...] = ()
    danger: bool = False


ACTION_FORMS: dict[str, ActionForm] = {
    "triage": ActionForm(N_("Accept the task (triage)"), "triage"),
    "reject": ActionForm(
        N_("Reject"),
        "reject",
        (
            Field("reason", "choice", N_("Reason"), choices=tuple(RejectionReason)),
            Field("note", "textarea", N_("Note"), required=False),
            Field("duplicate_of", "text", N_("Duplicate of task"), required=False, pick="task"),
            Field("responsible_party", "text", N_("Responsible party"), required=False),
        ),
        danger=True,
    ),
    "assign": ActionForm(
        N_("Assign"),
        "assign",
        (
            Field(
                "member_id",
                "text",
                N_("Member (empty: the member on the card)"),
                required=False,
                pick="member",
            ),
        ),
    ),
    "accept": ActionForm(N_("Take the task on"), "accept"),
    "return": ActionForm(N_("Hand back"), "return", (_reason(),), danger=True),
    "progress": ActionForm(
        N_("Report progress"), "progress", (Field("note", "textarea", N_("Progress note")), PHOTOS)
    ),
    "resolution": ActionForm(
        N_("Report the resolution"),
        "resolution",
        (
            Field("summary", "textarea", N_("What was done")),
            Field("result", "choice", N_("Result"), choices=tuple(ResolutionResult)),
            PHOTOS,
        ),
    ),
    "spot-check": ActionForm(
        N_("Spot check"),
        "spot-check",
        (Field("passed", "yesno", N_("Passed?")), Field("note", "textarea", N_("Note"), False), PHOTOS),
    ),
    "reassign": ActionForm(
        N_("Reassign"), "reassign", (Field("member_id", "text", N_("Member"), pick="member"), _reason())
    ),
    "extension": ActionForm(
        N_("Request an extension"),
        "extension",
        (Field("new_due_at", "datetime", N_("New deadline")), _reason()),
    ),
    "extension-decision": ActionForm(
        N_("Decide the extension"),
        "extension/decision",
        (Field("approve", "yesno", N_("Approve?")), _reason()),
    ),
    "escalate": ActionForm(N_("Escalate one level up"), "escalate", (_reason(),)),
    "push-down": ActionForm(
        N_("Push down"),
        "push-down",
        (Field("to_unit", "text", N_("To unit")), Field("guidance", "textarea", N_("Guidance"))),
    ),
    "park": ActionForm(N_("Park"), "park", (_reason(),)),
    "unpark": ActionForm(N_("Take up again"), "unpark", (_reason(N_("Note")),)),
    "close": ActionForm(
        N_("Close (销号)"),
        "close",
        (
            Field("reason", "choice", N_("Reason"), choices=tuple(CloseReason)),
            Field("note", "textarea", N_("Note"), required=False),
            Field("responsible_party", "text", N_("Responsible party"), required=False),
            Field("duplicate_of", "text", N_("Duplicate of task"), required=False, pick="task"),
        ),
    ),
    "reopen": ActionForm(N_("Reopen"), "reopen", (_reason(),), danger=True),
}


def body_of(form: ActionForm, sent: dict[str, str], timezone: str) -> dict[str, Any]:
    """The command's JSON body from the posted form: yes/no as booleans, a local date and time as
    an instant in the district's time zone, optional fields left out when empty."""
    body: dict[str, Any] = {}
    for field in form.fields:
        value = sent.get(field.name, "").strip() if field.kind != "textarea" else sent.get(field.name, "")
        if value == "" and not field.required:
            continue
        if field.kind == "yesno":
            body[field.name] = value == "yes"
        elif field.kind == "datetime":
            body[field.name] = _instant(value, timezone)
        else:
            body[field.name] = value
    return body


def _instant(local: str, timezone: str) -> str:
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        return local  # the service names the field and what it wants
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.isoformat()
