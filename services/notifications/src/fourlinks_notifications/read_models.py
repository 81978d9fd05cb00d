"""The notifications service's read models: what a rebuild needs, and nothing of HTTP or channels."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fourlinks_directory.members_directory import MemberDirectoryProjection
from fourlinks_kernel.projection import Projection
from fourlinks_notifications.projections.outbox import OutboxProjection

PROJECTIONS: Sequence[Callable[[], Projection]] = (MemberDirectoryProjection, OutboxProjection)
