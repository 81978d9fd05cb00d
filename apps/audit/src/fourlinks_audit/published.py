"""What the checkpointer publishes over HTTP while it follows the log: the latest signed checkpoint
(`/checkpoint`, as transparency logs serve theirs) and the latest integrity check (`/integrity`),
for auditors, witnesses and the console. Neither holds personal data: sizes, hashes, positions."""

from __future__ import annotations

import json

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse

from fourlinks_audit.transparency import CheckpointStore


def published_app(checkpoints: CheckpointStore) -> FastAPI:
    """The checkpointer's small read-only HTTP face."""
    app = FastAPI(title="Four Links checkpoints", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/checkpoint", response_class=PlainTextResponse)
    def checkpoint() -> str:
        notes = checkpoints.notes()
        if not notes:
            raise HTTPException(404, "no checkpoint has been signed yet")
        return notes[-1][1]

    @app.get("/integrity")
    def integrity() -> JSONResponse:
        latest = checkpoints.integrity()
        if latest is None:
            raise HTTPException(404, "no integrity check has run yet")
        return JSONResponse(json.loads(latest))

    @app.get("/health/live")
    @app.get("/health/ready")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
