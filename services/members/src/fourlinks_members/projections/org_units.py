"""Read model of the org-unit tree."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table

from fourlinks_contracts.members import OrgUnitCreated, OrgUnitRenamed
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import RecordedEvent
from fourlinks_kernel.rows import upsert_row

metadata = MetaData()
org_units = Table(
    "org_units",
    metadata,
    Column("unit_id", String(36), primary_key=True),
    Column("path", String(512), nullable=False, unique=True),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("level", String(32), nullable=False),
    Column("parent_id", String(36), nullable=True, index=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)


class OrgUnitsProjection:
    """org_units: one row per unit, with its path for scope queries."""

    name: ClassVar[str] = "members.org_units"
    version: ClassVar[int] = 1
    metadata: ClassVar[MetaData] = metadata
    subjects: ClassVar[str | None] = "members.org_unit.>"
    handles: ClassVar[frozenset[str]] = frozenset({"OrgUnitCreated", "OrgUnitRenamed"})

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Insert on creation, update the name on renaming."""
        when, version = event.envelope.occurred_at, event.envelope.aggregate_version
        match event.event:
            case OrgUnitCreated() as created:
                values = {
                    "unit_id": created.unit_id,
                    "path": created.path,
                    "code": created.code,
                    "name": created.name,
                    "level": created.level.value,
                    "parent_id": created.parent_id,
                    "version": version,
                    "updated_at": when,
                }
                upsert_row(conn, org_units, values, ["unit_id"])
            case OrgUnitRenamed() as renamed:
                conn.execute(
                    org_units.update()
                    .where(org_units.c.unit_id == renamed.unit_id)
                    .values(name=renamed.name, version=version, updated_at=when)
                )
