"""Inclusion proofs of one event as C2SP `tlog-proof` files: the leaf's index, its inclusion path
and the signed checkpoint, with the leaf's data (the event's position, subject, type and stored
bytes) as the `extra` line, so the proof checks offline with nothing but the log's public key.
The JSON proofs of earlier releases are still read."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from fourlinks_audit.merkle import leaf_data, leaf_fields, leaf_hash, root_from_inclusion
from fourlinks_audit.notes import Checkpoint, NoteError, VerifierKey, read_checkpoint

HEADER = "c2sp.org/tlog-proof@v1"
SUFFIX = ".tlog-proof"


class ProofError(ValueError):
    """Text that is no proof of either format."""


@dataclass(frozen=True)
class InclusionProof:
    """That the leaf with this data is at `index` of the tree a signed checkpoint names."""

    index: int
    data: bytes  # the leaf's data (docs/audit.md, "The tree")
    path: list[bytes]
    note: str  # the signed checkpoint, verbatim

    def text(self) -> str:
        """The proof as a C2SP tlog-proof file."""
        lines = [HEADER, f"extra {_b64(self.data)}", f"index {self.index}", *map(_b64, self.path)]
        return "\n".join(lines) + "\n\n" + self.note

    @classmethod
    def parse(cls, text: str) -> InclusionProof:
        """A tlog-proof file, or the JSON `audit prove` printed before it wrote tlog-proofs."""
        if not text.startswith(HEADER + "\n"):
            return cls._from_json(text)
        head, blank, note = text.partition("\n\n")
        lines = head.split("\n")[1:]
        if not blank or len(lines) < 2 or not lines[0].startswith("extra "):
            raise ProofError("a proof of an event carries its leaf's data as the extra line, then its index")
        if (
            not lines[1].startswith("index ")
            or not lines[1][6:].isdigit()
            or str(int(lines[1][6:])) != lines[1][6:]
        ):
            raise ProofError("the proof's index line reads `index N`")
        try:
            data, path = _unb64(lines[0][6:]), [_unb64(line) for line in lines[2:]]
        except binascii.Error as exc:
            raise ProofError(f"the proof holds a line that is not base64: {exc}") from exc
        return cls(int(lines[1][6:]), data, path, note)

    @classmethod
    def _from_json(cls, text: str) -> InclusionProof:
        try:
            old = json.loads(text)
            event = old["event"]
            data = leaf_data(
                event["position"], event["subject"], event["event_type"], _unb64(event["payload_base64"])
            )
            return cls(old["leaf_index"], data, [_unb64(h) for h in old["inclusion_path"]], old["checkpoint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProofError(f"neither a tlog-proof nor a proof of an earlier release: {exc}") from exc

    @property
    def position(self) -> int:
        """The event's position, as its leaf's data says."""
        return leaf_fields(self.data)[0]

    def problem(self, key: VerifierKey, own_note: str | None = None) -> str | None:
        """Why the proof fails (None when it holds) against the checkpoint it carries, signed by
        `key`, or the auditor's own copy of it."""
        try:
            checkpoint = read_checkpoint(own_note or self.note, key)
            if self.position != self.index + 1:
                return f"the event's position {self.position} is not its leaf's ({self.index} + 1)"
            root = root_from_inclusion(self.index, checkpoint.size, leaf_hash(self.data), self.path)
        except (NoteError, ValueError) as exc:
            return str(exc)
        return None if root == checkpoint.root else "the proof does not lead to the checkpoint's root"

    def tree_size(self) -> int:
        return Checkpoint.of_note(self.note).size


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
