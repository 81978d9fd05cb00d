"""`fourlinks audit checkpoint | prove | check-proof | consistency | keygen | public-key`, and the
checkpoint half of `audit verify`: the commands of the transparency log (docs/audit.md).

Exit codes: 0 intact (or done), 1 findings, 2 could not run."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import make_url

from fourlinks_audit.merkle import (
    check_consistency,
    consistency_proof,
    inclusion_proof,
    leaf_data,
    leaf_hash,
    root_from_inclusion,
    root_of,
)
from fourlinks_audit.notes import Checkpoint, NoteError, SignerKey, VerifierKey, read_checkpoint
from fourlinks_audit.tiles import TileStore
from fourlinks_audit.transparency import (
    CheckpointRefused,
    CheckpointStore,
    LogGap,
    LogRewound,
    catch_up,
    check_integrity,
    checkpoint_store,
    write_checkpoint,
)
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.rows import sync_writer
from fourlinks_kernel.signing import Signers
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect
from fourlinks_runtime.settings import MissingSecret, Settings

log = structlog.get_logger(__name__)
INTACT, FINDINGS, COULD_NOT_RUN = 0, 1, 2
FOLLOW_POLL_SECONDS = 2.0


class CouldNotRun(RuntimeError):
    """Something the command needs is missing or unreadable (exit 2)."""


def origin_of(settings: Settings) -> str:
    """Which log a checkpoint speaks of: the subject prefix and the stream's name."""
    return f"{settings.subject_prefix}/{settings.stream}"


@asynccontextmanager
async def reading_store(settings: Settings) -> AsyncIterator[EventStore]:
    """The events stream, read as stored: envelopes and bytes, never a personal field, so the
    checkpointer and these commands need no master key (a throwaway one decrypts nothing)."""
    nc = await connect(settings, name="fourlinks-audit", within=COMMAND_CONNECT_SECONDS)
    cipher = PersonalDataCipher(master_key=secrets.token_bytes(32), keys=InMemoryKeyStore())
    try:
        yield JetStreamEventStore(nc, EventCodec(full_registry(), cipher), settings.jetstream())
    finally:
        await nc.close()


# -- keys ------------------------------------------------------------------------------------------
def signer(settings: Settings) -> SignerKey:
    try:
        return SignerKey.parse(settings.checkpoint_key_text())
    except (MissingSecret, NoteError) as exc:
        raise CouldNotRun(str(exc)) from exc


def verifier(settings: Settings, given: str | None) -> VerifierKey:
    """The key checkpoints are checked with: --key (text or file), the setting, or the signing key's."""
    text = given or settings.checkpoint_public_key
    try:
        if text:
            path = Path(text)
            return VerifierKey.parse(path.read_text() if path.is_file() else text)
        return signer(settings).verifier
    except NoteError as exc:
        raise CouldNotRun(f"the verifier key cannot be read: {exc}") from exc


def signers_of(settings: Settings, given: Path | None = None) -> Signers | None:
    """The public keys events are checked against: --signers, or the configured signers file if
    it exists (None: signatures are not checked, and the report says so)."""
    path = given or settings.signers_path()
    if not path.exists():
        if given is not None:
            raise CouldNotRun(f"the signers file {path} does not exist")
        return None
    try:
        return Signers.read(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise CouldNotRun(f"the signers file {path} cannot be read: {exc}") from exc


def add_key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        default=None,
        help="the verifier key (name+hash+base64, or a file holding it); default: the configured one",
    )


# -- the tiles and the checkpoints -----------------------------------------------------------------
@contextmanager
def _opened(
    settings: Settings, engine: Any, schema: str | None
) -> Iterator[tuple[TileStore, CheckpointStore]]:
    writer = sync_writer(engine, schema)
    try:
        yield TileStore(writer), checkpoint_store(writer, settings.var_dir)
    finally:
        writer.dispose()


@asynccontextmanager
async def tiles_and_checkpoints(settings: Settings) -> AsyncIterator[tuple[TileStore, CheckpointStore]]:
    """The audit read model (tiles, in var/audit.db or the `audit` schema) and the checkpoints."""
    url, schema = settings.read_model_database("audit")
    _directory_for(url)
    engine = await create_engine_with_schema(url, schema)
    try:
        with _opened(settings, engine, schema) as opened:
            yield opened
    finally:
        await engine.dispose()


def _directory_for(url: str) -> None:
    """A SQLite file's directory, made if missing (a fresh FOURLINKS_VAR_DIR)."""
    database = make_url(url).database
    if url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def checkpoint_notes(store: CheckpointStore, files: list[Path] | None) -> list[tuple[str, str]]:
    """The checkpoints given as files, or every stored one."""
    return read_files(files) if files else store.notes()


def read_files(files: list[Path]) -> list[tuple[str, str]]:
    """(name, signed note) of checkpoint files."""
    try:
        return [(str(f), f.read_text()) for f in files]
    except OSError as exc:
        raise CouldNotRun(f"a checkpoint file cannot be read: {exc}") from exc


