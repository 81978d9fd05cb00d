"""Org units: every record belongs to exactly one; every actor's scope is one and what lies under it."""

from __future__ import annotations

import uuid
from typing import ClassVar

from fourlinks_contracts.members import CONTEXT, PARENT_LEVELS, OrgLevel, OrgUnitCreated, OrgUnitRenamed
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict
from fourlinks_kernel.events import DomainEvent

_UNITS = uuid.UUID("5f0c1b7e-4d1e-4c55-9a3b-6a2f0e8d4c11")


def unit_id_for(path: str) -> str:
    """The stable id of the unit at a path: creating a path twice meets the same aggregate."""
    return str(uuid.uuid5(_UNITS, path))


class OrgUnit(Aggregate):
    """One unit of the district → street → community → grid/building tree."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "org_unit"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.path = ""
        self.name = ""
        self.level: OrgLevel | None = None

    def create(self, *, path: str, code: str, name: str, level: OrgLevel, parent: OrgUnit | None) -> None:
        """Create the unit under its parent, checking the level fits."""
        if self.exists:
            raise StateConflict(f"org unit {path} already exists")
        allowed = PARENT_LEVELS[level]
        if parent is None and allowed:
            raise InvalidCommand(f"a {level} needs a parent ({' or '.join(allowed)})")
        if parent is not None:
            if not parent.exists:
                raise NotFound(f"parent org unit {parent.path or parent.id} does not exist")
            if parent.level not in allowed:
                raise InvalidCommand(f"a {level} cannot sit under a {parent.level}")
        self._record(
            OrgUnitCreated(
                unit_id=self.id,
                path=path,
                code=code,
                name=name,
                level=level,
                parent_id=parent.id if parent else None,
            )
        )

    def rename(self, name: str) -> None:
        """Give the unit a new display name."""
        if not self.exists:
            raise NotFound(f"org unit {self.id} does not exist")
        if name != self.name:
            self._record(OrgUnitRenamed(unit_id=self.id, name=name, previous_name=self.name))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case OrgUnitCreated():
                self.path, self.name, self.level = event.path, event.name, event.level
            case OrgUnitRenamed():
                self.name = event.name
