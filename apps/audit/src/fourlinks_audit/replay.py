"""Rebuild a service's read models from the history: all of it, or as of a position or a moment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.feed import ProjectionFeed
from fourlinks_kernel.projection import Projection, ProjectionRunner, ensure_bookkeeping
from fourlinks_kernel.store import EventStore
from fourlinks_runtime.progress import Progress


@dataclass(frozen=True)
class RebuildResult:
    """How far the rebuild went and how fast."""

    position: int
    events: int  # log events read (once, whatever the number of read models)
    seconds: float

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ReadModels:
    """One service's read models and the database they are rebuilt in."""

    service: str
    projections: Sequence[Callable[[], Projection]]
    engine: AsyncEngine


async def rebuild(
    projections: Sequence[Callable[[], Projection]],
    *,
    store: EventStore,
    engine: AsyncEngine,
    until_position: int | None = None,
    resume: bool = False,
    progress: bool = True,
    batch_size: int = 1000,
    label: str = "read models",
) -> RebuildResult:
    """Drop and rebuild every read model of a service (or continue an interrupted rebuild)."""
    return await rebuild_read_models(
        [ReadModels(label, projections, engine)],
        store=store,
        until_position=until_position,
        resume=resume,
        progress=progress,
        batch_size=batch_size,
        label=label,
    )


async def rebuild_read_models(
    targets: Sequence[ReadModels],
    *,
    store: EventStore,
    until_position: int | None = None,
    resume: bool = False,
    progress: bool = True,
    batch_size: int = 1000,
    label: str = "read models",
) -> RebuildResult:
    """Drop and rebuild the read models of several services, each in its own database, from one
    read of the log (or continue an interrupted rebuild)."""
    for target in targets:
        await ensure_bookkeeping(target.engine)
    if store.codec.cipher is not None:
        await store.codec.cipher.preload()  # one pass over the key table, not one read per person
    last = until_position if until_position is not None else await store.last_position()
    runners = [
        ProjectionRunner(factory(), store=store, engine=target.engine, batch_size=batch_size)
        for target in targets
        for factory in target.projections
    ]
    started = asyncio.get_running_loop().time()
    for runner in runners:
        if not resume:
            await runner.rebuild()
        await runner.prepare()
    start = min(runner.status.position for runner in runners)
    bar = Progress(label, max(last - start, 0)) if progress else None
    watcher = asyncio.create_task(_watch(runners, bar, start)) if bar else None
    try:
        await ProjectionFeed(runners).catch_up(until_position=last)  # one read of the log for all
    finally:
        for runner in runners:
            runner.close()
        if watcher:
            watcher.cancel()
    read = min(runner.status.position for runner in runners) - start
    if bar:
        bar.done = read
        bar.finish()
    return RebuildResult(last, read, asyncio.get_running_loop().time() - started)


async def _watch(runners: Sequence[ProjectionRunner], bar: Progress, start: int) -> None:
    while True:
        await asyncio.sleep(0.5)
        bar.advance(min(runner.status.position for runner in runners) - start - bar.done)


async def position_at(store: EventStore, moment: datetime) -> int:
    """The last log position whose event occurred at or before `moment` (0 if none)."""
    low, high = 0, await store.last_position()
    while low < high:
        middle = (low + high + 1) // 2
        event = await _at(store, middle)
        if event is not None and event > moment:
            high = middle - 1
        else:
            low = middle
    return low


async def _at(store: EventStore, position: int) -> datetime | None:
    async for stored in store.read(from_position=position, until_position=position):
        return store.codec.envelope_of(stored)[0].occurred_at
    return None
