"""`fourlinks audit verify --remote URL`: an outside auditor's check of a published log with only
its public key and URL — the checkpoint's signature, its root rebuilt from the published tiles
(C2SP tlog-tiles), given events' inclusion, and that the log only grew since the checkpoint the
auditor saved last time (kept in a local file, replaced only by one that extends it), and the
cosignatures of the witnesses the auditor trusts (C2SP tlog-cosignature) against a quorum."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fourlinks_audit.cosignatures import WitnessKey
from fourlinks_audit.merkle import (
    check_consistency,
    consistency_proof,
    fold,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_of,
    split,
)
from fourlinks_audit.notes import Checkpoint, NoteError, VerifierKey, read_checkpoint
from fourlinks_audit.proofs import InclusionProof, ProofError
from fourlinks_audit.tiles import HASH, HEIGHT, WIDTH, TileName

FETCH_SECONDS = 30.0


class Unreachable(RuntimeError):
    """The published log did not answer, or answered what no log serves."""


def fetch(url: str) -> bytes:
    """GET one published resource."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_SECONDS) as reply:  # noqa: S310 (an auditor's URL)
            body: bytes = reply.read()
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"GET {url}: {exc}") from exc
    return body


@dataclass
class RemoteTree:
    """The tree of a published checkpoint, read from its tiles as needed: any subtree hash is at
    most 128 tile hashes folded. Trusted only through what is checked against signed roots."""

    url: str
    size: int
    fetched: dict[TileName, bytes] = field(default_factory=dict)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of the leaves [start, end)."""
        n = end - start
        height = n.bit_length() - 1
        if n == 1 << height and start % n == 0:
            return self._node(height, start >> height)
        k = split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def _node(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, HEIGHT)
        first, count = index << rest, 1 << rest
        tile = self._tile(level, first // WIDTH)
        run = tile[(first % WIDTH) * HASH : (first % WIDTH + count) * HASH]
        if len(run) != count * HASH:
            raise Unreachable(f"the tiles of level {level} end before hash {first + count}")
        return fold([run[i : i + HASH] for i in range(0, len(run), HASH)])

    def _tile(self, level: int, index: int) -> bytes:
        hashes = self.size >> (HEIGHT * level)
        name = TileName(level, index, min(WIDTH, hashes - index * WIDTH))
        if name not in self.fetched:
            body = fetch(f"{self.url}/{name.path()}")
            if len(body) != name.width * HASH:
                raise Unreachable(f"{name.path()} holds {len(body)} bytes, not {name.width * HASH}")
            self.fetched[name] = body
        return self.fetched[name]


@dataclass
class RemoteReport:
    """What the remote check found: what held, in order, and what did not."""

    held: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Witnessed:
    """The witnesses an auditor trusts and how many of them must have cosigned (default: a majority)."""

    keys: list[WitnessKey] = field(default_factory=list)
    quorum: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.needed <= len(self.keys):
            raise NoteError(f"a quorum of {self.needed} is more than the {len(self.keys)} witness keys given")

    @property
    def needed(self) -> int:
        if self.quorum is not None:
            return self.quorum
        return len(self.keys) // 2 + 1 if self.keys else 0


def verify_remote(
    url: str,
    key: VerifierKey,
    *,
    proofs: list[Path],
    state: Path | None,
    witnesses: Witnessed | None = None,
) -> RemoteReport:
    """Check the published log at `url` with `key` only (Unreachable, NoteError when it cannot)."""
    report = RemoteReport()
    note = fetch(f"{url}/checkpoint").decode()
    checkpoint = read_checkpoint(note, key)
    report.held.append(f"checkpoint {checkpoint.origin} of {checkpoint.size:,} events: signed by {key.name}")
    if checkpoint.origin != key.name:
        report.findings.append(f"the origin {checkpoint.origin!r} is not the key's name {key.name!r}")
    if witnesses and witnesses.keys:
        _check_cosignatures(note, witnesses, report)
    tree = RemoteTree(url, checkpoint.size)
    if root_of(tree) != checkpoint.root:
        report.findings.append("the published tiles do not give the signed root")
        return report
    report.held.append(f"the signed root rebuilt from {len(tree.fetched)} published tiles")
    for path in proofs:
        _check_event(path, key, tree, checkpoint, report)
    if state is not None:
        _check_grown(state, key, tree, current=checkpoint, note=note, report=report)
    return report


def _check_cosignatures(note: str, witnesses: Witnessed, report: RemoteReport) -> None:
    """Each trusted witness's cosignature on the checkpoint, and whether the quorum cosigned."""
    cosigned: list[str] = []
    for witness in witnesses.keys:
        try:
            at = witness.cosigned_at(note)
        except NoteError as exc:
            report.findings.append(str(exc))
            continue
        if at is not None:
            cosigned.append(witness.name)
            moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
            report.held.append(f"cosigned by the witness {witness.name} at {moment}")
    missing = [w.name for w in witnesses.keys if w.name not in cosigned]
    if len(cosigned) < witnesses.needed:
        report.findings.append(
            f"{len(cosigned)} of the {len(witnesses.keys)} witnesses cosigned the checkpoint, "
            f"{witnesses.needed} needed (none from {', '.join(missing)}): it may be a view shown to you alone"
        )
    else:
        report.held.append(
            f"{len(cosigned)} of {len(witnesses.keys)} witnesses cosigned it ({witnesses.needed} needed)"
        )


def _check_event(
    path: Path, key: VerifierKey, tree: RemoteTree, current: Checkpoint, report: RemoteReport
) -> None:
    """An event's proof holds, and the published tree holds the same leaf at its index."""
    try:
        proof = InclusionProof.parse(path.read_text())
    except (OSError, ProofError) as exc:
        report.findings.append(f"{path}: {exc}")
        return
    problem = proof.problem(key)
    if problem is None and proof.index >= current.size:
        problem = f"position {proof.position:,} is after the published checkpoint ({current.size:,})"
    if problem is None:
        here = inclusion_proof(tree, proof.index, current.size)
        if root_from_inclusion(proof.index, current.size, leaf_hash(proof.data), here) != current.root:
            problem = f"the published log does not hold this event at position {proof.position:,}"
    if problem:
        report.findings.append(f"{path}: {problem}")
    else:
        report.held.append(f"{path}: position {proof.position:,} is in the published log")


def _check_grown(
    state: Path, key: VerifierKey, tree: RemoteTree, *, current: Checkpoint, note: str, report: RemoteReport
) -> None:
    """The log extends the checkpoint saved last time; the current one is saved in its place."""
    if state.exists():
        try:
            saved = read_checkpoint(state.read_text(), key)
        except NoteError as exc:
            report.findings.append(f"{state}: {exc}")
            return
        if not _extends(tree, saved, current):
            report.findings.append(
                f"the log of {current.size:,} events does not extend the one of {saved.size:,} saved in "
                f"{state}: it went back or was rewritten (a split view, if others were shown the other)"
            )
            return
        report.held.append(
            f"the log grew from {saved.size:,} (saved in {state}) to {current.size:,}, unchanged"
        )
    state.write_text(note)


def _extends(tree: RemoteTree, old: Checkpoint, new: Checkpoint) -> bool:
    if old.size > new.size:
        return False
    if old.size == 0:
        return True
    proof = consistency_proof(tree, old.size, new.size)
    return check_consistency(old.size, new.size, old.root, new.root, proof)
