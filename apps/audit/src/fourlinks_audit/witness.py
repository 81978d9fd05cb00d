"""`fourlinks witness`: a witness any other party runs (a district's discipline inspection
commission, a neighbouring district, a university) per C2SP `tlog-witness`. It keeps, for each log
it witnesses, the size and root of the last checkpoint it cosigned, and cosigns a new checkpoint
only when the log's key signed it and a consistency proof shows it extends that one. So an
operator who shows two histories (a split view) can get at most one of them cosigned by each
honest witness, and the one that saw the other refuses and keeps both signed checkpoints as
evidence.

Its directory holds `witness.key` (its own key, 0600), `logs` (the logs it witnesses: one
`[ORIGIN] KEY` a line, the origin being the key's name when left out), `state.json` (what it
cosigned last, per origin: written to a new file, synced and renamed before it answers) and
`evidence/` (the log-signed requests it refused as a split view or an inconsistent history)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from fourlinks_audit.cosignatures import WitnessSigner
from fourlinks_audit.merkle import check_consistency
from fourlinks_audit.notes import Checkpoint, NoteError, VerifierKey, open_note

log = structlog.get_logger(__name__)
KEY_FILE, LOGS_FILE, STATE_FILE, EVIDENCE_DIR, LOCK_FILE = (
    "witness.key",
    "logs",
    "state.json",
    "evidence",
    "witness.lock",
)
MAX_PROOF_LINES = 63  # C2SP: a client sends no more
MAX_BODY = 64 * 1024  # a checkpoint with a few dozen signatures and 63 hashes is some 5 KB
SIZE_TYPE = "text/x.tlog.size"


# -- refusals, each with the status C2SP tlog-witness gives it ----------------------------------------
class Refused(Exception):
    """A checkpoint the witness does not cosign."""

    status = 400


class Malformed(Refused):
    """Not an add-checkpoint request: its old size, proof lines or checkpoint cannot be read."""


class UnknownLog(Refused):
    """A checkpoint of an origin this witness does not witness."""

    status = 404


class NotSigned(Refused):
    """No key this witness trusts for the origin signed the checkpoint."""

    status = 403


class OldSizeConflict(Refused):
    """The client's old size is not the size the witness last cosigned: it says which that is."""

    status = 409

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness last cosigned a checkpoint of {size} for this log")
        self.size = size


class SplitView(Refused):
    """A checkpoint of the size the witness cosigned, with another root: two trees of one size."""

    status = 409


class Inconsistent(Refused):
    """The consistency proof does not lead from what the witness cosigned to this checkpoint."""

    status = 422


