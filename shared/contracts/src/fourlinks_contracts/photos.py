"""An evidence photo as events record it (feedback, progress, resolutions, spot checks)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PhotoInfo(BaseModel):
    """An evidence photo as an event records it: the SHA-256 of the kept photo, its media type and
    size; never its bytes (they are kept sealed under the person's key, shared/photos)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str
    size: int = Field(ge=1)


def with_no_photos(data: dict[str, Any]) -> dict[str, Any]:
    """An event stored before it could carry photos, as its next version (none)."""
    return {**data, "photos": []}
