"""Prometheus metrics of one service: HTTP requests, commands, conflicts, projection positions and
lag, policies' backlog. A figure that cannot be known now (NATS away) is NaN, never the
last number seen."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

UNKNOWN = float("nan")
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ServiceMetrics:
    """The metrics a service exposes on /metrics (no personal data in any label)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_duration = Histogram(
            "fourlinks_http_request_duration_seconds",
            "HTTP requests by method, route template and status, and how long they took",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.policy_pending = Gauge(
            "fourlinks_policy_pending",
            "Log positions a policy has not reached yet (NaN: unknown now)",
            ["policy"],
            registry=self.registry,
        )
        self.policy_ack_pending = Gauge(
            "fourlinks_policy_ack_pending",
            "Events a policy is reacting to now",
            ["policy"],
            registry=self.registry,
        )
        self.policy_redelivered = Gauge(
            "fourlinks_policy_redelivered",
            "Events a policy is trying again after its reaction failed",
            ["policy"],
            registry=self.registry,
        )
        self.commands = Counter(
            "fourlinks_commands_total",
            "Commands handled, by outcome",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.conflicts = Counter(
            "fourlinks_conflicts_total",
            "Commands refused on a concurrency conflict",
            ["command"],
            registry=self.registry,
        )
        self.projection_position = Gauge(
            "fourlinks_projection_position",
            "Last log position applied",
            ["projection"],
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "fourlinks_projection_lag",
            "Log positions not yet applied (NaN: unknown now, NATS unreachable)",
            ["projection"],
            registry=self.registry,
        )
        self.projection_halted = Gauge(
            "fourlinks_projection_halted",
            "1 when the projection halted",
            ["projection"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "fourlinks_ready",
            "1 when /health/ready answers 200 (0: see what it says is missing)",
            registry=self.registry,
        )
        self.figures: dict[str, Gauge] = {}
        self.nats_connected = Gauge(
            "fourlinks_nats_connected", "1 when connected to NATS", registry=self.registry
        )

    def figure(self, name: str, description: str) -> Gauge:
        """The gauge of one business figure, by unit (made on first use)."""
        if name not in self.figures:
            self.figures[name] = Gauge(name, description, ["unit"], registry=self.registry)
        return self.figures[name]
