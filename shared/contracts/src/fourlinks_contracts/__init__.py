"""Versioned event contracts shared by the Four Links services."""

from __future__ import annotations

from fourlinks_contracts import assignments, feedback, members, notifications, visibility
from fourlinks_kernel.events import EventRegistry
from fourlinks_kernel.privacy import privacy_registry


def full_registry() -> EventRegistry:
    """Every contract of every context: a service decodes the events it consumes from others."""
    registry = privacy_registry()
    registry.register(*members.EVENTS, *assignments.EVENTS, *feedback.EVENTS, *notifications.EVENTS)
    for event_type, version, upcaster in (*assignments.UPCASTERS, *feedback.UPCASTERS):
        registry.register_upcaster(event_type, version, upcaster)
    return registry


__all__ = ["assignments", "feedback", "full_registry", "members", "notifications", "visibility"]
