"""Prometheus metrics of one service: commands, conflicts, projection positions and lag."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class ServiceMetrics:
    """The metrics a service exposes on /metrics (no personal data in any label)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
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
            "Log positions not yet applied",
            ["projection"],
            registry=self.registry,
        )
        self.projection_halted = Gauge(
            "fourlinks_projection_halted",
            "1 when the projection halted",
            ["projection"],
            registry=self.registry,
        )
        self.nats_connected = Gauge(
            "fourlinks_nats_connected", "1 when connected to NATS", registry=self.registry
        )
