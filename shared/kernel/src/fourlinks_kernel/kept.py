"""Folded aggregates a process keeps between commands, so a command on an aggregate it used lately
reads nothing from the log.

Safe because every write carries the expectation of the stream's last position: a write decided on
state another process has moved past is refused (10071), the entry dropped and the command run
again on a fresh load. A decision that writes nothing (a refusal, a no-op) has no such check, so the
unit of work confirms it on a fresh load before answering (`run_command`). An entry is handed out
to one command at a time (taken, then kept again only after a successful command), so a failed or
half-decided command never leaves its state behind.

Personal data: an entry that holds anyone's personal fields is kept no longer than the key cache
keeps a key (30 s), so an erasure in another process takes effect here as fast as it does for a
fresh load; an erasure in this process drops every entry holding that person at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import StreamId
from fourlinks_kernel.store import StreamState

PERSONAL_SECONDS = 30.0  # as long as PersonalDataCipher keeps a key


@dataclass(frozen=True)
class Kept:
    """An aggregate folded up to `state`, with the commands and people its history holds."""

    aggregate: Aggregate
    state: StreamState
    command_ids: frozenset[str]
    people: frozenset[str]
    at: float


class KeptAggregates:
    """A bounded, least-recently-used set of folded aggregates."""

    def __init__(
        self,
        capacity: int = 4096,
        *,
        personal_seconds: float = PERSONAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.personal_seconds = personal_seconds
        self.clock = clock
        self._entries: OrderedDict[StreamId, Kept] = OrderedDict()
        self._erased: set[str] = set()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, stream: StreamId) -> Kept | None:
        """The kept state of a stream, removed until the command using it succeeds."""
        kept = self._entries.pop(stream, None)
        if kept is not None and kept.people and self.clock() - kept.at > self.personal_seconds:
            kept = None
        if kept is None:
            self.misses += 1
        else:
            self.hits += 1
        return kept

    def keep(
        self,
        stream: StreamId,
        aggregate: Aggregate,
        state: StreamState,
        *,
        command_ids: Iterable[str],
        people: Iterable[str],
        at: float | None = None,
    ) -> None:
        """Keep a folded aggregate, unless a newer state of it is kept already or it holds someone
        erased while the command ran."""
        if self.capacity <= 0:
            return
        people = frozenset(people)
        if people & self._erased:
            return
        current = self._entries.get(stream)
        if current is not None and current.state.position >= state.position:
            return
        stamp = self.clock() if at is None else at
        self._entries[stream] = Kept(aggregate, state, frozenset(command_ids), people, stamp)
        self._entries.move_to_end(stream)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget_person(self, person: str) -> None:
        """Someone's key was destroyed here: drop every state holding them, now and later."""
        self._erased.add(person)
        for stream in [s for s, kept in self._entries.items() if person in kept.people]:
            del self._entries[stream]
