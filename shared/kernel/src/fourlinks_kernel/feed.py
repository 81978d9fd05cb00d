"""One read of the log for all the projections of a process: each event is fetched and decoded
once, and every projection is handed the micro-batch to apply what it handles.

During catch-up the feed reads from the lowest checkpoint (a projection skips what it already
has); live, it follows the whole log so that every projection's position reaches every event
(readers wait for positions: read-your-writes). A projection that halts is set aside and the
others go on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import structlog

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.projection import ProjectionHalted, ProjectionRunner, raise_if_cancelling

log = structlog.get_logger(__name__)


class ProjectionFeed:
    """Feeds several projection runners (sharing one store) from one read of the log."""

    def __init__(self, runners: Sequence[ProjectionRunner]) -> None:
        if not runners:
            raise ValueError("a feed needs at least one projection")
        self.runners = list(runners)
        self.store = self.runners[0].store
        self.batch_size = max(runner.batch_size for runner in self.runners)
        self.halted: dict[str, str] = {}

    @property
    def active(self) -> list[ProjectionRunner]:
        """The runners not halted."""
        return [r for r in self.runners if r.projection.name not in self.halted]

    async def catch_up(self, until_position: int | None = None) -> int:
        """Apply everything up to the log's current end (or a position) to every projection;
        returns the lowest checkpoint. Raises `ProjectionHalted` if any projection halted."""
        await self._catch_up(until_position)
        if self.halted:
            raise ProjectionHalted("; ".join(self.halted.values()))
        return min(runner.status.position for runner in self.runners)

    async def run(self) -> None:
        """Catch up, then follow the log until cancelled; a halted projection stays halted."""
        await self._catch_up(None)
        for runner in self.active:
            log.info(
                "projection_caught_up", projection=runner.projection.name, position=runner.status.position
            )
        if not self.active:
            return
        start = min(runner.status.position for runner in self.active) + 1
        await self._consume(_drained(self.store.subscribe(from_position=start), self.batch_size))

    async def _catch_up(self, until_position: int | None) -> None:
        self.halted.clear()
        for runner in self.runners:
            try:
                await runner.prepare()
            except ProjectionHalted as halted:
                self._set_aside(runner, halted)
        target = until_position if until_position is not None else await self.store.last_position()
        active = self.active
        for runner in active:
            runner.status.target = target
        start = min((runner.status.position for runner in active), default=target)
        if start < target:
            events = self.store.read(
                from_position=start + 1, until_position=target, subjects=self._subject_filter(active)
            )
            await self._consume(_prefetched(_batched(events, self.batch_size)))
        for runner in self.active:
            await runner.finish(target)

    def _subject_filter(self, runners: Sequence[ProjectionRunner]) -> str | None:
        """One filter that covers every projection's subjects (the server skips the rest), or
        None for the whole log."""
        relative = covering_filter([runner.projection.subjects for runner in runners])
        return None if relative is None else f"{self.store.prefix}.{relative}"

    async def _consume(self, batches: AsyncIterator[list[StoredEvent]]) -> None:
        async for batch in batches:
            decode = DecodeOnce(self.store.codec)
            # One after another: the Python work holds one core whatever the order, and a crash
            # (even KeyboardInterrupt) surfaces from the projection it happened in.
            for runner in self.active:
                try:
                    await runner.take(batch, decode)
                except ProjectionHalted as halted:
                    self._set_aside(runner, halted)
            if not self.active:
                return
            raise_if_cancelling()  # a database driver may have absorbed a cancellation mid-commit

    def _set_aside(self, runner: ProjectionRunner, halted: ProjectionHalted) -> None:
        reason = runner.status.halted_reason or str(halted)
        self.halted[runner.projection.name] = reason
        log.error("projection_halted", projection=runner.projection.name, reason=reason)


class DecodeOnce:
    """Decodes each stored event of a micro-batch once, whichever projections ask for it (they
    take the batch one after another); an event that cannot be decoded fails for each of them."""

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._decoded: dict[int, RecordedEvent] = {}

    async def __call__(self, stored: StoredEvent) -> RecordedEvent:
        decoded = self._decoded.get(stored.position)
        if decoded is None:
            decoded = self._decoded[stored.position] = await self._codec.decode(stored)
        return decoded


def covering_filter(filters: Sequence[str | None]) -> str | None:
    """The one subject filter among `filters` that covers all of them, or None (the whole log)."""
    if any(candidate is None for candidate in filters):
        return None
    for candidate in filters:
        if candidate is not None and all(_covers(candidate, other) for other in filters if other):
            return candidate
    return None


def _covers(wide: str, narrow: str) -> bool:
    return wide == narrow or (wide.endswith(".>") and narrow.startswith(wide[:-1]))


async def _batched(events: AsyncIterator[StoredEvent], size: int) -> AsyncIterator[list[StoredEvent]]:
    batch: list[StoredEvent] = []
    async for stored in events:
        batch.append(stored)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _prefetched(
    batches: AsyncIterator[list[StoredEvent]], ahead: int = 2
) -> AsyncIterator[list[StoredEvent]]:
    """Read the next micro-batches while the current one is applied (in writer threads): the
    log read and the SQL work overlap instead of taking turns."""
    queue: asyncio.Queue[list[StoredEvent] | BaseException | None] = asyncio.Queue(maxsize=ahead)

    async def pump() -> None:
        try:
            async for batch in batches:
                await queue.put(batch)
            await queue.put(None)
        except Exception as exc:
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()


async def _drained(events: AsyncIterator[StoredEvent], size: int) -> AsyncIterator[list[StoredEvent]]:
    """Micro-batches from a live feed: whatever has arrived, up to `size`, without waiting long."""
    queue: asyncio.Queue[StoredEvent | BaseException] = asyncio.Queue(maxsize=size * 4)

    async def pump() -> None:
        try:
            async for stored in events:
                await queue.put(stored)
        except BaseException as exc:
            await queue.put(exc)
            raise

    task = asyncio.create_task(pump())
    try:
        while True:
            first = await queue.get()
            batch = [first]
            while len(batch) < size and not queue.empty():
                batch.append(queue.get_nowait())
            errors = [b for b in batch if isinstance(b, BaseException)]
            items = [b for b in batch if isinstance(b, StoredEvent)]
            if items:
                yield items
            if errors:
                raise errors[0]
    finally:
        task.cancel()
