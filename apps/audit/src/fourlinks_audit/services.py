"""The services whose read models the audit tools rebuild, by name: their read models only, so a
rebuild loads no HTTP adapter, no FastAPI and no policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fourlinks_assignments import read_models as assignments
from fourlinks_feedback import read_models as feedback
from fourlinks_kernel.projection import Projection
from fourlinks_members import read_models as members
from fourlinks_notifications import read_models as notifications

READ_MODELS: dict[str, Sequence[Callable[[], Projection]]] = {
    "members": members.PROJECTIONS,
    "assignments": assignments.PROJECTIONS,
    "feedback": feedback.PROJECTIONS,
    "notifications": notifications.PROJECTIONS,
}


def projections_of(service: str) -> Sequence[Callable[[], Projection]]:
    """One service's read models, or a clear error naming the known services."""
    try:
        return READ_MODELS[service]
    except KeyError:
        raise SystemExit(f"unknown service {service!r}; choose from {', '.join(READ_MODELS)}") from None
