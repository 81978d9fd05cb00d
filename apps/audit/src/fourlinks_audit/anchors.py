"""`fourlinks audit checkpoint | prove | check-proof | consistency | keygen | public-key`, and the
checkpoint half of `audit verify`: the commands of the transparency log (docs/audit.md).

Exit codes: 0 intact (or done), 1 findings, 2 could not run."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import make_url

from fourlinks_audit.merkle import check_consistency, consistency_proof, inclusion_proof, leaf_data, root_of
from fourlinks_audit.notes import Checkpoint, NoteError, SignerKey, VerifierKey, read_checkpoint
from fourlinks_audit.proofs import InclusionProof, ProofError
from fourlinks_audit.seen import consumer_positions, read_model_positions
from fourlinks_audit.tiles import PublishedTiles, TileStore
from fourlinks_audit.transparency import (
    CheckpointRefused,
    CheckpointStore,
    LogGap,
    LogRewound,
    catch_up,
    check_integrity,
    checkpoint_store,
    origin_changed,
    write_checkpoint,
)
from fourlinks_audit.witnessing import WitnessConfigError, Witnesses, parse_witnesses, quorum_of
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
FOLLOW_POLL_SECONDS = 0.5  # how often the follower asks the stream for its last position


class CouldNotRun(RuntimeError):
    """Something the command needs is missing or unreadable (exit 2)."""


def log_origin(settings: Settings, checkpoints: CheckpointStore, key: SignerKey) -> str:
    """Which log the checkpoints speak of: the origin the first checkpoint fixed, else the one
    configured (FOURLINKS_LOG_ORIGIN), else the signing key's name. A configured origin other than
    the fixed one is refused; a new log's origin must be its key's name (C2SP: one name for both)."""
    latest = checkpoints.latest()
    fixed = Checkpoint.of_note(latest[1]).origin if latest else None
    configured = settings.log_origin
    if fixed and configured and fixed != configured:
        raise CouldNotRun(origin_changed(fixed, configured))
    origin = fixed or configured or key.name
    if fixed is None and origin != key.name:
        raise CouldNotRun(
            f"the log's origin is {origin!r} but the checkpoint key is named {key.name!r}: a log and its "
            f"key share one name; make a key with `fourlinks audit keygen --name {origin}`"
        )
    return origin


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


async def seen_positions(store: EventStore, settings: Settings, tiles: TileStore) -> dict[str, int]:
    """The furthest positions the read models, the durable consumers and these tiles have seen."""
    seen = await read_model_positions(settings)
    if isinstance(store, JetStreamEventStore):
        seen.update(await consumer_positions(store.nc, settings.stream))
    seen["checkpointer's tiles"] = tiles.size
    return seen


def add_key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        default=None,
        help="the verifier key (name+hash+base64, or a file holding it); default: the configured one",
    )


def witnesses_of(settings: Settings) -> Witnesses:
    """The witnesses that cosign the checkpoints (FOURLINKS_WITNESSES) and their quorum."""
    try:
        endpoints = parse_witnesses(settings.witnesses)
        return Witnesses(endpoints, quorum_of(settings.witness_quorum, len(endpoints)))
    except WitnessConfigError as exc:
        raise CouldNotRun(str(exc)) from exc


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
    signing the published checkpoint within `checkpoint_seconds` of new events, keep one for good
    every `checkpoint_every_events` events or `checkpoint_every_minutes`, run the whole integrity
    check every `integrity_check_hours`, and publish checkpoint and tiles on `serve` (host, port)."""
    key, witnesses = signer(settings), witnesses_of(settings)
    async with tiles_and_checkpoints(settings) as (tiles, checkpoints):
        origin = log_origin(settings, checkpoints, key)
        if rebuild:
            tiles.drop()
        if not follow:
            return await _sign_once(store, tiles, key, origin, checkpoints, witnesses=witnesses)
        published = PublishedTiles(tiles.engine)
        server = (
            asyncio.create_task(_publish(checkpoints, published, serve, settings, witnesses))
            if serve
            else None
        )
        try:
            await _follow(
                store,
                tiles,
                key=key,
                origin=origin,
                settings=settings,
                checkpoints=checkpoints,
                witnesses=witnesses,
            )
        finally:
            if server:
                server.cancel()
    return INTACT


async def _sign_once(
    store: EventStore,
    tiles: TileStore,
    key: SignerKey,
    origin: str,
    checkpoints: CheckpointStore,
    *,
    witnesses: Witnesses,
) -> int:
    try:
        await catch_up(store, tiles, progress=True)
        note, _ = write_checkpoint(tiles, key, origin, checkpoints)
    except (LogGap, LogRewound, CheckpointRefused) as exc:
        print(str(exc), file=sys.stderr)
        return FINDINGS
    if witnesses:
        witnesses.log = structlog.wrap_logger(structlog.PrintLogger(sys.stderr))  # stdout: the checkpoint
        note = await witnessed(tiles, checkpoints, witnesses, kept_size=Checkpoint.of_note(note).size) or note
        for state in witnesses.states:
            if state.error:
                print(
                    f"no cosignature of the witness {state.endpoint.key.name}: {state.error}", file=sys.stderr
                )
    sys.stdout.write(note)
    return INTACT


async def witnessed(
    tiles: TileStore, checkpoints: CheckpointStore, witnesses: Witnesses, *, kept_size: int
) -> str | None:
    """Ask the witnesses for the cosignatures the latest checkpoint lacks, store it with them
    (kept for good too if it is the one of `kept_size`), and publish it once the quorum cosigned."""
    latest = checkpoints.latest()
    if latest is None:
        return None
    note = await witnesses.cosign(latest[1], tiles)
    size = Checkpoint.of_note(note).size
    if note != latest[1]:
        checkpoints.add(size, note, kept=size == kept_size)
    published = checkpoints.published()
    if witnesses.quorum and witnesses.published(note) and (published is None or published[1] != note):
        checkpoints.publish(note)
    return note


