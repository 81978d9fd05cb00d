"""Events of the members context: org units (and, as it grows, members, households, cards)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from fourlinks_kernel.events import DomainEvent

CONTEXT = "members"


class OrgLevel(StrEnum):
    """District → street or town → community or village → grid, natural village or building."""

    DISTRICT = "district"
    STREET = "street"
    TOWN = "town"
    COMMUNITY = "community"
    VILLAGE = "village"
    GRID = "grid"
    NATURAL_VILLAGE = "natural_village"
    BUILDING = "building"


PARENT_LEVELS: dict[OrgLevel, tuple[OrgLevel, ...]] = {
    OrgLevel.DISTRICT: (),
    OrgLevel.STREET: (OrgLevel.DISTRICT,),
    OrgLevel.TOWN: (OrgLevel.DISTRICT,),
    OrgLevel.COMMUNITY: (OrgLevel.STREET, OrgLevel.TOWN),
    OrgLevel.VILLAGE: (OrgLevel.STREET, OrgLevel.TOWN),
    OrgLevel.GRID: (OrgLevel.COMMUNITY, OrgLevel.VILLAGE),
    OrgLevel.NATURAL_VILLAGE: (OrgLevel.VILLAGE,),
    OrgLevel.BUILDING: (OrgLevel.COMMUNITY, OrgLevel.GRID),
}


class OrgUnitCreated(DomainEvent):
    """An org unit was created under its parent; its path never changes."""

    event_type: ClassVar[str] = "OrgUnitCreated"
    unit_id: str
    path: str
    code: str
    name: str
    level: OrgLevel
    parent_id: str | None


class OrgUnitRenamed(DomainEvent):
    """An org unit got a new display name; its path and code stay."""

    event_type: ClassVar[str] = "OrgUnitRenamed"
    unit_id: str
    name: str
    previous_name: str


EVENTS: tuple[type[DomainEvent], ...] = (OrgUnitCreated, OrgUnitRenamed)
