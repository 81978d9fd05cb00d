"""Rate limits on the routes anyone or any resident can reach: per client address and for the whole
process, answered 429 with Retry-After. Token buckets in memory, one set per running app: each
replica counts its own, so a deployment's bound is the replicas' sum (the Ingress may bound further).
FOURLINKS_RATE_LIMITS=false turns them off (benchmarks, where one address sends the whole load)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, status

from fourlinks_runtime.errors import RATE_LIMITED, Refusal
from fourlinks_runtime.settings import Settings

TOO_MANY: dict[int | str, dict[str, object]] = {
    429: {"description": "Too many requests from this address; the Retry-After header says when to try again"}
}
"""The answer a rate-limited route declares in the OpenAPI document."""
CLIENTS_KEPT = 50_000
"""Client addresses remembered per limit; the least recently seen are forgotten first."""


@dataclass
class Bucket:
    """`per_minute` requests a minute, up to a minute's worth at once."""

    per_minute: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 when a request may pass now, else the seconds until one may."""
        self.tokens = min(self.per_minute, self.tokens + (now - self.at) * self.per_minute / 60)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * 60 / self.per_minute


@dataclass
class Counts:
    """One limit's buckets in one running app: per client address, and the process's."""

    per_client: float
    overall: float
    clock: Callable[[], float] = time.monotonic
    clients: OrderedDict[str, Bucket] = field(default_factory=OrderedDict)
    everyone: Bucket | None = None

    def wait_for(self, client: str) -> float:
        """0 when this client's request may pass, else the seconds to wait."""
        now = self.clock()
        if self.everyone is None:
            self.everyone = Bucket(self.overall, self.overall, now)
        bucket = self.clients.pop(client, None) or Bucket(self.per_client, self.per_client, now)
        self.clients[client] = bucket
        while len(self.clients) > CLIENTS_KEPT:
            self.clients.popitem(last=False)
        return bucket.take(now) or self.everyone.take(now)


def _switched_on(runtime: Any) -> bool:
    """A service's runtime or the console's settings: whether rate limits apply."""
    settings = runtime if isinstance(runtime, Settings) else runtime.settings
    return bool(settings.rate_limits)


@dataclass(frozen=True)
class RateLimit:
    """A route's limits, requests a minute: per client address and for the whole process."""

    name: str
    per_client: float
    overall: float

    async def __call__(self, request: Request) -> None:
        """FastAPI dependency: 429 with Retry-After past the limit."""
        self.count(request, request.client.host if request.client else "unknown")

    def count(self, request: Request, key: str) -> None:
        """One request by `key` (a client address; or what else a route limits by, a service card):
        429 with Retry-After past the limit."""
        state = request.app.state
        if not _switched_on(state.runtime):
            return
        if not hasattr(state, "rate_counts"):
            state.rate_counts = {}
        counts = state.rate_counts.setdefault(self.name, Counts(self.per_client, self.overall))
        wait = counts.wait_for(key)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise Refusal(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many requests for {self.name} from this address: try again in {seconds} seconds",
                RATE_LIMITED,
                headers={"Retry-After": str(seconds)},
                seconds=seconds,
            )