@dataclass
class _Cadence:
    """When the follower last signed (or tried to); the size and time of the last one kept for good."""

    signed_at: float
    kept_size: int = 0  # a restarted follower keeps its first checkpoint
    kept_at: float = field(default_factory=time.monotonic)

    def keep_due(self, size: int, settings: Settings) -> bool:
        """Whether the checkpoint of `size` is one to keep for good, not only to publish."""
        overdue = time.monotonic() - self.kept_at >= settings.checkpoint_every_minutes * 60
        return size - self.kept_size >= settings.checkpoint_every_events or (
            size > self.kept_size and (overdue or not self.kept_size)
        )


async def _follow(
    store: EventStore,
    tiles: TileStore,
    *,
    key: SignerKey,
    origin: str,
    settings: Settings,
    checkpoints: CheckpointStore,
    witnesses: Witnesses,
) -> None:
    cadence, checked_at = _Cadence(time.monotonic() - settings.checkpoint_seconds), float("-inf")
    wake_at = math.inf  # when a witness missing from the latest checkpoint is asked again
    while True:
        try:
            await catch_up(store, tiles)
            keep = cadence.keep_due(tiles.size, settings)
            note, new = write_checkpoint(tiles, key, origin, checkpoints, kept=keep)
            if keep:
                cadence.kept_size, cadence.kept_at = tiles.size, cadence.signed_at
                log.info("checkpoint_kept", size=tiles.size)
            elif new:
                log.debug("checkpoint_signed", size=tiles.size)
            if witnesses:
                # A witness down or refusing is said and asked again later; signing goes on.
                note = await witnessed(tiles, checkpoints, witnesses, kept_size=cadence.kept_size) or note
                wake_at = witnesses.next_attempt(note)
        except (LogGap, LogRewound, CheckpointRefused) as exc:
            # A finding is for people to settle (audit verify); a checkpointer that exited would
            # only be restarted into the same refusal. It keeps checking and publishing meanwhile.
            log.error("checkpoint_refused", reason=str(exc))
        cadence.signed_at = time.monotonic()
        if tiles.size and time.monotonic() - checked_at >= settings.integrity_check_hours * 3600:
            checked_at = time.monotonic()
            seen = await seen_positions(store, settings, tiles)
            found = await check_integrity(
                store,
                tiles,
                checkpoints.notes(),
                key.verifier,
                progress=False,
                signers=signers_of(settings),
                seen=seen,
            )
            checkpoints.keep_integrity(json.dumps(found.answer(), ensure_ascii=False))
            log.info(
                "integrity_checked", intact=found.intact, events=found.events, findings=len(found.findings)
            )
        await _until_due(store, tiles.size, cadence.signed_at, settings, wake_at=wake_at)


async def _publish(
    checkpoints: CheckpointStore,
    tiles: PublishedTiles,
    where: tuple[str, int],
    settings: Settings,
    witnesses: Witnesses,
) -> None:
    # Only a following checkpointer serves HTTP: verify, prove and rebuilds load nothing of the web.
    import uvicorn  # noqa: PLC0415

    from fourlinks_audit.published import published_app  # noqa: PLC0415

    app = published_app(
        checkpoints, settings.signers_path(), tiles=tiles, settings=settings, witnesses=witnesses or None
    )
    config = uvicorn.Config(app, host=where[0], port=where[1], log_level="warning")
    await uvicorn.Server(config).serve()


async def _until_due(
    store: EventStore, signed_size: int, signed_at: float, settings: Settings, *, wake_at: float = math.inf
) -> None:
    """Wait until events arrived and `checkpoint_seconds` passed since the last signing (the
    first events of a new log at once), a witness is to be asked again (`wake_at`, monotonic), or
    an integrity check is due (the loop checks that)."""
    started = time.monotonic()
    while time.monotonic() - started < settings.integrity_check_hours * 3600:
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        if time.monotonic() >= wake_at:
            return
        last, waited = await store.last_position(), time.monotonic() - signed_at
        if last > signed_size and (waited >= settings.checkpoint_seconds or not signed_size):
            return
        if last < signed_size and waited >= settings.checkpoint_every_minutes * 60:
            return  # a log gone backwards: said again now and then, not every few seconds


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
    """Print an inclusion proof of one event in a checkpoint's tree, as a C2SP tlog-proof."""
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
        path = inclusion_proof(tiles, position - 1, checkpoint.size)
    data = leaf_data(stored.position, stored.subject, stored.event_type, stored.payload)
    sys.stdout.write(InclusionProof(position - 1, data, path, notes[-1][1]).text())
    return INTACT


def run_check_proof(
    proof_file: Path, key_text: str | None, settings: Settings, checkpoint_file: Path | None
) -> int:
    """Check a proof offline (a tlog-proof, or an earlier release's JSON): 0 proven, 1 not."""
    key = verifier(settings, key_text)
    try:
        text = proof_file.read_text()
        own = checkpoint_file.read_text() if checkpoint_file else None
    except OSError as exc:
        raise CouldNotRun(f"cannot read the proof or the checkpoint: {exc}") from exc
    try:
        proof = InclusionProof.parse(text)
        problem = proof.problem(key, own)
    except ProofError as exc:
        problem = str(exc)
    if problem:
        print(f"not proven: {problem}")
        return FINDINGS
    size = Checkpoint.of_note(own or proof.note).size
    print(f"proven: position {proof.position:,} is in the log of {size:,} events the checkpoint signed")
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
