"""HTTP API of the task loop's commands: raise, triage, assign, work, spot-check, adjust, close."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import Field

from fourlinks_assignments.adapters.photos_api import task_photos
from fourlinks_assignments.application import commands, handlers, queries
from fourlinks_assignments.application.handlers import with_directory
from fourlinks_assignments.application.reactions import deadline_policy
from fourlinks_assignments.domain.tasks import NewTask
from fourlinks_contracts.assignments import (
    CloseReason,
    RejectionReason,
    ResolutionResult,
    TaskSource,
)
from fourlinks_contracts.members import Urgency
from fourlinks_contracts.service_matters import MatterCode
from fourlinks_kernel.errors import InvalidCommand
from fourlinks_runtime.edge import (
    Body,
    Choice,
    EntityId,
    IdInPath,
    Instant,
    Line,
    Note,
    Text,
    UnitPath,
)
from fourlinks_runtime.guards import (
    Inspector,
    Member,
    MemberOrSecretary,
    Raiser,
    Secretary,
)
from fourlinks_runtime.http import (
    CommandAccepted,
    MinPosition,
    caught_up,
    command_context,
    dispatch,
    runtime_of,
)
from fourlinks_runtime.photos import PhotosSent

router = APIRouter(tags=["tasks"])


class RaiseTask(Body):
    """A task raised by an administrator, a secretary, an inspection or a themed party day."""

    source: Choice[TaskSource] = TaskSource.ADMINISTRATOR
    category: MatterCode
    urgency: Choice[Urgency] = Urgency.GENERAL
    org_unit: UnitPath
    household_id: EntityId | None = None
    enterprise_id: EntityId | None = None
    description: Text
    party_day_id: EntityId | None = None


class Reject(Body):
    """Why triage refuses the task."""

    reason: Choice[RejectionReason]
    duplicate_of: EntityId | None = None
    responsible_party: Line | None = None
    note: Note = ""


class Assign(Body):
    """To whom (default: the contact's card member), with which helpers, at which party day."""

    member_id: EntityId | None = None
    helpers: list[EntityId] = Field(default_factory=list, max_length=20)
    party_day_id: EntityId | None = None


class Reason(Body):
    """A reason (or a note, or guidance) in words."""

    reason: Text


class Progress(Body):
    """A step of the work."""

    note: Text
    photos: PhotosSent = Field(description="photos uploaded with POST /tasks/{task_id}/photos (up to 6)")


class Resolution(Body):
    """What was done, the result, and evidence references (photo ids, document numbers)."""

    summary: Text
    result: Choice[ResolutionResult]
    evidence: list[Line] = Field(default_factory=list, max_length=50)
    photos: PhotosSent = Field(description="photos uploaded with POST /tasks/{task_id}/photos (up to 6)")


class SpotCheck(Body):
    """The inspector's finding."""

    passed: bool
    note: Note = ""
    photos: PhotosSent = Field(description="photos uploaded with POST /tasks/{task_id}/photos (up to 6)")


class Reassign(Body):
    """The new member, and why."""

    member_id: EntityId
    helpers: list[EntityId] = Field(default_factory=list, max_length=20)
    reason: Text


class ExtensionRequest(Body):
    """The deadline asked for, and why."""

    new_due_at: Instant
    reason: Text


class ExtensionDecision(Body):
    """Approve or refuse, with the reason kept."""

    approve: bool
    reason: Text


class PushDown(Body):
    """The lower unit, and guidance for it."""

    to_unit: UnitPath
    guidance: Text


class Close(Body):
    """Why the task is closed (销号)."""

    reason: Choice[CloseReason]
    note: Note = ""
    responsible_party: Line | None = None
    duplicate_of: EntityId | None = None


# -- raising and triage ----------------------------------------------------------------------------
@router.post("/tasks", status_code=status.HTTP_201_CREATED, summary="Raise a task")
async def raise_task(
    body: RaiseTask, request: Request, actor: Raiser, min_position: MinPosition = None
) -> CommandAccepted:
    if body.source in (TaskSource.FEEDBACK, TaskSource.VISIT):
        raise InvalidCommand("feedback and visit tasks are raised from their events, not by hand")
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        await handlers.check_contacts(
            queries.SqlDirectory(conn), household_id=body.household_id, enterprise_id=body.enterprise_id
        )
    task_id = command_context(request, actor).id_for("task")
    new = NewTask(
        task_id=task_id,
        source=body.source,
        source_ref=None,
        category=body.category,
        urgency=body.urgency,
        org_unit=body.org_unit.strip("/"),
        household_id=body.household_id,
        enterprise_id=body.enterprise_id,
        description=body.description,
        party_day_id=body.party_day_id,
    )
    command = commands.RaiseTask(actor, new)
    return await dispatch(request, command, handlers.raise_task, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/triage", summary="Accept a raised task; its deadline starts")
async def triage(task_id: IdInPath, request: Request, actor: Secretary) -> CommandAccepted:
    runtime = runtime_of(request)
    command = commands.TriageTask(actor, task_id, runtime.clock(), deadline_policy(runtime))
    return await dispatch(request, command, handlers.triage, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/reject", summary="Reject a raised task with a reason code")
async def reject(task_id: IdInPath, body: Reject, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.RejectTask(
        actor, task_id, body.reason, body.duplicate_of, body.responsible_party, body.note
    )
    return await dispatch(request, command, handlers.reject, actor=actor, answer_id=task_id)


# -- assignment and work ---------------------------------------------------------------------------
@router.post("/tasks/{task_id}/assign", summary="Assign (default: the contact's card member)")
async def assign(
    task_id: IdInPath, body: Assign, request: Request, actor: Secretary, min_position: MinPosition = None
) -> CommandAccepted:
    runtime = runtime_of(request)
    if min_position:  # positions are global: one from the members service works here too
        await runtime.wait_for(min_position)
    command = commands.AssignTask(actor, task_id, body.member_id, body.helpers, body.party_day_id)
    async with runtime.engine.connect() as conn:
        directory = queries.SqlDirectory(conn)
        return await dispatch(
            request, command, with_directory(handlers.assign, directory), actor=actor, answer_id=task_id
        )


@router.post("/tasks/{task_id}/accept", summary="The assignee takes the task on")
async def accept(task_id: IdInPath, request: Request, actor: Member) -> CommandAccepted:
    command = commands.AcceptTask(actor, task_id)
    return await dispatch(request, command, handlers.accept, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/return", summary="The assignee returns the task with a reason")
async def hand_back(task_id: IdInPath, body: Reason, request: Request, actor: Member) -> CommandAccepted:
    command = commands.ReturnTask(actor, task_id, body.reason)
    return await dispatch(request, command, handlers.hand_back, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/progress", summary="Report progress")
async def progress(task_id: IdInPath, body: Progress, request: Request, actor: Member) -> CommandAccepted:
    photos = await task_photos(request, task_id, body.photos)
    command = commands.ReportProgress(actor, task_id, body.note, photos)
    return await dispatch(request, command, handlers.report_progress, actor=actor, answer_id=task_id)


@router.post(
    "/tasks/{task_id}/resolution", summary="Report the resolution: what was done, the result, evidence"
)
async def resolution(task_id: IdInPath, body: Resolution, request: Request, actor: Member) -> CommandAccepted:
    photos = await task_photos(request, task_id, body.photos)
    command = commands.ReportResolution(actor, task_id, body.summary, body.result, body.evidence, photos)
    return await dispatch(request, command, handlers.report_resolution, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/spot-check", summary="Spot check by an inspector who did not do the work")
async def spot_check(
    task_id: IdInPath, body: SpotCheck, request: Request, actor: Inspector
) -> CommandAccepted:
    photos = await task_photos(request, task_id, body.photos)
    command = commands.SpotCheck(actor, task_id, body.passed, body.note, photos)
    return await dispatch(request, command, handlers.spot_check, actor=actor, answer_id=task_id)


# -- adjustment ------------------------------------------------------------------------------------
@router.post("/tasks/{task_id}/reassign", summary="Reassign to another member")
async def reassign(task_id: IdInPath, body: Reassign, request: Request, actor: Secretary) -> CommandAccepted:
    runtime = runtime_of(request)
    command = commands.ReassignTask(actor, task_id, body.member_id, body.helpers, body.reason)
    async with runtime.engine.connect() as conn:
        directory = queries.SqlDirectory(conn)
        return await dispatch(
            request, command, with_directory(handlers.reassign, directory), actor=actor, answer_id=task_id
        )


@router.post("/tasks/{task_id}/extension", summary="Request a later deadline (before the current one passes)")
async def request_extension(
    task_id: IdInPath, body: ExtensionRequest, request: Request, actor: MemberOrSecretary
) -> CommandAccepted:
    runtime = runtime_of(request)
    command = commands.RequestExtension(actor, task_id, body.new_due_at, body.reason, runtime.clock())
    return await dispatch(request, command, handlers.request_extension, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/extension/decision", summary="Approve or refuse the waiting extension")
async def decide_extension(
    task_id: IdInPath, body: ExtensionDecision, request: Request, actor: Secretary
) -> CommandAccepted:
    command = commands.DecideExtension(actor, task_id, body.approve, body.reason)
    return await dispatch(request, command, handlers.decide_extension, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/escalate", summary="Escalate one level up")
async def escalate(task_id: IdInPath, body: Reason, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.EscalateTask(actor, task_id, body.reason)
    return await dispatch(request, command, handlers.escalate, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/push-down", summary="Push down to a lower unit with guidance")
async def push_down(task_id: IdInPath, body: PushDown, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.PushDownTask(actor, task_id, body.to_unit, body.guidance)
    return await dispatch(request, command, handlers.push_down, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/park", summary="Park the task with a reason")
async def park(task_id: IdInPath, body: Reason, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.ParkTask(actor, task_id, body.reason)
    return await dispatch(request, command, handlers.park, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/unpark", summary="Take a parked task up again")
async def unpark(task_id: IdInPath, body: Reason, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.UnparkTask(actor, task_id, body.reason)
    return await dispatch(request, command, handlers.unpark, actor=actor, answer_id=task_id)


# -- closure ---------------------------------------------------------------------------------------
@router.post("/tasks/{task_id}/close", summary="Close the task (销号); never by its assignee or a helper")
async def close(task_id: IdInPath, body: Close, request: Request, actor: Secretary) -> CommandAccepted:
    runtime = runtime_of(request)
    command = commands.CloseTask(
        actor, task_id, body.reason, body.note, runtime.clock(), body.responsible_party, body.duplicate_of
    )
    return await dispatch(request, command, handlers.close, actor=actor, answer_id=task_id)


@router.post("/tasks/{task_id}/reopen", summary="Reopen a closed task, back to its assignee")
async def reopen(task_id: IdInPath, body: Reason, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.ReopenTask(actor, task_id, body.reason)
    return await dispatch(request, command, handlers.reopen, actor=actor, answer_id=task_id)
