"""The assignments service's read models: what a rebuild needs, and nothing of HTTP or policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fourlinks_assignments.projections.tasks import TasksProjection
from fourlinks_directory.members_directory import MemberDirectoryProjection
from fourlinks_kernel.projection import Projection

PROJECTIONS: Sequence[Callable[[], Projection]] = (MemberDirectoryProjection, TasksProjection)
