"""Photos chosen in a form, handed to the service that keeps them (which checks, cleans and seals
each one) before the command that names them."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile  # what a parsed form holds (FastAPI's is a subclass)

from fourlinks_console.services import Service, ServiceRefused, Services

MAX_PHOTOS = 6
PHOTO_FORM_BYTES = MAX_PHOTOS * 10 * 1024 * 1024 + 1024 * 1024
"""A form with its photos (the services take 10 MB a photo, six at most)."""


async def chosen_photos(request: Request) -> list[UploadFile]:
    """The photos chosen in the form (an empty file input sends one nameless part: not a photo)."""
    form = await request.form()  # already parsed (and its CSRF token checked) by CheckedForm
    chosen = [part for part in form.getlist("photos") if isinstance(part, UploadFile) and part.filename]
    if len(chosen) > MAX_PHOTOS:
        raise ServiceRefused(
            422,
            f"at most {MAX_PHOTOS} photos at a time",
            code="too_many_photos",
            params={"limit": MAX_PHOTOS},
        )
    return chosen


async def uploaded_photos(
    request: Request, services: Services, token: str, service: Service, path: str
) -> list[dict[str, Any]]:
    """Each chosen photo uploaded to `path` of the service; what the command then names."""
    kept = []
    for sent in await chosen_photos(request):
        data = await sent.read()
        media_type = sent.content_type or "application/octet-stream"
        kept.append(
            await services.upload(
                token, service, path, {"photo": (sent.filename or "photo", data, media_type)}, {}
            )
        )
    return kept


async def photo_from(services: Services, token: str, service: Service, path: str) -> Response:
    """A kept photo, as the service that keeps it lets this person see it."""
    data, media_type = await services.get_bytes(token, service, path)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})
