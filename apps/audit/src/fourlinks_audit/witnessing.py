"""The checkpointer's side of C2SP `tlog-witness`: each new checkpoint goes to the configured
witnesses (FOURLINKS_WITNESSES) with a consistency proof from the size each last cosigned (learned
from its 409 answer), and their cosignatures join the checkpoint's note. A checkpoint counts as
published once FOURLINKS_WITNESS_QUORUM of them cosigned it. A witness that is down or refuses
never stops the signing: it is asked again later (backing off to a minute), and what is missing is
said in the readiness answer, /witnesses, /integrity and the metrics."""

from __future__ import annotations

import asyncio
import base64
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge

from fourlinks_audit.cosignatures import WitnessKey, note_text, with_cosignatures
from fourlinks_audit.merkle import Tree, consistency_proof
from fourlinks_audit.notes import Checkpoint, NoteError

log = structlog.get_logger(__name__)
WITNESS_SECONDS = 3.0  # a witness that does not answer within this is asked again later
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 2.0, 60.0
SIZE_TYPE = "text/x.tlog.size"


class WitnessConfigError(ValueError):
    """FOURLINKS_WITNESSES or FOURLINKS_WITNESS_QUORUM cannot be read."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """One configured witness: its cosignature key and the URL prefix of its add-checkpoint."""

    key: WitnessKey
    url: str


def parse_witnesses(text: str | None) -> list[WitnessEndpoint]:
    """The witnesses of FOURLINKS_WITNESSES: `KEY URL` entries, separated by commas or newlines."""
    endpoints: list[WitnessEndpoint] = []
    for entry in (text or "").replace("\n", ",").split(","):
        words = entry.split()
        if not words:
            continue
        if len(words) != 2 or not words[1].startswith(("http://", "https://")):
            raise WitnessConfigError(
                f"a witness reads `KEY URL` (e.g. w.example/w1+1a2b3c4d+BAS... https://w.example): "
                f"{entry.strip()!r}"
            )
        try:
            endpoints.append(WitnessEndpoint(WitnessKey.parse(words[0]), words[1].rstrip("/")))
        except NoteError as exc:
            raise WitnessConfigError(str(exc)) from exc
    names = [e.key.name for e in endpoints]
    if len(set(names)) != len(names):
        raise WitnessConfigError(
            f"a witness is listed twice: {sorted(n for n in names if names.count(n) > 1)}"
        )
    return endpoints


def quorum_of(configured: int | None, witnesses: int) -> int:
    """How many cosignatures make a checkpoint published: as configured, else a majority of the
    witnesses (so two histories cannot both reach it without a witness cosigning both), 0 without."""
    quorum = witnesses // 2 + 1 if configured is None and witnesses else configured or 0
    if not 0 <= quorum <= witnesses:
        raise WitnessConfigError(
            f"FOURLINKS_WITNESS_QUORUM is {quorum} but {witnesses} witnesses are configured "
            "(FOURLINKS_WITNESSES)"
        )
    return quorum


# -- talking to one witness ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """A witness's answer."""

    status: int
    content_type: str
    body: str


Post = Callable[[str, bytes], Reply]


class WitnessFailed(RuntimeError):
    """The witness is unreachable or did not cosign; the message says which and why."""


def post(url: str, body: bytes) -> Reply:
    """POST a request and return the answer, whatever its status (WitnessFailed if none came)."""
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 (configured URLs)
    try:
        with urllib.request.urlopen(request, timeout=WITNESS_SECONDS) as reply:  # noqa: S310
            return Reply(reply.status, reply.headers.get_content_type(), reply.read().decode())
    except urllib.error.HTTPError as refused:
        return Reply(
            refused.code, refused.headers.get_content_type(), refused.read().decode(errors="replace")
        )
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        raise WitnessFailed(f"unreachable: {getattr(exc, 'reason', exc)}") from exc


