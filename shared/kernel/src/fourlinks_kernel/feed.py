"""One read of the log for all the projections of a process: each event is fetched and decoded
once, and every projection is handed the micro-batch to apply what it handles.

During catch-up the feed reads from the lowest checkpoint (a projection skips what it already
has); live, it asks the server only for the subjects its projections (and riders) read, and still
knows how far the whole log is read for them: now and then, and at once when a reader waits for a
position the projections have not reached (read-your-writes, whatever context wrote it), the
live read vouches for the log's end (nothing the filters let through is pending up to there) and
every projection's position moves there without applying anything. A projection that halts is
set aside and the others go on.

Riders (a service's policies) are handed each micro-batch once every projection has applied it,
so a reaction that reads a read model sees everything up to its event. A rider must not block the
feed: one that falls behind reads what it missed from the log itself, then rides again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import structlog

from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.envelope import RecordedEvent, StoredEvent
from fourlinks_kernel.projection import Decode, ProjectionHalted, ProjectionRunner, raise_if_cancelling
from fourlinks_kernel.store import EventStore, LiveRead, Reached

log = structlog.get_logger(__name__)
PROBE_EVERY = 0.25
"""Seconds between the live read's probes of how far the whole log is read (one stream info
request when the log did not move, and a consumer info request when it did)."""
WANTED_EVERY = 0.02
"""Seconds at least between the probes that waiting readers ask for."""


class Rider(Protocol):
    """Rides the feed after the projections (a policy): it must never block the feed."""

    @property
    def subjects(self) -> str | None:
        """The subjects it reads, below the prefix (None: the whole log)."""
        ...

    def offer(self, batch: list[StoredEvent], decode: Decode, *, after: int, until: int) -> None:
        """What the feed read in the positions after `after` up to `until` (only what its filter
        lets through: `batch` may be empty), every projection having applied it."""
        ...


class ProjectionFeed:
    """Feeds several projection runners (sharing one store) from one read of the log, and then
    its riders."""

    def __init__(
        self,
        runners: Sequence[ProjectionRunner],
        *,
        riders: Sequence[Rider] = (),
        store: EventStore | None = None,
        batch_size: int = 500,
    ) -> None:
        if not runners and (not riders or store is None):
            raise ValueError("a feed needs at least one projection, or riders and a store")
        self.runners = list(runners)
        self.riders = list(riders)
        owner = self.runners[0].store if self.runners else store
        assert owner is not None
        self.store: EventStore = owner
        self.batch_size = max((runner.batch_size for runner in self.runners), default=batch_size)
        self.halted: dict[str, str] = {}
        self.read_to = 0  # the feed has read (and handed on) the log up to here
        self._live: LiveRead | None = None
        self.delivered: Counter[str] = Counter()  # events read from the server, by context
        self._wanted_at = 0.0

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
        if not self.active and not self.riders:
            return
        start = min((runner.status.position for runner in self.active), default=self.read_to) + 1
        self.read_to = start - 1
        await self._follow(start)

    def want(self, position: int) -> None:
        """A reader waits for `position`: if the projections are not there yet, the live read
        probes how far the whole log is read now rather than at its next probe."""
        now = asyncio.get_running_loop().time()
        if self._live is None or now - self._wanted_at < WANTED_EVERY:
            return
        if position > min((runner.status.position for runner in self.active), default=self.read_to):
            self._wanted_at = now
            self._live.probe()

    async def _follow(self, start: int) -> None:
        live = self.store.follow(
            from_position=start, subjects=self._live_filters(), batch_size=self.batch_size
        )
        self._live = live
        pacer = asyncio.create_task(_probe_every(live, PROBE_EVERY))
        items = aiter(live)
        try:
            await self._consume(items)
        finally:
            pacer.cancel()
            self._live = None
            await items.aclose()  # its consumer goes now, not when the generator is collected

    def _live_filters(self) -> list[str] | None:
        """What the live read asks the server for: the subjects of every projection and rider."""
        filters = subject_filters(
            [runner.projection.subjects for runner in self.active] + [rider.subjects for rider in self.riders]
        )
        return None if filters is None else [f"{self.store.prefix}.{f}" for f in filters]

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
        self.read_to = start  # what riders were handed before this catch-up is not known here
        if start < target:
            events = self.store.read(
                from_position=start + 1, until_position=target, subjects=self._subject_filter(active)
            )
            await self._consume(_prefetched(_batched(events, self.batch_size)))
        for runner in self.active:
            await runner.finish(target)
        self._hand_on([], DecodeOnce(self.store.codec), until=target)

    def _subject_filter(self, runners: Sequence[ProjectionRunner]) -> str | None:
        """One filter that covers every projection's subjects (the server skips the rest), or
        None for the whole log."""
        relative = covering_filter(
            [runner.projection.subjects for runner in runners] + [rider.subjects for rider in self.riders]
        )
        return None if relative is None else f"{self.store.prefix}.{relative}"

    async def _consume(self, batches: AsyncIterator[list[StoredEvent] | Reached]) -> None:
        async for batch in batches:
            if isinstance(batch, Reached):
                await self._reach(batch.position)
                continue
            skip = len(self.store.prefix) + 1
            self.delivered.update(stored.subject[skip:].split(".", 1)[0] for stored in batch)
            decode = DecodeOnce(self.store.codec)
            # One after another: the Python work holds one core whatever the order, and a crash
            # (even KeyboardInterrupt) surfaces from the projection it happened in.
            for runner in self.active:
                try:
                    await runner.take(batch, decode)
                except ProjectionHalted as halted:
                    self._set_aside(runner, halted)
            if not self.active and not self.riders:
                return
            self._hand_on(batch, decode, until=batch[-1].position)
            raise_if_cancelling()  # a database driver may have absorbed a cancellation mid-commit

    async def _reach(self, position: int) -> None:
        """The live read vouched for the log up to `position`: everything the projections read up
        to there is applied, so their positions move there, and the riders learn it."""
        for runner in self.active:
            runner.reach(position)  # all at once: a reader sees every projection there
        for runner in self.active:
            try:
                await runner.keep_reached()
            except ProjectionHalted as halted:
                self._set_aside(runner, halted)
        if position > self.read_to:
            self._hand_on([], DecodeOnce(self.store.codec), until=position)

    def _hand_on(self, batch: list[StoredEvent], decode: Decode, *, until: int) -> None:
        """To every rider, once the projections applied the batch (no await in between: a rider
        that reads where the feed stands never misses a batch handed on)."""
        for rider in self.riders:
            rider.offer(batch, decode, after=self.read_to, until=until)
        self.read_to = until

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
        self._few: dict[tuple[int, frozenset[str]], RecordedEvent] = {}

    async def __call__(self, stored: StoredEvent, fields: frozenset[str] | None = None, /) -> RecordedEvent:
        decoded = self._decoded.get(stored.position)  # a whole event serves any fields asked for
        if decoded is None and fields is not None:
            key = (stored.position, fields)
            decoded = self._few.get(key)
            if decoded is None:
                decoded = self._few[key] = await self._codec.decode(stored, fields)
        elif decoded is None:
            decoded = self._decoded[stored.position] = await self._codec.decode(stored)
        return decoded


Filters = Sequence[str | tuple[str, ...] | None]
"""Each reader's subject filters: one, several, or None (the whole log)."""