def _checkpoint(note: tuple[str, str], key: VerifierKey) -> Checkpoint:
    try:
        return read_checkpoint(note[1], key)
    except NoteError as exc:
        raise CouldNotRun(f"{note[0]}: {exc}") from exc


# -- audit checkpoint ------------------------------------------------------------------------------
async def run_checkpoint(
    store: EventStore,
    settings: Settings,
    *,
    follow: bool,
    rebuild: bool,
    serve: tuple[str, int] | None = None,
) -> int:
    """Bring the tiles up to the stream and sign a checkpoint when it grew; with `follow`, keep
    doing so every `checkpoint_every_events` events or `checkpoint_every_minutes`, run the whole
    integrity check every `integrity_check_hours`, and publish both on `serve` (host, port)."""
    key = signer(settings)
    async with tiles_and_checkpoints(settings) as (tiles, checkpoints):
        if rebuild:
            tiles.drop()
        if not follow:
            return await _sign_once(store, tiles, key, settings, checkpoints)
        server = asyncio.create_task(_publish(checkpoints, serve, settings.signers_path())) if serve else None
        try:
            await _follow(store, tiles, key, settings, checkpoints)
        finally:
            if server:
                server.cancel()
    return INTACT


async def _sign_once(
    store: EventStore, tiles: TileStore, key: SignerKey, settings: Settings, checkpoints: CheckpointStore
) -> int:
    try:
        await catch_up(store, tiles, progress=True)
        note, _ = write_checkpoint(tiles, key, origin_of(settings), checkpoints, datetime.now(UTC))
    except (LogGap, LogRewound, CheckpointRefused) as exc:
        print(str(exc), file=sys.stderr)
        return FINDINGS
    sys.stdout.write(note)
    return INTACT


async def _follow(
    store: EventStore, tiles: TileStore, key: SignerKey, settings: Settings, checkpoints: CheckpointStore
) -> None:
    signed_at, checked_at = time.monotonic(), float("-inf")
    while True:
        try:
            await catch_up(store, tiles)
            _, new = write_checkpoint(tiles, key, origin_of(settings), checkpoints, datetime.now(UTC))
            if new:
                signed_at = time.monotonic()
                log.info("checkpoint_signed", size=tiles.size)
        except (LogGap, LogRewound, CheckpointRefused) as exc:
            # A finding is for people to settle (audit verify); a checkpointer that exited would
            # only be restarted into the same refusal. It keeps checking and publishing meanwhile.
            log.error("checkpoint_refused", reason=str(exc))
        if tiles.size and time.monotonic() - checked_at >= settings.integrity_check_hours * 3600:
            checked_at = time.monotonic()
            found = await check_integrity(
                store, tiles, checkpoints.notes(), key.verifier, progress=False, signers=signers_of(settings)
            )
            checkpoints.keep_integrity(json.dumps(found.answer(), ensure_ascii=False))
            log.info(
                "integrity_checked", intact=found.intact, events=found.events, findings=len(found.findings)
            )
        await _until_due(store, tiles.size, signed_at, settings)


async def _publish(checkpoints: CheckpointStore, where: tuple[str, int], signers: Path) -> None:
    # Only a following checkpointer serves HTTP: verify, prove and rebuilds load nothing of the web.
    import uvicorn  # noqa: PLC0415

    from fourlinks_audit.published import published_app  # noqa: PLC0415

    app = published_app(checkpoints, signers)
    config = uvicorn.Config(app, host=where[0], port=where[1], log_level="warning")
    await uvicorn.Server(config).serve()


async def _until_due(store: EventStore, signed_size: int, signed_at: float, settings: Settings) -> None:
    """Wait until enough events arrived, or enough time passed with at least one (or an integrity
    check is due: the loop checks that itself)."""
    started = time.monotonic()
    while time.monotonic() - started < settings.integrity_check_hours * 3600:
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        waiting = await store.last_position() - signed_size
        overdue = time.monotonic() - signed_at >= settings.checkpoint_every_minutes * 60
        if waiting >= settings.checkpoint_every_events or (waiting and (overdue or not signed_size)):
            return  # the first events of a new log are signed at once


# -- audit prove / check-proof ---------------------------------------------------------------------
async def _stored_at(store: EventStore, position: int) -> StoredEvent | None:
    async for stored in store.read(from_position=position, until_position=position):
        return stored if stored.position == position else None
    return None


async def _position_of(store: EventStore, event: str) -> int | None:
    """A position as given, or the position of the event with this id (one walk of the log)."""
    if event.isdigit():
        return int(event)
    async for stored in store.read():
        try:
            if store.codec.envelope_of(stored)[0].event_id == event:
                return stored.position
        except ValueError:
            continue
    return None


