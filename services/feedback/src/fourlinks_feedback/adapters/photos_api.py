"""Evidence photos sent with feedback: uploaded first (checked, stripped of their metadata, sealed
under the household's or enterprise contact's key), named in the feedback by their hash, shown to
whoever may see the feedback's content."""

from __future__ import annotations

from typing import Annotated, Any

import boto3
from fastapi import APIRouter, Form, Path, Request, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fourlinks_feedback.adapters.roles import Anyone, Submitter
from fourlinks_feedback.application import access, queries
from fourlinks_feedback.projections.feedback import photos
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound
from fourlinks_photos.evidence import Evidence, PhotoRef
from fourlinks_photos.images import MAX_BYTES, PhotoRefused
from fourlinks_photos.stores import FileStore, PhotoStore, S3Store
from fourlinks_runtime.edge import EntityId, IdInPath
from fourlinks_runtime.http import MinPosition, caught_up, runtime_of
from fourlinks_runtime.settings import Settings

router = APIRouter(tags=["photos"])
UPLOAD_LIMIT = MAX_BYTES + 64 * 1024
"""The body of a photo's upload: the photo and the multipart framing around it."""
MAX_PHOTOS = 6


class PhotoAnswer(BaseModel):
    """What to name in the feedback: the kept photo's hash, kind and size."""

    sha256: str
    media_type: str
    size: int


def evidence_of(request: Request) -> Evidence:
    """The service's photos: one store for the process, the persons' keys of its cipher."""
    app_state = request.app.state
    evidence: Evidence | None = getattr(app_state, "evidence", None)
    if evidence is None:
        runtime = runtime_of(request)
        evidence = Evidence(photo_store(runtime.settings), runtime.cipher)
        app_state.evidence = evidence
    return evidence


def photo_store(settings: Settings) -> PhotoStore:
    """An S3-compatible bucket when one is configured, else files under the data directory."""
    if not settings.photos_s3_url:
        return FileStore(settings.var_dir / "photos")
    secret = settings.photos_s3_secret_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.photos_s3_url,
        region_name=settings.photos_s3_region,
        aws_access_key_id=settings.photos_s3_access_key,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
    )
    return S3Store(client, settings.photos_s3_bucket)


def photo_subject(actor: Actor, household_id: str | None, enterprise_id: str | None) -> str:
    """Whose key seals the photo: the household or enterprise contact it is about. A resident sends
    photos only of their own."""
    named = household_id or enterprise_id
    if Role.RESIDENT in actor.roles:
        if named not in (None, actor.id):
            raise NotAllowed("a household sends photos with its own feedback only")
        return actor.id
    if named is None:
        raise InvalidCommand("name the household_id or enterprise_id the photo is about")
    return named


@router.post(
    "/photos",
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
) -> dict[str, Any]:
    """Kept upright, at most 2048 px, without its metadata (no location), sealed under the person's
    key: erasing the person makes it unreadable. Name the answer in the feedback's `photos`."""
    subject = photo_subject(actor, household_id, enterprise_id)
    try:
        kept = await evidence_of(request).keep(subject, await photo.read(MAX_BYTES + 1))
    except PhotoRefused as refused:
        raise InvalidCommand(str(refused)) from refused
    return {"sha256": kept.sha256, "media_type": kept.media_type, "size": kept.size}


async def check_photos(request: Request, subject: str, sent: list[Any]) -> None:
    """Every photo named in a feedback was uploaded for its household or enterprise contact."""
    evidence = evidence_of(request)
    for photo in sent:
        if await evidence.read(subject, PhotoRef(photo.sha256, photo.media_type, photo.size)) is None:
            raise InvalidCommand(
                f"photo {photo.sha256[:12]}… was not uploaded for this household or enterprise: "
                "upload it with POST /photos first"
            )


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
    data = await evidence_of(request).read(subject, PhotoRef(sha256, listed["media_type"], listed["size"]))
    if data is None:
        raise NotFound("this photo is no longer kept (its person was erased)")
    return Response(data, media_type=listed["media_type"], headers={"Cache-Control": "private, max-age=3600"})


PhotoSent = Annotated[list[PhotoAnswer], Field(default_factory=list, max_length=MAX_PHOTOS)]
