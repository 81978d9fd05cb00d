"""The transparency log over the events stream: the tiles kept up with it, signed checkpoints kept
outside it, and what `audit verify` finds when the stream no longer matches them."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, MetaData, Table, Text, select

from fourlinks_audit.merkle import LeafList, first_difference, leaf_data, leaf_hash, root_of
from fourlinks_audit.notes import (
    Checkpoint,
    NoteError,
    SignerKey,
    VerifierKey,
    read_checkpoint,
    signed_checkpoint,
)
from fourlinks_audit.seen import went_back
from fourlinks_audit.tiles import TileStore
from fourlinks_audit.verify import Finding, verify
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.rows import upsert_row
from fourlinks_kernel.signing import Signers
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.progress import Progress

APPEND_BATCH = 10_000


def leaf_of(stored: StoredEvent) -> bytes:
    """The leaf hash of one stored event."""
    return leaf_hash(leaf_data(stored.position, stored.subject, stored.event_type, stored.payload))


class LogGap(RuntimeError):
    """The stream skips a position: it denies delete, so something removed an event."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"position {expected} is missing from the stream (the next one is {found})")
        self.expected, self.found = expected, found


class LogRewound(RuntimeError):
    """The stream no longer holds what the tiles were built from at their end."""


async def catch_up(store: EventStore, tiles: TileStore, *, progress: bool = False) -> int:
    """Add the stream's events after the tiles' size to the tiles; how many were added. Refuses
    (LogRewound) when the stream is shorter than the tiles or its event at their end differs: an
    older copy restored, or the stream recreated."""
    last = await store.last_position()
    await _still_extends(store, tiles, last)
    bar = Progress("tiles", last - tiles.size) if progress and last > tiles.size else None
    batch: list[bytes] = []
    added = 0
    async for stored in store.read(from_position=tiles.size + 1):
        expected = tiles.size + len(batch) + 1
        if stored.position != expected:
            raise LogGap(expected, stored.position)
        batch.append(leaf_of(stored))
        if len(batch) == APPEND_BATCH:
            tiles.append(batch)
            added, batch = added + len(batch), []
        if bar:
            bar.advance()
    tiles.append(batch)
    if bar:
        bar.finish()
    return added + len(batch)


async def _still_extends(store: EventStore, tiles: TileStore, last: int) -> None:
    if tiles.size == 0:
        return
    if last < tiles.size:
        raise LogRewound(
            f"the stream ends at position {last:,} but {tiles.size:,} events were seen before: "
            "nothing was signed; run `fourlinks audit verify`"
        )
    async for stored in store.read(from_position=tiles.size, until_position=tiles.size):
        if stored.position == tiles.size and leaf_of(stored) == tiles.subtree(tiles.size - 1, tiles.size):
            return
    raise LogRewound(
        f"the event at position {tiles.size:,} is not the one seen before: nothing was signed; "
        "run `fourlinks audit verify`"
    )


# -- where checkpoints are kept -------------------------------------------------------------------------
def _size_of(note: str) -> int:
    return Checkpoint.of_note(note).size


def _with_latest(kept: list[tuple[str, str]], latest: tuple[str, str] | None) -> list[tuple[str, str]]:
    """The kept checkpoints and, after them, the latest one if it is newer than they are."""
    if latest is None or (kept and _size_of(kept[-1][1]) >= _size_of(latest[1])):
        return kept
    return [*kept, latest]


