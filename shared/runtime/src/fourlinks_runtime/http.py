"""What every service's HTTP API shares: command answers, pagination, read-your-writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query
from pydantic import BaseModel

MAX_POSITION = 2**62
MAX_OFFSET = 1_000_000

MinPosition = Annotated[
    int | None,
    Header(
        alias="X-Min-Position",
        ge=0,
        le=MAX_POSITION,
        description="wait (bounded) until this log position is visible; positions are global across services",
    ),
]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
Unit = Annotated[str | None, Query(max_length=512, description="org-unit path; default: your scope")]


class CommandAccepted(BaseModel):
    """Where the command's events landed: send `position` as X-Min-Position to read your write."""

    id: str
    position: int
    duplicate: bool = False