def covering_filter(filters: Filters) -> str | None:
    """The one subject filter among `filters` that covers all of them, or None (the whole log)."""
    flat = _flattened(filters)
    if flat is None:
        return None
    for candidate in flat:
        if all(_covers(candidate, other) for other in flat):
            return candidate
    return None


def subject_filters(filters: Filters) -> list[str] | None:
    """The fewest filters that let through what every one of `filters` does, none covered by
    another (the server refuses overlapping filters); None: the whole log."""
    flat = _flattened(filters)
    if flat is None:
        return None
    kept: list[str] = []
    for candidate in dict.fromkeys(flat):
        if not any(_covers(other, candidate) for other in flat if other != candidate):
            kept.append(candidate)
    if any(_overlap(a, b) for index, a in enumerate(kept) for b in kept[index + 1 :]):
        return None  # filters that share subjects without one covering the other: the whole log
    return kept


def _flattened(filters: Filters) -> list[str] | None:
    flat: list[str] = []
    for each in filters:
        if each is None:
            return None
        flat.extend([each] if isinstance(each, str) else each)
    return flat or None


def _covers(wide: str, narrow: str) -> bool:
    """Whether `wide` matches every subject `narrow` matches."""
    wide_parts, narrow_parts = wide.split("."), narrow.split(".")
    for index, part in enumerate(wide_parts):
        if part == ">":
            return len(narrow_parts) > index
        if index >= len(narrow_parts) or narrow_parts[index] == ">":
            return False
        if part not in ("*", narrow_parts[index]):
            return False
    return len(wide_parts) == len(narrow_parts)


def _overlap(one: str, other: str) -> bool:
    """Whether some subject matches both filters."""
    first, second = one.split("."), other.split(".")
    for index in range(max(len(first), len(second))):
        a = first[index] if index < len(first) else None
        b = second[index] if index < len(second) else None
        if a == ">" or b == ">":
            return a is not None and b is not None
        if a is None or b is None:
            return False
        if "*" not in (a, b) and a != b:
            return False
    return True


async def _probe_every(live: LiveRead, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        live.probe()


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
