"""The checkpoint store: the latest signed checkpoint replaces the one before (what is published),
and only some are kept for good (what `audit verify` checks the log against, beside the latest)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from fourlinks_audit.notes import Checkpoint, SignerKey, signed_checkpoint
from fourlinks_audit.transparency import CheckpointDirectory, CheckpointTable

KEY = SignerKey.generate("store.fourlinks.example/events")


def note(size: int) -> str:
    return signed_checkpoint(Checkpoint(KEY.name, size, bytes([size]) * 32), KEY)


def test_the_latest_replaces_the_one_before_and_only_kept_ones_stay(tmp_path: Path) -> None:
    for store in (
        CheckpointDirectory(tmp_path / "checkpoints"),
        CheckpointTable(create_engine(f"sqlite:///{tmp_path / 'audit.db'}")),
    ):
        assert (store.latest(), store.notes()) == (None, [])
        store.add(5, note(5))  # kept
        store.add(7, note(7), kept=False)
        store.add(9, note(9), kept=False)
        latest = store.latest()
        assert latest is not None
        assert latest[1] == note(9)
        assert [n for _, n in store.notes()] == [note(5), note(9)]  # 7 was only ever the latest
        store.add(9, note(9))  # kept after all
        assert [n for _, n in store.notes()] == [note(5), note(9)]


def test_a_directory_of_an_earlier_release_has_its_last_checkpoint_as_the_latest(tmp_path: Path) -> None:
    (tmp_path / "000000000005.checkpoint").write_text(note(5))
    (tmp_path / "000000000012.checkpoint").write_text(note(12))
    latest = CheckpointDirectory(tmp_path).latest()
    assert latest is not None
    assert latest[1] == note(12)
