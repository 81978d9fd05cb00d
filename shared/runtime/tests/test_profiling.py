"""A service process writes a CPU profile only when asked to, threads included."""

from __future__ import annotations

import pstats
import signal
import threading
from pathlib import Path

import pytest

from fourlinks_runtime.profiling import PROFILE_DIR, profiled


def busy_in_a_worker_thread() -> None:
    total = 0
    for n in range(20_000):
        total += n * n
    assert total > 0


def functions_in(profile: Path) -> set[str]:
    stats = pstats.Stats(str(profile))
    return {name for (_, _, name) in stats.stats}  # type: ignore[attr-defined]


def test_nothing_is_profiled_or_written_unless_a_directory_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROFILE_DIR, raising=False)
    monkeypatch.chdir(tmp_path)
    with profiled("members") as target:
        busy_in_a_worker_thread()
    assert target is None
    assert list(tmp_path.rglob("*.prof")) == []


def test_a_profile_of_the_process_and_its_threads_is_written_when_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROFILE_DIR, str(tmp_path / "profiles"))
    with profiled("members") as target:
        worker = threading.Thread(target=busy_in_a_worker_thread)
        worker.start()
        worker.join()
    assert target is not None
    assert target.parent == tmp_path / "profiles"
    assert target.name.startswith("members-")
    assert "busy_in_a_worker_thread" in functions_in(target)


def test_sigterm_stops_a_profiled_process_and_its_profile_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROFILE_DIR, str(tmp_path))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit), profiled("feedback") as target:
        signal.raise_signal(signal.SIGTERM)
    assert target is not None
    assert target.exists()
    assert signal.getsignal(signal.SIGTERM) is before
