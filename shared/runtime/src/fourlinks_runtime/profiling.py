"""An off-by-default profile of a whole service process, for finding where its CPU goes.

With `FOURLINKS_PROFILE_DIR` set, `fourlinks-serve` runs under Python's deterministic profiler
(cProfile) and, when stopped (SIGTERM or SIGINT), writes `<dir>/<service>-<pid>.prof`, readable
with `python -m pstats` or `tools/profile_commands.py`. Threads are profiled too: a service decodes
tokens and writes its read models in worker threads, and a profile of the event loop's thread
alone would miss them. Each thread's profile counts that thread's CPU time, not waiting (an idle
worker thread would otherwise show as its queue's `get`). The profiler slows Python code about
twofold: read shares from a profile, and milliseconds from an unprofiled run.
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import pstats
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

PROFILE_DIR = "FOURLINKS_PROFILE_DIR"


@contextlib.contextmanager
def profiled(service: str) -> Iterator[Path | None]:
    """Profile the block (every thread it starts) when FOURLINKS_PROFILE_DIR is set; yields where
    the profile will be written, or None when profiling is off."""
    directory = os.environ.get(PROFILE_DIR, "").strip()
    if not directory:
        yield None
        return
    target = Path(directory) / f"{service}-{os.getpid()}.prof"
    target.parent.mkdir(parents=True, exist_ok=True)
    threads: list[cProfile.Profile] = []
    lock = threading.Lock()

    def profile_this_thread(_frame: FrameType, _event: str, _arg: Any) -> None:
        # Called once, on a new thread's first call: the C profiler then replaces this hook.
        profiler = cProfile.Profile(time.thread_time)
        with lock:
            threads.append(profiler)
        profiler.enable()

    # uvicorn raises SIGTERM again once it has shut down; the default action would end the
    # process before the profile is written.
    previous = signal.signal(signal.SIGTERM, _exit_quietly)
    threading.setprofile(profile_this_thread)
    main = cProfile.Profile(time.thread_time)
    main.enable()
    try:
        yield target
    finally:
        main.disable()
        threading.setprofile(None)
        signal.signal(signal.SIGTERM, previous)
        _write(target, main, threads, lock)


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _write(
    target: Path, main: cProfile.Profile, threads: list[cProfile.Profile], lock: threading.Lock
) -> None:
    stats = pstats.Stats(main)
    with lock:
        for profiler in threads:
            stats.add(profiler)
    stats.dump_stats(target)