@dataclass
class WitnessState:
    """What the checkpointer knows of one witness."""

    endpoint: WitnessEndpoint
    size: int | None = None  # the size the witness last cosigned, as far as known
    cosigned: int | None = None  # the size of the latest checkpoint it cosigned
    error: str | None = None
    failing_since: datetime | None = None
    failures: int = 0
    next_try: float = 0.0  # time.monotonic() when it is asked again

    def succeeded(self, size: int) -> None:
        self.size = self.cosigned = size
        self.error, self.failing_since, self.failures, self.next_try = None, None, 0, 0.0

    def failed(self, reason: str) -> None:
        self.error, self.failures = reason, self.failures + 1
        self.failing_since = self.failing_since or datetime.now(UTC)
        wait = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (self.failures - 1))
        self.next_try = time.monotonic() + wait

    def answer(self) -> dict[str, Any]:
        return {
            "name": self.endpoint.key.name,
            "url": self.endpoint.url,
            "reachable": self.error is None or not self.error.startswith("unreachable"),
            "cosigned": self.cosigned,
            "error": self.error,
            "failing_since": self.failing_since.isoformat(timespec="seconds") if self.failing_since else None,
        }


def _refusal(reply: Reply, old: int, size: int) -> str:
    """Why a witness did not cosign, in words an operator can act on."""
    said = reply.body.strip()[:300]
    if reply.status == 409:
        return f"refused (409): it cosigned another tree of {size} events of this log, a split view: {said}"
    if reply.status == 422:
        return (
            f"refused (422): this log's tree of {old} events is not the one it cosigned: it has seen "
            f"another history of this log: {said}"
        )
    if reply.status in (403, 404):
        return f"refused ({reply.status}): it does not witness this log or trust this key: {said}"
    return f"answered {reply.status}: {said}"


