"""A progress line with rate and ETA for long command-line work (seed, rebuild, export)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

WIDTH = 30


@dataclass
class Progress:
    """Counts work done and redraws one status line at most a few times a second."""

    label: str
    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _drawn: float = 0.0
    _drawn_done: int = -1

    def advance(self, count: int = 1) -> None:
        """Record `count` more items done."""
        self.done += count
        now = time.monotonic()
        interval = 0.25 if self.stream.isatty() else 5.0
        if now - self._drawn >= interval or self.done >= self.total:
            self._drawn = now
            self._draw(now)

    def finish(self) -> float:
        """Draw the final line; returns the rate in items per second."""
        now = time.monotonic()
        if self._drawn_done != self.done:
            self._draw(now)
        if self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
        return self.done / max(now - self.started, 1e-9)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = min(self.done / self.total, 1.0) if self.total else 1.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(share * WIDTH)
        line = (
            f"{self.label:<14} [{bar:<{WIDTH}}] {share:6.1%} {self.done:,}/{self.total:,} "
            f"{rate:,.0f}/s ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )
        self._drawn_done = self.done
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(line + end)
        self.stream.flush()