# -- what the witness is configured with and what it remembers ------------------------------------------
def read_logs(path: Path) -> dict[str, list[VerifierKey]]:
    """The logs witnessed: origin -> the keys trusted for it, from `[ORIGIN] KEY` lines."""
    logs: dict[str, list[VerifierKey]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise NoteError(f"{path}:{number}: a line reads [ORIGIN] KEY")
        try:
            key = VerifierKey.parse(words[-1])
        except NoteError as exc:
            raise NoteError(f"{path}:{number}: {exc}") from exc
        logs.setdefault(words[0] if len(words) == 2 else key.name, []).append(key)
    return logs


@dataclass(frozen=True)
class Cosigned:
    """The last checkpoint the witness cosigned for one log, as the log signed it."""

    size: int
    root: bytes
    note: str

    def answer(self) -> dict[str, Any]:
        return {"size": self.size, "root": base64.b64encode(self.root).decode(), "note": self.note}

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Cosigned:
        return cls(int(stored["size"]), base64.b64decode(stored["root"]), str(stored["note"]))


def write_durably(path: Path, text: str) -> None:
    """Replace a file so that a crash leaves the old or the new one whole, and the new one is on
    disk when this returns: written aside, synced, renamed, the directory synced."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# -- the request -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the client believes the witness has, the consistency
    proof from it, and the signed checkpoint."""

    old: int
    proof: list[bytes]
    note: str

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        try:
            head, blank, note = body.decode().partition("\n\n")
        except UnicodeDecodeError as exc:
            raise Malformed("the request is not UTF-8") from exc
        lines = head.split("\n")
        old = lines[0].removeprefix("old ")
        if not blank or old == lines[0] or not old.isdigit() or str(int(old)) != old:
            raise Malformed(
                "the request opens with `old <size>`, then proof lines, a blank line, the checkpoint"
            )
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise Malformed(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        except binascii.Error as exc:
            raise Malformed("a consistency proof line is not base64") from exc
        if any(len(hash_) != 32 for hash_ in proof):
            raise Malformed("a consistency proof line is not a SHA-256 hash")
        return cls(int(old), proof, note)


# -- the witness ---------------------------------------------------------------------------------------
class Witness:
    """Cosigns the checkpoints of the logs it witnesses, each only if it extends the last one it
    cosigned for that log. One at a time: the check and the write of the new state are atomic."""

    def __init__(self, directory: Path, *, key: WitnessSigner, logs: Mapping[str, list[VerifierKey]]) -> None:
        self.directory, self.key, self.logs = directory, key, dict(logs)
        self._lock = threading.Lock()
        self._held = _exclusive(directory / LOCK_FILE)
        state = directory / STATE_FILE
        stored = json.loads(state.read_text()) if state.exists() else {}
        self.cosigned = {origin: Cosigned.of(entry) for origin, entry in stored.get("logs", {}).items()}

    @classmethod
    def open(cls, directory: Path) -> Witness:
        """The witness whose key, logs and state live in `directory`."""
        key = WitnessSigner.parse((directory / KEY_FILE).read_text())
        logs = read_logs(directory / LOGS_FILE) if (directory / LOGS_FILE).exists() else {}
        return cls(directory, key=key, logs=logs)

    def close(self) -> None:
        self._held.close()

    def add_checkpoint(self, body: bytes, *, now: float | None = None) -> str:
        """The cosignature line of the checkpoint in an add-checkpoint request; Refused otherwise."""
        request = AddCheckpoint.parse(body)
        checkpoint, text = self._signed(request.note)
        if request.old > checkpoint.size:
            raise Malformed(f"the old size {request.old} is larger than the checkpoint's {checkpoint.size}")
        with self._lock:
            last = self.cosigned.get(checkpoint.origin)
            self._check(request, checkpoint, last)
            now_cosigned = Cosigned(checkpoint.size, checkpoint.root, request.note)
            cosigned = {**self.cosigned, checkpoint.origin: now_cosigned}
            self._save(cosigned)  # on disk before the cosignature leaves: a restart never rolls it back
            self.cosigned = cosigned
        log.info("checkpoint_cosigned", origin=checkpoint.origin, size=checkpoint.size)
        return self.key.cosign(text, int(time.time() if now is None else now))

    def _signed(self, note: str) -> tuple[Checkpoint, str]:
        """The checkpoint and its text, if a key trusted for its origin signed it."""
        try:
            origin = Checkpoint.of_note(note).origin
        except NoteError as exc:
            raise Malformed(f"not a checkpoint: {exc}") from exc
        if origin not in self.logs:
            raise UnknownLog(f"this witness does not witness the log {origin!r}")
        for key in self.logs[origin]:
            try:
                text = open_note(note, key)
            except NoteError:
                continue
            return Checkpoint.parse(text), text
        raise NotSigned(f"no key this witness trusts for {origin!r} signed the checkpoint")

    def _check(self, request: AddCheckpoint, checkpoint: Checkpoint, last: Cosigned | None) -> None:
        """The request extends what was cosigned last (Refused otherwise, kept as evidence when the
        log itself signed a history that contradicts it)."""
        size = last.size if last else 0
        if request.old != size:
            raise OldSizeConflict(size)
        if last is None:
            if request.proof:
                raise Inconsistent("a checkpoint of a log seen for the first time comes with no proof")
            return
        if checkpoint.size == last.size and checkpoint.root != last.root:
            self._keep_evidence(request, last, "split view")
            raise SplitView(
                f"this witness cosigned another tree of {last.size} events of {checkpoint.origin!r}: "
                "two histories of one size (a split view); both signed checkpoints are kept as evidence"
            )
        if not check_consistency(last.size, checkpoint.size, last.root, checkpoint.root, request.proof):
            self._keep_evidence(request, last, "inconsistent")
            raise Inconsistent(
                f"the proof does not show that this checkpoint of {checkpoint.size} extends the one of "
                f"{last.size} this witness cosigned"
            )

    def _save(self, cosigned: Mapping[str, Cosigned]) -> None:
        state = {"logs": {origin: c.answer() for origin, c in sorted(cosigned.items())}}
        write_durably(self.directory / STATE_FILE, json.dumps(state, indent=2) + "\n")

    def _keep_evidence(self, request: AddCheckpoint, last: Cosigned, what: str) -> None:
        """Both log-signed checkpoints that contradict each other: proof of the log's misbehaviour."""
        evidence = "".join(
            (
                f"# {what}, refused {datetime.now(UTC).isoformat(timespec='seconds')}\n",
                f"# the checkpoint this witness cosigned for {request.old} events:\n",
                last.note,
                "# the request it refused:\n",
                f"old {request.old}\n",
                *(base64.b64encode(h).decode() + "\n" for h in request.proof),
                "\n",
                request.note,
            )
        )
        folder = self.directory / EVIDENCE_DIR
        folder.mkdir(exist_ok=True)
        name = hashlib.sha256(evidence.split("\n", 1)[1].encode()).hexdigest()[:16]
        write_durably(folder / f"{name}.txt", evidence)
        log.warning("split_view_refused", what=what, size=last.size, evidence=str(folder / f"{name}.txt"))


def _exclusive(path: Path) -> IO[str]:
    """Hold the directory's lock for this process's life: two witnesses on one state would each
    roll back what the other cosigned."""
    held = path.open("a")
    try:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        held.close()
        raise NoteError(f"another witness is running on {path.parent}") from exc
    return held


def witness_app(witness: Witness) -> FastAPI:
    """The witness's HTTP face: POST /add-checkpoint (C2SP tlog-witness) and its health."""
    app = FastAPI(title="Four Links witness", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("the request is too large for a checkpoint\n", status_code=413)
        try:
            line = await asyncio.to_thread(witness.add_checkpoint, body)
        except OldSizeConflict as exc:
            # Exactly this type, no charset: clients compare the header to it.
            return Response(f"{exc.size}\n", status_code=409, headers={"Content-Type": SIZE_TYPE})
        except Refused as exc:
            log.info("checkpoint_refused", status=exc.status, reason=str(exc))
            return PlainTextResponse(f"{exc}\n", status_code=exc.status)
        return PlainTextResponse(line)

    @app.get("/health/live")
    @app.get("/health/ready")
    def health() -> dict[str, str]:
        return {"status": "ok", "witness": witness.key.verifier.encoded()}

    return app
