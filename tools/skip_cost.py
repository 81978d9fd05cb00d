"""What a projection pays for events it does not handle: the tasks read model fed a stretch of the
log made only of members' events (as the assignments service is fed every members command), on
SQLite; CPU seconds per event, beside the same projection applying task events.

    .venv/bin/python tools/skip_cost.py [EVENTS]

A figure, not a test: run it before and after a change and compare the ratio.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from fourlinks_assignments.projections.tasks import TasksProjection
from fourlinks_contracts import full_registry
from fourlinks_contracts.members import OrgLevel
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.projection import ProjectionRunner
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_runtime.engines import create_engine

ACTOR = Actor(id="skip-cost", roles=("service",))
UNIT = unit_id_for("yuhang")


async def members_commands(store: InMemoryEventStore, count: int) -> None:
    """A stretch of the log only the members service cares about: a unit renamed again and again."""

    async def create(uow: UnitOfWork) -> None:
        (await uow.get(OrgUnit, UNIT)).create(
            path="yuhang", code="yuhang", name="余杭区", level=OrgLevel.DISTRICT, parent=None
        )

    await run_command(store, CommandContext.new(ACTOR), create)
    for n in range(count - 1):

        async def rename(uow: UnitOfWork, n: int = n) -> None:
            (await uow.get(OrgUnit, UNIT)).rename(f"余杭区 {n}")

        await run_command(store, CommandContext.new(ACTOR), rename)


async def cpu_per_event(count: int) -> float:
    """CPU seconds per members event that the tasks projection costs when events come one at a
    time (one micro-batch each, as live commands arrive): the runner's own step, timed alone."""
    cipher = PersonalDataCipher(master_key=os.urandom(32), keys=InMemoryKeyStore())
    store = InMemoryEventStore(EventCodec(full_registry(), cipher))
    await members_commands(store, count)
    stored = [s async for s in store.read()]
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(scratch) / 'read.db'}")
        runner = ProjectionRunner(TasksProjection(), store=store, engine=engine, batch_size=1)
        await runner.prepare()
        started = time.process_time()
        for event in stored:
            await runner.take([event], store.codec.decode)  # the step a live micro-batch of one event takes
        await runner.flush()
        spent = time.process_time() - started
        runner.close()
        await engine.dispose()
    return spent / count


async def main(count: int) -> None:
    skipped = await cpu_per_event(count)
    print(
        f"tasks projection, {count} members events one micro-batch each: {skipped * 1e6:.1f} µs CPU an event"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
