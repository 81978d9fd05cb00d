"""What the checkpointer publishes over HTTP while it follows the log: the latest signed checkpoint
and the tree's hash tiles as C2SP tlog-tiles serves them (`/checkpoint`, `/tile/<L>/<N>[.p/<W>]`:
anyone can rebuild the signed roots and prove any event's inclusion from them), the latest
integrity check (`/integrity`), the witnesses' cosigning (`/witnesses`) and the services' public
event signing keys (`/signers`), for auditors, witnesses and the console. None holds personal data:
sizes, hashes, positions, public keys (the tiles' leaves are hashes; the entries themselves are not
served). With a witness quorum, `/checkpoint` is the latest checkpoint the quorum cosigned."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fourlinks_audit.notes import Checkpoint
from fourlinks_audit.tiles import PublishedTiles, TileName
from fourlinks_audit.transparency import CheckpointStore
from fourlinks_audit.witnessing import Witnesses
from fourlinks_runtime.rate_limits import RateLimit
from fourlinks_runtime.settings import Settings

UNKNOWN = float("nan")
FULL_TILE_CACHE = "public, max-age=31536000, immutable"  # a full tile never changes
SHORT_CACHE = "public, max-age=2"  # the latest checkpoint (C2SP: no longer than a few seconds)
PARTIAL_TILE_CACHE = "public, max-age=60"  # replaced by the full tile as the log grows
NOT_THERE = "no-store"  # a tile not there yet may be there in a few seconds
# An auditor rebuilding a root or proving an event reads a few dozen tiles, a monitor reading a
# million events' leaf tiles some four thousand; a cache (the Ingress, a CDN) answers repeats.
TILE_LIMIT = RateLimit("reading the log's tiles", per_client=1200, overall=12_000)
CHECKPOINT_LIMIT = RateLimit("reading the log's checkpoint", per_client=120, overall=6000)


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
        values["fourlinks_checkpoint_tree_size"] = float(Checkpoint.of_note(note).size)
    for name, description in figures.items():
        Gauge(name, description, registry=registry).set(values[name])
    return registry


def published_app(
    checkpoints: CheckpointStore,
    signers: Path | None = None,
    *,
    tiles: PublishedTiles | None = None,
    settings: Settings | None = None,
    witnesses: Witnesses | None = None,
) -> FastAPI:
    """The checkpointer's small read-only HTTP face."""
    app = FastAPI(title="Four Links checkpoints", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = settings or Settings()  # whether rate limits apply
    required = bool(witnesses and witnesses.quorum)

    @app.api_route("/signers", methods=["GET", "HEAD"])
    def signers_file() -> JSONResponse:
        """The services' public event signing keys: what `audit verify --signers` checks against."""
        if signers is None or not signers.exists():
            raise HTTPException(404, "no signers file is configured (FOURLINKS_SIGNERS_FILE)")
        return JSONResponse(json.loads(signers.read_text()))

    @app.api_route("/checkpoint", methods=["GET", "HEAD"], dependencies=[Depends(CHECKPOINT_LIMIT)])
    def checkpoint() -> Response:
        """The latest signed checkpoint (C2SP tlog-checkpoint), cached a few seconds at most."""
        latest = checkpoints.published() if required else checkpoints.latest()
        if latest is None:
            said = (
                "the witnesses' quorum has cosigned no checkpoint yet"
                if required
                else "no checkpoint has been signed yet"
            )
            raise HTTPException(404, said, headers={"Cache-Control": NOT_THERE})
        return PlainTextResponse(latest[1], headers={"Cache-Control": SHORT_CACHE})

    @app.api_route("/tile/{path:path}", methods=["GET", "HEAD"], dependencies=[Depends(TILE_LIMIT)])
    def tile(path: str) -> Response:
        """One tile of the tree (C2SP tlog-tiles), of those the latest checkpoint covers."""
        try:
            name = TileName.parse(f"tile/{path}")
        except ValueError as exc:
            raise HTTPException(404, str(exc), headers={"Cache-Control": NOT_THERE}) from exc
        latest = checkpoints.latest()
        found = tiles.read(name, Checkpoint.of_note(latest[1]).size) if tiles and latest else None
        if found is None:
            raise HTTPException(
                404, "the latest checkpoint does not cover this tile", headers={"Cache-Control": NOT_THERE}
            )
        cache = FULL_TILE_CACHE if name.full else PARTIAL_TILE_CACHE
        return Response(found, media_type="application/octet-stream", headers={"Cache-Control": cache})

    @app.get("/integrity")
    def integrity() -> JSONResponse:
        latest = checkpoints.integrity()
        if latest is None:
            raise HTTPException(404, "no integrity check has run yet")
        witnessed = witness_report(checkpoints, witnesses)
        return JSONResponse({**json.loads(latest), **({"witnesses": witnessed} if witnessed else {})})

    @app.get("/metrics")
    def metrics() -> Response:
        latest, signed = checkpoints.integrity(), checkpoints.latest()
        registry = integrity_metrics(json.loads(latest) if latest else None, signed[1] if signed else None)
        if witnesses:
            published = checkpoints.published()
            witnesses.add_metrics(
                registry, signed[1] if signed else None, published[1] if published else None
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    _health_and_witnesses(app, checkpoints, witnesses)
    return app


def witness_report(checkpoints: CheckpointStore, witnesses: Witnesses | None) -> dict[str, Any] | None:
    """What the witnesses cosigned, and who is missing; None when none are configured."""
    if not witnesses:
        return None
    latest, published = checkpoints.latest(), checkpoints.published()
    return witnesses.report(latest[1] if latest else None, published[1] if published else None)


def _health_and_witnesses(app: FastAPI, checkpoints: CheckpointStore, witnesses: Witnesses | None) -> None:
    @app.get("/witnesses")
    def witnessed() -> JSONResponse:
        """Which witnesses cosigned the latest checkpoint, which did not and why, the quorum."""
        found = witness_report(checkpoints, witnesses)
        if found is None:
            raise HTTPException(404, "no witnesses are configured (FOURLINKS_WITNESSES)")
        return JSONResponse(found)

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready")
    def ready() -> dict[str, Any]:
        """Ready whatever the witnesses do (a witness down must not take the published log off the
        network), saying which cosignatures the latest checkpoint lacks."""
        found = witness_report(checkpoints, witnesses)
        if found is None:
            return {"status": "ok"}
        status = "ok" if not found["missing"] else "cosignatures missing"
        return {
            "status": status,
            "quorum_met": len(found["cosigned_by"]) >= found["quorum"],
            "witnesses": found,
        }