class CheckpointDirectory:
    """Checkpoints as files `<size>.checkpoint` in a directory (the embedded default, under var/),
    and the latest one signed, kept or not, as `latest`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def notes(self) -> list[tuple[str, str]]:
        """(name, signed note) of every kept checkpoint and the latest one, smallest first."""
        if not self.path.is_dir():
            return []
        kept = [(str(f), f.read_text()) for f in sorted(self.path.glob("*.checkpoint"))]
        slot = self.path / LATEST_FILE
        return _with_latest(kept, (str(slot), slot.read_text()) if slot.exists() else None)

    def latest(self) -> tuple[str, str] | None:
        """(name, signed note) of the latest checkpoint signed, without reading the others."""
        slot = self.path / LATEST_FILE
        if slot.exists():
            return str(slot), slot.read_text()
        kept = sorted(self.path.glob("*.checkpoint")) if self.path.is_dir() else []
        return (str(kept[-1]), kept[-1].read_text()) if kept else None

    def add(self, size: int, note: str, *, kept: bool = True) -> str:
        """Store a newly signed checkpoint as the latest; `kept` also keeps it for good."""
        name = str(self._write(f"{size:012d}.checkpoint", note)) if kept else str(self.path / LATEST_FILE)
        self._write(LATEST_FILE, note)
        return name

    def publish(self, note: str) -> None:
        """The latest checkpoint the witnesses' quorum cosigned: what /checkpoint serves when
        witnesses are required."""
        self._write(PUBLISHED_FILE, note)

    def published(self) -> tuple[str, str] | None:
        slot = self.path / PUBLISHED_FILE
        return (str(slot), slot.read_text()) if slot.exists() else None

    def keep_integrity(self, answer: str) -> None:
        """The latest integrity check's result (JSON), beside the checkpoints."""
        self._write(INTEGRITY_FILE, answer)

    def integrity(self) -> str | None:
        path = self.path / INTEGRITY_FILE
        return path.read_text() if path.exists() else None

    def _write(self, name: str, text: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        partial = target.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(target)  # a reader never sees half a file
        return target


INTEGRITY_FILE = "integrity.json"
LATEST_FILE = "latest"
PUBLISHED_FILE = "published"
LATEST_ROW, PUBLISHED_ROW = 1, 2  # audit_latest_checkpoint: the latest signed, the latest published
checkpoints_metadata = MetaData()
checkpoint_rows = Table(
    "audit_checkpoints",
    checkpoints_metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
)
integrity_rows = Table(
    "audit_integrity",
    checkpoints_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("result", Text, nullable=False),
)
latest_rows = Table(
    "audit_latest_checkpoint",
    checkpoints_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
)


class CheckpointTable:
    """Checkpoints as rows of a PostgreSQL table (production); never dropped with the tiles."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        checkpoints_metadata.create_all(engine)

    def notes(self) -> list[tuple[str, str]]:
        query = select(checkpoint_rows.c.tree_size, checkpoint_rows.c.note).order_by(
            checkpoint_rows.c.tree_size
        )
        with self.engine.connect() as conn:
            kept = [(f"checkpoint {size}", note) for size, note in conn.execute(query).all()]
        return _with_latest(kept, self.latest())

    def latest(self) -> tuple[str, str] | None:
        """(name, signed note) of the latest checkpoint signed, without reading the others."""
        query = select(latest_rows.c.tree_size, latest_rows.c.note).where(latest_rows.c.id == 1)
        kept = (
            select(checkpoint_rows.c.tree_size, checkpoint_rows.c.note)
            .order_by(checkpoint_rows.c.tree_size.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first() or conn.execute(kept).first()
        return (f"checkpoint {row.tree_size}", row.note) if row else None

    def add(self, size: int, note: str, *, kept: bool = True) -> str:
        """Store a newly signed checkpoint as the latest; `kept` also keeps it for good."""
        row = {"tree_size": size, "note": note, "written_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            if kept:
                upsert_row(conn, checkpoint_rows, row, ["tree_size"])
            upsert_row(conn, latest_rows, {"id": 1, "tree_size": size, "note": note}, ["id"])
        return f"checkpoint {size}"

    def publish(self, note: str) -> None:
        """The latest checkpoint the witnesses' quorum cosigned."""
        row = {"id": PUBLISHED_ROW, "tree_size": _size_of(note), "note": note}
        with self.engine.begin() as conn:
            upsert_row(conn, latest_rows, row, ["id"])

    def published(self) -> tuple[str, str] | None:
        query = select(latest_rows.c.tree_size, latest_rows.c.note).where(latest_rows.c.id == PUBLISHED_ROW)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (f"checkpoint {row.tree_size}", row.note) if row else None

    def keep_integrity(self, answer: str) -> None:
        with self.engine.begin() as conn:
            upsert_row(conn, integrity_rows, {"id": 1, "result": answer}, ["id"])

    def integrity(self) -> str | None:
        with self.engine.connect() as conn:
            found: str | None = conn.scalar(select(integrity_rows.c.result).where(integrity_rows.c.id == 1))
        return found


CheckpointStore = CheckpointDirectory | CheckpointTable


def checkpoint_store(engine: Engine, var_dir: Path) -> CheckpointStore:
    """A PostgreSQL table where the audit read model lives in PostgreSQL, else var/checkpoints/."""
    return (
        CheckpointTable(engine)
        if engine.dialect.name == "postgresql"
        else CheckpointDirectory(var_dir / "checkpoints")
    )


# -- writing checkpoints -----------------------------------------------------------------------------
class CheckpointRefused(RuntimeError):
    """The log no longer extends the latest checkpoint: signing it now would bless a change."""


class OriginChanged(CheckpointRefused):
    """The configured origin is not the one the log's checkpoints were signed under."""


def write_checkpoint(
    tiles: TileStore, key: SignerKey, origin: str, store: CheckpointStore, *, kept: bool = True
) -> tuple[str, bool]:
    """Sign the tiles' root as the next checkpoint, if the log grew and still extends the latest one;
    `kept` keeps it for good (else it only replaces the latest). Returns the latest signed note and
    whether it is new."""
    latest = store.latest()
    if latest:
        signed = read_checkpoint(latest[1], key.verifier)
        if signed.origin != origin:
            raise OriginChanged(origin_changed(signed.origin, origin))
        if signed.size > tiles.size or root_of(tiles, signed.size) != signed.root:
            raise CheckpointRefused(
                f"the log no longer extends checkpoint {signed.size} ({latest[0]}): "
                "nothing was signed; run `fourlinks audit verify` to see where it differs"
            )
        if signed.size == tiles.size:
            if kept:
                store.add(signed.size, latest[1], kept=True)
            return latest[1], False
    note = signed_checkpoint(Checkpoint(origin, tiles.size, root_of(tiles)), key)
    store.add(tiles.size, note, kept=kept)
    return note, True


def origin_changed(fixed: str, configured: str) -> str:
    """Why a checkpoint under another origin is refused, and what to do."""
    return (
        f"the log's origin is {fixed!r} (fixed by its first checkpoint) but {configured!r} is configured: "
        "the origin names the log to every auditor and witness and cannot change; set "
        f"FOURLINKS_LOG_ORIGIN={fixed} (and a checkpoint key of that name), or start a new log"
    )


# -- the whole integrity check ---------------------------------------------------------------------
@dataclass(frozen=True)
class Integrity:
    """What one `audit verify` found: the chains, the missing positions, every checkpoint."""

    checked_at: datetime
    events: int
    aggregates: int
    checkpoints: list[CheckedCheckpoint]
    findings: list[Finding]
    signatures_checked: bool = False

    @property
    def intact(self) -> bool:
        return not self.findings

    def answer(self) -> dict[str, Any]:
        """As JSON: what `audit verify --json` prints and the checkpointer keeps."""
        return {
            "intact": self.intact,
            "checked_at": self.checked_at.isoformat(),
            "events": self.events,
            "aggregates": self.aggregates,
            "checkpoints": [asdict(c) for c in self.checkpoints],
            "signatures_checked": self.signatures_checked,
            "findings": [asdict(f) for f in self.findings],
        }


async def check_integrity(
    store: EventStore,
    tiles: TileStore,
    notes: Sequence[tuple[str, str]],
    key: VerifierKey | None,
    *,
    progress: bool,
    signers: Signers | None = None,
    seen: Mapping[str, int] | None = None,
) -> Integrity:
    """One walk of the stream: every chain, every position, every signature (with `signers`), the
    tree against the checkpoints, and the log's end against the positions others have `seen`
    (read before the walk, so an event appended meanwhile is no finding)."""
    leaves = LeafCollector()
    report = await verify(store, progress=progress, observe=leaves, signers=signers)
    checked, late = check_checkpoints(leaves, notes, key, tiles) if key else ([], [])
    findings = [*report.findings, *leaves.gap_findings(), *late, *went_back(leaves.last, seen or {})]
    return Integrity(
        datetime.now(UTC), report.events, report.aggregates, checked, findings, signers is not None
    )


# -- verifying the log against checkpoints -----------------------------------------------------------------
@dataclass
class LeafCollector:
    """The stream's leaves as `verify` walks it (the same walk as the chain check: one read)."""

    tree: LeafList = field(default_factory=LeafList)
    last: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, stored: StoredEvent) -> None:
        if stored.position != self.last + 1:
            self.gaps.append((self.last + 1, stored.position - 1))
        elif not self.gaps:  # the tree covers the positions up to the first gap
            self.tree.append(leaf_of(stored))
        self.last = max(self.last, stored.position)

    def gap_findings(self) -> list[Finding]:
        return [
            Finding(
                first,
                "log",
                "missing",
                f"positions {first}..{last} are not in the stream, which denies delete",
            )
            for first, last in self.gaps
        ]


