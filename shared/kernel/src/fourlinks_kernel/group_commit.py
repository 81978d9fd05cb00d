"""Group commit: the appends of concurrent commands that arrive while one is being written go to
the server together, as one atomic batch.

With `sync_interval: always` the server syncs every write to disk, so a second command waiting
for the first one's sync costs a whole sync of its own; joined, they share one. Each command's
events keep their expectation (on each aggregate's first event), so the joined batch is refused
if any one of them would have been: then each is sent again on its own, and only the one whose
aggregate moved on is refused. No command is refused for another's conflict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fourlinks_kernel.errors import ConcurrencyConflict
from fourlinks_kernel.store import MAX_EVENTS_PER_APPEND, EncodedWrites

Publish = Callable[[EncodedWrites], Awaitable[int]]


@dataclass
class _Waiting:
    batch: EncodedWrites
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class GroupCommitFigures:
    """How often commands were joined (for the benchmark and /metrics)."""

    batches: int = 0
    commands: int = 0
    split_after_conflict: int = 0


class GroupCommit:
    """One writer at a time; whoever arrives meanwhile goes in the next write, together."""

    def __init__(self, publish: Publish, *, limit: int = MAX_EVENTS_PER_APPEND) -> None:
        self._publish = publish
        self._limit = limit
        self._queue: list[_Waiting] = []
        self._writing = False
        self.figures = GroupCommitFigures()

    async def publish(self, batch: EncodedWrites) -> int:
        """Store one command's writes; the position of its last event."""
        if not self._writing:
            return await self._alone(batch)
        waiting = _Waiting(batch)
        self._queue.append(waiting)
        return await waiting.done

    async def _alone(self, batch: EncodedWrites) -> int:
        """Nothing being written: straight through in the caller's own task (no hand-over), and
        whoever arrives meanwhile is written together after it."""
        self._writing = True
        self.figures.batches += 1
        self.figures.commands += 1
        try:
            return await self._publish(batch)
        finally:
            if self._queue:
                asyncio.get_running_loop().create_task(self._write_all())
            else:
                self._writing = False

    async def _write_all(self) -> None:
        try:
            while self._queue:
                await self._write(self._next_group())
        finally:
            self._writing = False

    def _next_group(self) -> list[_Waiting]:
        """The longest run of waiting commands within the batch limit, no aggregate twice (two
        commands on one aggregate go one after the other, so the second sees the first)."""
        group: list[_Waiting] = []
        streams: set[object] = set()
        size = 0
        for waiting in list(self._queue):
            mine = {w.stream for w in waiting.batch.writes}
            if group and (size + waiting.batch.size > self._limit or mine & streams):
                break
            group.append(waiting)
            streams |= mine
            size += waiting.batch.size
        del self._queue[: len(group)]
        return group

    async def _write(self, group: list[_Waiting]) -> None:
        self.figures.batches += 1
        self.figures.commands += len(group)
        if len(group) == 1:
            await _settle(group[0], self._publish(group[0].batch))
            return
        try:
            last = await self._publish(_joined(group))
        except ConcurrencyConflict:
            self.figures.split_after_conflict += 1
            await asyncio.gather(*(_settle(w, self._publish(w.batch)) for w in group))
            return
        except BaseException as exc:
            for waiting in group:
                _fail(waiting, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for waiting in reversed(group):
            if not waiting.done.done():
                waiting.done.set_result(last)
            last -= waiting.batch.size


def _joined(group: list[_Waiting]) -> EncodedWrites:
    return EncodedWrites(
        tuple(write for w in group for write in w.batch.writes),
        tuple(encoded for w in group for encoded in w.batch.encoded),
    )


async def _settle(waiting: _Waiting, publishing: Awaitable[int]) -> None:
    try:
        result = await publishing
    except Exception as exc:
        _fail(waiting, exc)
        return
    if not waiting.done.done():
        waiting.done.set_result(result)


def _fail(waiting: _Waiting, exc: BaseException) -> None:
    if not waiting.done.done():
        waiting.done.set_exception(exc)