class Witnesses:
    """The configured witnesses, what each last did, and the quorum."""

    def __init__(self, endpoints: list[WitnessEndpoint], quorum: int, *, send: Post = post) -> None:
        self.states = [WitnessState(e) for e in endpoints]
        self.quorum, self._send = quorum, send
        self.log: Any = log  # a command whose stdout is the checkpoint logs to stderr instead

    def __bool__(self) -> bool:
        return bool(self.states)

    def cosigners(self, note: str) -> list[str]:
        """The names of the configured witnesses whose cosignature on the note verifies."""
        return [s.endpoint.key.name for s in self.states if _cosigned(s.endpoint.key, note)]

    def published(self, note: str) -> bool:
        """Whether the note carries the quorum's cosignatures."""
        return len(self.cosigners(note)) >= self.quorum

    def next_attempt(self, note: str) -> float:
        """When (time.monotonic()) a witness missing from the note is asked again; inf if none is."""
        signed = set(self.cosigners(note))
        waits = [s.next_try for s in self.states if s.endpoint.key.name not in signed]
        return min(waits, default=math.inf)

    async def cosign(self, note: str, tree: Tree) -> str:
        """The note with the cosignatures of the witnesses it lacks (those not waiting to be asked
        again), each asked with a consistency proof from the tree it last cosigned."""
        checkpoint, signed = Checkpoint.of_note(note), set(self.cosigners(note))
        due: list[WitnessState] = []
        for state in self.states:
            if state.endpoint.key.name in signed:
                state.size = state.size if state.size is not None else checkpoint.size
                state.cosigned = max(state.cosigned or 0, checkpoint.size)
            elif state.next_try <= time.monotonic():
                due.append(state)
        lines = await asyncio.gather(*(self._ask(s, note, checkpoint, tree) for s in due))
        return with_cosignatures(note, [line for line in lines if line])

    async def _ask(self, state: WitnessState, note: str, checkpoint: Checkpoint, tree: Tree) -> str | None:
        name = state.endpoint.key.name
        try:
            line = await self._request(state, note, checkpoint, tree)
        except WitnessFailed as exc:
            state.failed(str(exc))
            self.log.warning("witness_missing", witness=name, size=checkpoint.size, reason=str(exc))
            return None
        state.succeeded(checkpoint.size)
        self.log.info("checkpoint_witnessed", witness=name, size=checkpoint.size)
        return line

    async def _request(self, state: WitnessState, note: str, checkpoint: Checkpoint, tree: Tree) -> str:
        old = state.size or 0
        for _ in range(2):  # the second time with the size the witness said it has
            if old > checkpoint.size:
                raise WitnessFailed(
                    f"it cosigned {old} events of this log, more than the {checkpoint.size} signed now: "
                    "the log went back, or another signer holds its key"
                )
            proof = consistency_proof(tree, old, checkpoint.size) if 0 < old < checkpoint.size else []
            body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + note
            url = f"{state.endpoint.url}/add-checkpoint"
            reply = await asyncio.to_thread(self._send, url, body.encode())
            if reply.status == 409 and reply.content_type == SIZE_TYPE and reply.body.strip().isdigit():
                old = state.size = int(reply.body.strip())
                continue
            if reply.status != 200:
                raise WitnessFailed(_refusal(reply, old, checkpoint.size))
            return self._cosignature(state.endpoint.key, reply.body, note)
        raise WitnessFailed("it changed the size it last cosigned while being asked")

    @staticmethod
    def _cosignature(key: WitnessKey, body: str, note: str) -> str:
        """The witness's own cosignature among the lines it answered (C2SP: others are ignored)."""
        for line in body.splitlines(keepends=True):
            if _cosigned(key, note_text(note) + "\n" + line):
                return line
        raise WitnessFailed(f"it answered no cosignature its key {key.name} verifies on this checkpoint")

    # -- what is said about them ----------------------------------------------------------------------
    def report(self, note: str | None, published: str | None) -> dict[str, Any]:
        """The witnesses as /witnesses, readiness and /integrity say them."""
        cosigners = set(self.cosigners(note)) if note else set()
        return {
            "quorum": self.quorum,
            "checkpoint": Checkpoint.of_note(note).size if note else None,
            "published": Checkpoint.of_note(published).size if published else None,
            "cosigned_by": sorted(cosigners),
            "missing": sorted(
                s.endpoint.key.name for s in self.states if s.endpoint.key.name not in cosigners
            ),
            "witnesses": [s.answer() for s in self.states],
        }

    def add_metrics(self, registry: CollectorRegistry, note: str | None, published: str | None) -> None:
        """Gauges of the witnesses: who answered, what each cosigned, the quorum, the published size."""
        cosigners = set(self.cosigners(note)) if note else set()
        Gauge(
            "fourlinks_witness_quorum",
            "Cosignatures a checkpoint needs to count as published",
            registry=registry,
        ).set(self.quorum)
        Gauge(
            "fourlinks_checkpoint_cosignatures",
            "Witnesses that cosigned the latest checkpoint",
            registry=registry,
        ).set(len(cosigners))
        size = Checkpoint.of_note(published).size if published else math.nan
        Gauge(
            "fourlinks_checkpoint_published_tree_size",
            "Events the latest checkpoint with the quorum's cosignatures covers",
            registry=registry,
        ).set(size)
        up = Gauge(
            "fourlinks_witness_up",
            "1 when the witness cosigned when last asked",
            ["witness"],
            registry=registry,
        )
        sizes = Gauge(
            "fourlinks_witness_cosigned_tree_size",
            "Events of the latest checkpoint the witness cosigned",
            ["witness"],
            registry=registry,
        )
        for state in self.states:
            up.labels(state.endpoint.key.name).set(0.0 if state.error else 1.0)
            sizes.labels(state.endpoint.key.name).set(math.nan if state.cosigned is None else state.cosigned)


def _cosigned(key: WitnessKey, note: str) -> bool:
    try:
        return key.cosigned_at(note) is not None
    except NoteError:
        return False
