"""A projection that has stopped following the log is named, not counted ready: behind the log's
end and not moving for a while (a feed stalled by the server or the network, which its own status
would still report as caught up)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fourlinks_kernel.projection import ProjectionStatus

STALLED_SECONDS = 60.0
"""Behind the log and not moving this long: stalled (a projection catching up moves every second)."""


@dataclass
class StallWatch:
    """Where each projection stood, and since when, across readiness probes."""

    seconds: float = STALLED_SECONDS
    clock: Callable[[], float] = time.monotonic
    _since: dict[str, tuple[int, float]] = field(default_factory=dict)

    def stalled(self, statuses: Sequence[ProjectionStatus], last: int) -> list[str]:
        """Why a projection is not following the log, in words (empty when all follow it)."""
        now, found = self.clock(), []
        for status in statuses:
            seen = self._since.get(status.name)
            if seen is None or seen[0] != status.position or status.position >= last:
                self._since[status.name] = (status.position, now)
                continue
            still = now - seen[1]
            if still >= self.seconds and not status.halted_reason:
                found.append(
                    f"projection {status.name} stalled: {last - status.position:,} events behind the log "
                    f"and not moving for {still:.0f} s (restart the service; see its log)"
                )
        return found
