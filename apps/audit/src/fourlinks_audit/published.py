"""What the checkpointer publishes over HTTP while it follows the log: the latest signed checkpoint
(`/checkpoint`, as transparency logs serve theirs), the latest integrity check (`/integrity`) and
the services' public event signing keys (`/signers`), for auditors, witnesses and the console.
None holds personal data: sizes, hashes, positions, public keys."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fourlinks_audit.notes import Checkpoint
from fourlinks_audit.transparency import CheckpointStore

UNKNOWN = float("nan")


def integrity_metrics(latest: dict[str, Any] | None, note: str | None = None) -> CollectorRegistry:
    """The latest integrity check and checkpoint as Prometheus gauges (NaN: none yet)."""
    registry = CollectorRegistry()
    figures = {
        "fourlinks_integrity_intact": "1 when the latest integrity check of the log found nothing",
        "fourlinks_integrity_findings": "Findings of the latest integrity check",
        "fourlinks_integrity_checked_timestamp_seconds": "When the latest integrity check ran",
        "fourlinks_checkpoint_tree_size": "Events the latest signed checkpoint covers",
    }
    values: dict[str, float] = dict.fromkeys(figures, UNKNOWN)
    if latest is not None:
        values["fourlinks_integrity_intact"] = 1.0 if latest["intact"] else 0.0
        values["fourlinks_integrity_findings"] = float(len(latest["findings"]))
        values["fourlinks_integrity_checked_timestamp_seconds"] = datetime.fromisoformat(
            latest["checked_at"]
        ).timestamp()
    if note is not None:
        values["fourlinks_checkpoint_tree_size"] = float(Checkpoint.parse(note.split("\n\n")[0] + "\n").size)
    for name, description in figures.items():
        Gauge(name, description, registry=registry).set(values[name])
    return registry


def published_app(checkpoints: CheckpointStore, signers: Path | None = None) -> FastAPI:
    """The checkpointer's small read-only HTTP face."""
    app = FastAPI(title="Four Links checkpoints", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/signers")
    def signers_file() -> JSONResponse:
        """The services' public event signing keys: what `audit verify --signers` checks against."""
        if signers is None or not signers.exists():
            raise HTTPException(404, "no signers file is configured (FOURLINKS_SIGNERS_FILE)")
        return JSONResponse(json.loads(signers.read_text()))

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

    @app.get("/metrics")
    def metrics() -> Response:
        latest = checkpoints.integrity()
        notes = checkpoints.notes()
        registry = integrity_metrics(json.loads(latest) if latest else None, notes[-1][1] if notes else None)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live")
    @app.get("/health/ready")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
