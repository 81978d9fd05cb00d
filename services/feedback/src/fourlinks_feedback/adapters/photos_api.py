"""Evidence photos sent with feedback: uploaded first (checked, stripped of their metadata, sealed
under the household's or enterprise contact's key), named in the feedback by their hash, shown to
whoever may read the feedback's content."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request, UploadFile, status
from fastapi.responses import Response

from fourlinks_contracts.photos import PhotoInfo
from fourlinks_contracts.refusals import OWN_HOUSEHOLD_ONLY
from fourlinks_feedback.application import access, queries
from fourlinks_feedback.projections.feedback import photos
from fourlinks_kernel.access import Role, ensure_scope
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound
from fourlinks_runtime.edge import EntityId, IdInPath
from fourlinks_runtime.guards import FeedbackReader as Anyone
from fourlinks_runtime.guards import Submitter
from fourlinks_runtime.http import MinPosition, caught_up
from fourlinks_runtime.photos import PhotoAnswer, kept, shown
from fourlinks_runtime.rate_limits import TOO_MANY, RateLimit

UPLOAD_LIMIT = RateLimit("uploading photos", per_client=30, overall=600)
"""Six photos a report, a few reports a day; each decode costs a core for a moment."""
router = APIRouter(tags=["photos"])


def photo_subject(actor: Actor, household_id: str | None, enterprise_id: str | None) -> str:
    """Whose key seals the photo: the household or enterprise contact it is about. A resident sends
    photos only of their own."""
    named = household_id or enterprise_id
    if Role.RESIDENT in actor.roles:
        if named not in (None, actor.id):
            raise NotAllowed("a household sends photos with its own feedback only", OWN_HOUSEHOLD_ONLY)
        return actor.id
    if named is None:
        raise InvalidCommand("name the household_id or enterprise_id the photo is about")
    return named


@router.post(
    "/photos",
    dependencies=[Depends(UPLOAD_LIMIT)],
    responses=TOO_MANY,
    status_code=status.HTTP_201_CREATED,
    summary="Upload an evidence photo (JPEG, PNG, WebP or HEIC, up to 10 MB) to send with feedback",
    response_model=PhotoAnswer,
)
async def upload_photo(
    request: Request,
    actor: Submitter,
    photo: UploadFile,
    household_id: Annotated[EntityId | None, Form()] = None,
    enterprise_id: Annotated[EntityId | None, Form()] = None,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    """Kept upright, at most 2048 px, without its metadata (no location), sealed under the person's
    key: erasing the person makes it unreadable. Name the answer in the feedback's `photos`. Only
    for a registered household or enterprise in the sender's scope (404 otherwise, 403 out of scope)."""
    subject = photo_subject(actor, household_id, enterprise_id)
    await contact_in_scope(request, actor, subject, min_position)
    return await kept(request, subject, photo)


async def contact_in_scope(request: Request, actor: Actor, contact_id: str, min_position: int | None) -> None:
    """The photo's household or enterprise is registered, and in scope for staff and members."""
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        known = await queries.known_contact(conn, contact_id)
    if known is None:
        raise NotFound(
            f"no household or enterprise {contact_id} is registered "
            "(just registered? send its position as X-Min-Position)"
        )
    if Role.RESIDENT not in actor.roles:
        ensure_scope(actor, known[0])


@router.get(
    "/feedback/{feedback_id}/photos/{sha256}",
    summary="A photo sent with feedback, to those who may read its content",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_photo(
    feedback_id: IdInPath,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    actor: Anyone,
    min_position: MinPosition = None,
) -> Response:
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        row = await queries.item(conn, feedback_id)
        listed = (
            (
                await conn.execute(
                    photos.select().where(photos.c.feedback_id == feedback_id, photos.c.sha256 == sha256)
                )
            )
            .mappings()
            .first()
        )
    if listed is None or not access.visible_to(actor, row) or not access.reads_content(actor, row):
        raise NotFound(f"no photo {sha256[:12]}… is yours to see on feedback {feedback_id}")
    subject = row["household_id"] or row["enterprise_id"]
    photo = PhotoInfo(sha256=sha256, media_type=listed["media_type"], size=listed["size"])
    data = await shown(request, subject, photo)
    if data is None:
        raise NotFound("this photo is no longer kept (its person was erased)")
    return Response(data, media_type=photo.media_type, headers={"Cache-Control": "private, max-age=3600"})