@dataclass(frozen=True)
class CheckedCheckpoint:
    """One checkpoint as verify saw it."""

    name: str
    size: int
    root: str
    intact: bool


def check_checkpoints(
    leaves: LeafCollector, notes: Sequence[tuple[str, str]], key: VerifierKey, tiles: TileStore | None
) -> tuple[list[CheckedCheckpoint], list[Finding]]:
    """Each checkpoint against the tree recomputed from the stream: a bad signature, a log shorter
    than the checkpoint, or a different root, each with the first position that differs."""
    checked: list[CheckedCheckpoint] = []
    findings: list[Finding] = []
    matching = 0  # the largest checkpoint the log still extends
    for name, note in notes:
        try:
            checkpoint = read_checkpoint(note, key)
        except NoteError as exc:
            findings.append(Finding(0, name, "forged", str(exc)))
            continue
        intact = (
            leaves.tree.size >= checkpoint.size and root_of(leaves.tree, checkpoint.size) == checkpoint.root
        )
        checked.append(
            CheckedCheckpoint(name, checkpoint.size, base64.b64encode(checkpoint.root).decode(), intact)
        )
        if intact:
            matching = max(matching, checkpoint.size)
        else:
            findings.append(_where_it_differs(leaves, checkpoint, name, tiles, matching))
    return checked, findings