async def run_prove(
    store: EventStore, settings: Settings, event: str, files: list[Path] | None, key: str | None
) -> int:
    """Print an inclusion proof of one event in a checkpoint's tree, as JSON."""
    verifying = verifier(settings, key)
    async with tiles_and_checkpoints(settings) as (tiles, checkpoints):
        notes = checkpoint_notes(checkpoints, files)
        if not notes:
            raise CouldNotRun("no checkpoint yet: run `fourlinks audit checkpoint` first")
        checkpoint = _checkpoint(notes[-1], verifying)
        position = await _position_of(store, event)
        stored = await _stored_at(store, position) if position else None
        if stored is None or position is None:
            print(f"{event}: no such event in the log", file=sys.stderr)
            return FINDINGS
        if position > checkpoint.size:
            print(
                f"position {position:,} is after the checkpoint ({checkpoint.size:,}): "
                "prove it against the next one",
                file=sys.stderr,
            )
            return FINDINGS
        if tiles.size < checkpoint.size or root_of(tiles, checkpoint.size) != checkpoint.root:
            print("the tiles do not match the checkpoint: run `fourlinks audit verify`", file=sys.stderr)
            return FINDINGS
        proof = inclusion_proof(tiles, position - 1, checkpoint.size)
    answer = {
        "checkpoint": notes[-1][1],
        "tree_size": checkpoint.size,
        "leaf_index": position - 1,
        "event": {
            "position": stored.position,
            "subject": stored.subject,
            "event_type": stored.event_type,
            "payload_base64": base64.b64encode(stored.payload).decode(),
        },
        "inclusion_path": [base64.b64encode(h).decode() for h in proof],
    }
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return INTACT


def check_proof(proof: dict[str, Any], key: VerifierKey, checkpoint_note: str | None) -> str | None:
    """Why an inclusion proof fails (None when it holds), with only the public key, the
    checkpoint (the auditor's own copy if given) and the event's bytes in the proof."""
    try:
        checkpoint = read_checkpoint(checkpoint_note or proof["checkpoint"], key)
        event = proof["event"]
        data = leaf_data(
            event["position"],
            event["subject"],
            event["event_type"],
            base64.b64decode(event["payload_base64"]),
        )
        path = [base64.b64decode(h) for h in proof["inclusion_path"]]
        if event["position"] != proof["leaf_index"] + 1:
            return "the event's position is not its leaf's"
        root = root_from_inclusion(proof["leaf_index"], checkpoint.size, leaf_hash(data), path)
    except (NoteError, KeyError, TypeError, ValueError) as exc:
        return str(exc)
    return None if root == checkpoint.root else "the proof does not lead to the checkpoint's root"


def run_check_proof(
    proof_file: Path, key_text: str | None, settings: Settings, checkpoint_file: Path | None
) -> int:
    key = verifier(settings, key_text)
    try:
        proof = json.loads(proof_file.read_text())
        own = checkpoint_file.read_text() if checkpoint_file else None
    except (OSError, ValueError) as exc:
        raise CouldNotRun(f"cannot read the proof or the checkpoint: {exc}") from exc
    problem = check_proof(proof, key, own)
    if problem:
        print(f"not proven: {problem}")
        return FINDINGS
    print(
        f"proven: position {proof['event']['position']:,} is in the log of "
        f"{proof['tree_size']:,} events the checkpoint signed"
    )
    return INTACT


# -- audit consistency -----------------------------------------------------------------------------
async def run_consistency(
    settings: Settings, old_file: Path, new_file: Path, key: str | None, as_json: bool
) -> int:
    """Prove (from the tiles) and check that the log at NEW extends the log at OLD unchanged."""
    verifying = verifier(settings, key)
    old, new = (_checkpoint(note, verifying) for note in read_files([old_file, new_file]))
    if old.size > new.size:
        old, new = new, old
    async with tiles_and_checkpoints(settings) as (tiles, _):
        if tiles.size < new.size or root_of(tiles, new.size) != new.root:
            print(
                "the tiles do not hold the newer checkpoint's tree: run `fourlinks audit verify`",
                file=sys.stderr,
            )
            return FINDINGS
        proof = consistency_proof(tiles, old.size, new.size) if old.size else []
    holds = old.size == 0 or check_consistency(old.size, new.size, old.root, new.root, proof)
    answer = {
        "old": {"size": old.size, "root": base64.b64encode(old.root).decode()},
        "new": {"size": new.size, "root": base64.b64encode(new.root).decode()},
        "consistency_path": [base64.b64encode(h).decode() for h in proof],
        "consistent": holds,
    }
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        verdict = "extends" if holds else "does NOT extend"
        print(f"the log at {new.size:,} {verdict} the log at {old.size:,} ({len(proof)} hashes of proof)")
    return INTACT if holds else FINDINGS


def findings_as_json(findings: list[Any]) -> list[dict[str, Any]]:
    return [asdict(f) for f in findings]
