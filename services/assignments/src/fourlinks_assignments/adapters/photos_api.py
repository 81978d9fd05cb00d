"""Evidence photos of a task's work: progress, the resolution, a spot check. Uploaded first by
whoever may read the task, sealed under the key of the household or enterprise the task is about
(or the task's own, for a public place), named in the command by their hash, shown to the task's
readers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, UploadFile, status
from fastapi.responses import Response

from fourlinks_assignments.adapters.reading import Reader, readable_task
from fourlinks_assignments.application import queries
from fourlinks_contracts.photos import PhotoInfo
from fourlinks_kernel.errors import NotFound
from fourlinks_runtime.edge import IdInPath
from fourlinks_runtime.guards import TaskWorker as Worker
from fourlinks_runtime.http import MinPosition, caught_up
from fourlinks_runtime.photos import PhotoAnswer, PhotosSent, checked, kept, shown

router = APIRouter(tags=["photos"])


def subject_of(task: dict[str, Any]) -> str:
    """Whose key seals a task's photos: the household's or enterprise's it is about, else its own."""
    return str(task.get("household_id") or task.get("enterprise_id") or task["task_id"])


@router.post(
    "/tasks/{task_id}/photos",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a photo of the work (JPEG, PNG, WebP or HEIC, up to 10 MB) for progress, the "
    "resolution or a spot check",
    response_model=PhotoAnswer,
)
async def upload_task_photo(
    task_id: IdInPath, request: Request, actor: Worker, photo: UploadFile
) -> dict[str, Any]:
    """Kept upright, at most 2048 px, without its metadata (no location), sealed; name the answer
    in the next command's `photos`."""
    return await kept(request, subject_of(await readable_task(request, actor, task_id)), photo)


async def task_photos(request: Request, task_id: str, sent: PhotosSent) -> tuple[PhotoInfo, ...]:
    """The photos a command on this task names, once each was uploaded for it."""
    if not sent:
        return ()
    runtime = await caught_up(request, None)
    async with runtime.engine.connect() as conn:
        task = await queries.task_row(conn, task_id)
    return await checked(request, subject_of(task), sent)


@router.get(
    "/tasks/{task_id}/photos/{sha256}",
    summary="A photo of the task's work (its timeline names it), to the task's readers",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_task_photo(
    task_id: IdInPath,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    actor: Reader,
    min_position: MinPosition = None,
) -> Response:
    task = await readable_task(request, actor, task_id, min_position)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        lines = await queries.task_timeline(conn, task_id)
    named = [p for line in lines for p in line["details"].get("photos", []) if p["sha256"] == sha256]
    if not named:
        raise NotFound(f"task {task_id} names no photo {sha256[:12]}…")
    photo = PhotoInfo(**named[0])
    data = await shown(request, subject_of(task), photo)
    if data is None:
        raise NotFound("this photo is no longer kept (its person was erased)")
    return Response(data, media_type=photo.media_type, headers={"Cache-Control": "private, max-age=3600"})
