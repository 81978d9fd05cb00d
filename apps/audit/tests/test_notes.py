"""Signed checkpoints: written and read back; refused when forged, altered, or signed by another key."""

from __future__ import annotations

import base64

import pytest

from fourlinks_audit.notes import (
    Checkpoint,
    NoteError,
    SignerKey,
    VerifierKey,
    read_checkpoint,
    signed_checkpoint,
)

CHECKPOINT = Checkpoint("fourlinks/FOURLINKS_EVENTS", 2929, bytes(range(32)))


def test_a_signed_checkpoint_reads_back_with_the_public_key() -> None:
    key = SignerKey.generate("fourlinks-checkpoints")
    note = signed_checkpoint(CHECKPOINT, key)
    assert note.startswith(
        "fourlinks/FOURLINKS_EVENTS\n2929\n" + base64.b64encode(bytes(range(32))).decode() + "\n\n"
    )  # no extension line: C2SP advises against a timestamp
    assert "\n\n\u2014 fourlinks-checkpoints " in note
    assert read_checkpoint(note, VerifierKey.parse(key.verifier.encoded())) == CHECKPOINT
    assert SignerKey.parse(key.encoded()) == key


def test_a_forged_or_altered_checkpoint_or_another_key_is_refused() -> None:
    key, other = SignerKey.generate("fourlinks-checkpoints"), SignerKey.generate("fourlinks-checkpoints")
    note = signed_checkpoint(CHECKPOINT, key)
    with pytest.raises(NoteError, match="does not verify"):
        read_checkpoint(note.replace("\n2929\n", "\n2928\n"), key.verifier)
    with pytest.raises(NoteError, match="no signature"):
        read_checkpoint(note, other.verifier)  # same name, another key: its id differs
    text, _, signature = note.rpartition("\u2014 fourlinks-checkpoints ")
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    with pytest.raises(NoteError, match="does not verify"):
        read_checkpoint(
            text + "\u2014 fourlinks-checkpoints " + base64.b64encode(raw).decode() + "\n", key.verifier
        )
    name, _, public = key.verifier.encoded().split("+", 2)
    with pytest.raises(NoteError, match="hash does not match"):
        VerifierKey.parse(f"{name}+00000000+{public}")


def test_an_older_checkpoint_with_a_time_line_still_reads() -> None:
    key = SignerKey.generate("fourlinks-checkpoints")
    older = key.sign(CHECKPOINT.text() + "time 2026-11-30T19:02:11Z\n")
    assert read_checkpoint(older, key.verifier) == CHECKPOINT
