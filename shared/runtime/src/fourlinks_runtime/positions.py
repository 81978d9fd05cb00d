"""Where the projections stand, read from their checkpoints: what an API process, which runs no
projection itself, waits on for read-your-writes and reports as readiness (`FOURLINKS_PROCESS_ROLE
=api`; the service's worker process runs the projections and writes the checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_kernel.projection import ProjectionStatus, checkpoints


@dataclass
class StoredPositions:
    """The checkpoints of a service's projections, as the process running them wrote them down."""

    engine: AsyncEngine
    names: list[str]
    start_target: int  # the log's last position when this process started

    async def statuses(self) -> list[ProjectionStatus]:
        """One status per projection; a projection the worker has not started yet is at 0."""
        query = select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.halted_reason).where(
            checkpoints.c.name.in_(self.names)
        )
        try:
            async with self.engine.connect() as conn:
                rows = {row.name: row for row in (await conn.execute(query)).all()}
        except (OperationalError, ProgrammingError):  # no checkpoint table yet: no worker has run
            rows = {}
        statuses = []
        for name in self.names:
            row = rows.get(name)
            position = int(row.position) if row else 0
            statuses.append(
                ProjectionStatus(
                    name,
                    position=position,
                    target=self.start_target,
                    caught_up=row is not None and position >= self.start_target,
                    halted_reason=row.halted_reason if row else None,
                )
            )
        return statuses