def _where_it_differs(
    leaves: LeafCollector, checkpoint: Checkpoint, name: str, tiles: TileStore | None, matching: int
) -> Finding:
    n = checkpoint.size
    if tiles is not None and tiles.size >= n and root_of(tiles, n) == checkpoint.root:
        index = first_difference(tiles, leaves.tree, n)
        assert index is not None  # the roots differ, so some leaf does
        return _finding(leaves, index + 1, name, n)
    if leaves.tree.size < n:
        return _finding(leaves, leaves.tree.size + 1, name, n)
    return Finding(
        matching + 1,
        name,
        "altered",
        f"the log's root at {n:,} differs from the checkpoint's; it still extends checkpoint {matching:,}, "
        "so the first change is after that (the tiles were rebuilt from this log and cannot say where)",
    )


def _finding(leaves: LeafCollector, position: int, name: str, size: int) -> Finding:
    if position > leaves.last:
        return Finding(
            position,
            name,
            "truncated",
            f"the log ends at position {leaves.last:,} but the checkpoint holds {size:,}: positions "
            f"{position:,}..{size:,} are gone (cut off, or an older copy of the store was restored)",
        )
    if any(first <= position <= last for first, last in leaves.gaps):
        return Finding(
            position, name, "missing", f"position {position:,} of the checkpoint's {size:,} is not in the log"
        )
    return Finding(
        position,
        name,
        "altered",
        f"position {position:,} is not the event the checkpoint of {size:,} signed: "
        "altered, replaced or reordered",
    )
