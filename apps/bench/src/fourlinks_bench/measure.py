"""Timing helpers: latency percentiles, closed- and open-loop drivers, peak memory of a process."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (0 when empty)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Latencies:
    """Seconds per operation, summarised in milliseconds."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        """Record one operation's duration."""
        self.samples.append(seconds)

    def summary(self) -> dict[str, float]:
        """Count, p50 and p99 in milliseconds."""
        return {
            "count": len(self.samples),
            "p50_ms": round(percentile(self.samples, 0.50) * 1000, 2),
            "p99_ms": round(percentile(self.samples, 0.99) * 1000, 2),
        }


async def closed_loop(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `count` operations with `concurrency` in flight; returns operations per second."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def open_loop(rate: float, seconds: float, one: Callable[[int], Coroutine[Any, Any, None]]) -> int:
    """Start `one` at a steady `rate` per second for `seconds`, whatever the replies take (no
    coordinated omission: a slow reply does not delay the next start). Returns how many ran."""
    started, n = time.perf_counter(), 0
    running: set[asyncio.Task[None]] = set()
    while (due := started + n / rate) < started + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one(n))
        running.add(task)
        task.add_done_callback(running.discard)
        n += 1
    await asyncio.gather(*running, return_exceptions=True)
    return n


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has spent so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB, 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


@contextlib.asynccontextmanager
async def watching_rss(pid: int, into: dict[str, Any], key: str) -> AsyncIterator[None]:
    """Keep the highest peak RSS seen while the block runs (read again just before a process ends)."""

    async def poll() -> None:
        while True:
            into[key] = max(into.get(key, 0.0), round(peak_rss_mb(pid), 1))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll())
    try:
        yield
    finally:
        task.cancel()
        into[key] = max(into.get(key, 0.0), round(peak_rss_mb(pid), 1))
