"""Integrity verification: every aggregate's version sequence and hash chain, over the whole log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fourlinks_kernel.envelope import GENESIS_HASH, StoredEvent
from fourlinks_kernel.errors import CorruptEvent
from fourlinks_kernel.signing import Signers
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.progress import Progress


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the history, where it is."""

    position: int
    stream: str
    kind: str
    detail: str


@dataclass
class _Tail:
    version: int = 0
    digest: str = GENESIS_HASH
    position: int = 0


@dataclass
class VerifyReport:
    """What the walk saw."""

    events: int = 0
    aggregates: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No finding at all."""
        return not self.findings


async def verify(
    store: EventStore,
    *,
    progress: bool = True,
    observe: Callable[[StoredEvent], None] | None = None,
    signers: Signers | None = None,
) -> VerifyReport:
    """Walk the whole log; report gaps, reorders, altered or missing events with their position.

    Each event must carry version = previous + 1 of its aggregate and the SHA-256 of the previous
    event's stored bytes; an altered event breaks the chain at the next one, a deleted one leaves a
    version gap, a replayed or moved one arrives out of order. `observe` sees every stored event
    of the same walk (the Merkle tree is recomputed from it without reading the log twice). With
    `signers`, each event must carry the signature of a key of the service owning its context: an
    event published by anyone else, chain and version right, is found.
    """
    report = VerifyReport()
    tails: dict[str, _Tail] = {}
    signatures = _Signatures(signers) if signers is not None else None
    bar = Progress("verify", await store.last_position()) if progress else None
    async for stored in store.read():
        report.events += 1
        _check(store, stored, tails, report, signatures)
        if observe is not None:
            observe(stored)
        if bar:
            bar.advance()
    if bar:
        bar.finish()
    report.aggregates = len(tails)
    return report


def _check(
    store: EventStore,
    stored: StoredEvent,
    tails: dict[str, _Tail],
    report: VerifyReport,
    signatures: _Signatures | None,
) -> None:
    try:
        envelope, _ = store.codec.envelope_of(stored)
    except CorruptEvent as exc:
        report.findings.append(Finding(stored.position, stored.subject, "corrupt", str(exc)))
        return
    stream = str(envelope.stream)
    unsigned = signatures.problem(envelope.context, stored) if signatures is not None else None
    if unsigned:
        report.findings.append(Finding(stored.position, stream, "forged", unsigned))
    tail = tails.setdefault(stream, _Tail())
    misfiled = _misfiled(stored, stream, envelope.event_type)
    if misfiled:
        report.findings.append(Finding(stored.position, stream, "misfiled", misfiled))
    if envelope.aggregate_version <= tail.version:
        report.findings.append(
            Finding(
                stored.position,
                stream,
                "reordered",
                f"version {envelope.aggregate_version} after version {tail.version} "
                f"(position {tail.position})",
            )
        )
        return
    if envelope.aggregate_version > tail.version + 1:
        missing = f"{tail.version + 1}..{envelope.aggregate_version - 1}"
        report.findings.append(
            Finding(stored.position, stream, "missing", f"versions {missing} are not in the log")
        )
    elif envelope.prev_hash != tail.digest:
        report.findings.append(
            Finding(
                stored.position,
                stream,
                "altered",
                f"does not chain to the event at position {tail.position}: "
                "that event was altered or replaced",
            )
        )
    tails[stream] = _Tail(envelope.aggregate_version, stored.digest, stored.position)


@dataclass
class _Signatures:
    """The signature check along the walk. Without a first signed position, events before the
    first one a listed key signed are the unsigned past; from there on every event is signed."""

    signers: Signers
    begun: bool = False

    def problem(self, context: str, stored: StoredEvent) -> str | None:
        problem = self.signers.problem(
            context=context, payload=stored.payload, signature=stored.signature, position=stored.position
        )
        if problem is None:
            self.begun = self.begun or bool(stored.signature)
            return None
        if self.signers.signed_from is None and not self.begun and not stored.signature:
            return None
        return problem


def _misfiled(stored: StoredEvent, stream: str, event_type: str) -> str:
    """Why the event sits where it should not ("" when it is filed right). Both subject layouts
    are read, so a log can be verified before and after `fourlinks nats migrate-subjects`."""
    if stored.subject.endswith(f".{stream}.{event_type}") and not stored.event_type:
        return ""  # the old layout: the type in the subject
    if not stored.subject.endswith(f".{stream}"):
        return f"stored under {stored.subject}"
    if stored.event_type != event_type:
        return f"a {event_type} whose headers name {stored.event_type or 'no type'}"
    return ""
