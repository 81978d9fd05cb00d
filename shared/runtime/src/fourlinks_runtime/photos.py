"""Evidence photos in a service: the store the settings name, the service's persons' keys, and what
an upload answers and a command names."""

from __future__ import annotations

from typing import Annotated, Any

import boto3
from fastapi import Request, UploadFile
from pydantic import BaseModel, Field

from fourlinks_contracts.photos import PhotoInfo
from fourlinks_contracts.refusals import PHOTO_NOT_UPLOADED, PHOTO_REFUSED
from fourlinks_kernel.errors import InvalidCommand
from fourlinks_photos.evidence import Evidence, PhotoRef
from fourlinks_photos.images import MAX_BYTES, PhotoRefused
from fourlinks_photos.stores import FileStore, PhotoStore, S3Store
from fourlinks_runtime.http import runtime_of
from fourlinks_runtime.settings import Settings

UPLOAD_LIMIT = MAX_BYTES + 64 * 1024
"""The body of a photo's upload: the photo and the multipart framing around it."""
MAX_PHOTOS = 6


class PhotoAnswer(BaseModel):
    """What to name in a command: the kept photo's hash, kind and size."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str
    size: int = Field(ge=1)


PhotosSent = Annotated[list[PhotoAnswer], Field(default_factory=list, max_length=MAX_PHOTOS)]


def photo_store(settings: Settings) -> PhotoStore:
    """An S3-compatible bucket when one is configured, else files under the data directory."""
    if not settings.photos_s3_url:
        return FileStore(settings.photos_dir or settings.var_dir / "photos")
    secret = settings.photos_s3_secret_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.photos_s3_url,
        region_name=settings.photos_s3_region,
        aws_access_key_id=settings.photos_s3_access_key,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
    )
    return S3Store(client, settings.photos_s3_bucket)


def evidence_of(request: Request) -> Evidence:
    """The service's photos: one store for the process, the persons' keys of its cipher."""
    state = request.app.state
    evidence: Evidence | None = getattr(state, "evidence", None)
    if evidence is None:
        runtime = runtime_of(request)
        evidence = Evidence(photo_store(runtime.settings), runtime.cipher)
        state.evidence = evidence
    return evidence


async def kept(request: Request, subject: str, photo: UploadFile) -> dict[str, Any]:
    """An uploaded photo checked, cleaned and sealed for `subject` (422 with the reason if not)."""
    try:
        ref = await evidence_of(request).keep(subject, await photo.read(MAX_BYTES + 1))
    except PhotoRefused as refused:
        raise InvalidCommand(str(refused), PHOTO_REFUSED, problem=refused.problem) from refused
    return {"sha256": ref.sha256, "media_type": ref.media_type, "size": ref.size}


async def checked(request: Request, subject: str, sent: list[PhotoAnswer]) -> tuple[PhotoInfo, ...]:
    """The photos a command names, once each was uploaded for this subject."""
    evidence = evidence_of(request)
    for photo in sent:
        if await evidence.read(subject, PhotoRef(photo.sha256, photo.media_type, photo.size)) is None:
            raise InvalidCommand(
                f"photo {photo.sha256[:12]}… was not uploaded for this household, enterprise or task: "
                "upload it first",
                PHOTO_NOT_UPLOADED,
            )
    return tuple(PhotoInfo(**photo.model_dump()) for photo in sent)


async def shown(request: Request, subject: str, photo: PhotoInfo) -> bytes | None:
    """A kept photo's bytes, if it is still readable (None once its person is erased)."""
    return await evidence_of(request).read(subject, PhotoRef(photo.sha256, photo.media_type, photo.size))
