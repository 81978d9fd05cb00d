"""The members service's read models: what a rebuild needs, and nothing of HTTP or policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fourlinks_kernel.projection import Projection
from fourlinks_members.projections.directory import DirectoryProjection
from fourlinks_members.projections.org_units import OrgUnitsProjection
from fourlinks_members.projections.search import SearchProjection

PROJECTIONS: Sequence[Callable[[], Projection]] = (OrgUnitsProjection, DirectoryProjection, SearchProjection)
