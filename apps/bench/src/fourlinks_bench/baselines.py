"""The baselines every figure is read against, measured in the same run on the same machine.

- raw JetStream: publish+ack of a payload the size of our events, same durability and concurrency
  (the physical limit of the command path), and an ordered consumer reading the stream and
  decoding each payload's JSON (the physical limit of a replay);
- the `eventsourcing` library (PostgreSQL and SQLite recorders): the same command shape (load an
  aggregate, record one event, save) and reading plus decoding the same number of events.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from fourlinks_assignments.application import handlers as tasks
from fourlinks_assignments.application.commands import ReportProgress
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask, Task
from fourlinks_bench.measure import Latencies, closed_loop
from fourlinks_contracts.assignments import TaskSource
from fourlinks_contracts.members import Urgency
from fourlinks_kernel.envelope import Actor, CommandContext, type_headers
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.kept import KeptAggregates
from fourlinks_kernel.provisioning import ProvisionOptions, stream_config
from fourlinks_kernel.store import EventStore
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command

RAW_STREAM = JetStreamSettings(stream="BENCH_RAW", prefix="benchraw")


async def raw_publish(nc: Client, *, payload_size: int, count: int, concurrency: int) -> dict[str, Any]:
    """Publish+ack with a message id and type headers, as our appends do, at `concurrency`, into a
    stream made like the events stream that nothing follows (so no service works meanwhile)."""
    payload, latencies = b"x" * payload_size, Latencies()
    config = stream_config(ProvisionOptions(jetstream=RAW_STREAM))
    await nc.request(f"$JS.API.STREAM.CREATE.{RAW_STREAM.stream}", json.dumps(config).encode(), timeout=10)
    typed = type_headers("Written", 1)

    async def one(n: int) -> None:
        started = time.perf_counter()
        reply = await nc.request(
            f"{RAW_STREAM.prefix}.raw.case.{n % 1000}",
            payload,
            timeout=30,
            headers={"Nats-Msg-Id": str(uuid.uuid4()), **typed},
        )
        latencies.add(time.perf_counter() - started)
        if b'"error"' in reply.data:
            raise RuntimeError(f"raw publish refused: {reply.data!r}")

    rate = await closed_loop(count, concurrency, one)
    return {"per_second": round(rate), **latencies.summary()}


async def raw_ordered_read(nc: Client, *, stream: str, events: int) -> dict[str, Any]:
    """An ordered consumer over the whole stream, decoding every payload's JSON."""
    js = nc.jetstream()
    done = asyncio.get_running_loop().create_future()
    seen = 0

    async def on_message(msg: Any) -> None:
        nonlocal seen
        json.loads(msg.data)
        seen += 1
        if seen >= events and not done.done():
            done.set_result(None)

    started = time.perf_counter()
    sub = await js.subscribe(
        "fourlinks.>",
        stream=stream,
        cb=on_message,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        pending_msgs_limit=100_000,
        pending_bytes_limit=512 * 1024 * 1024,
    )
    await done
    seconds = time.perf_counter() - started
    await sub.unsubscribe()
    return {"events": seen, "seconds": round(seconds, 2), "per_second": round(seen / seconds)}


# -- the eventsourcing library ------------------------------------------------------------------------
class Case(Aggregate):
    """A task-like aggregate: created, then one event per command."""

    @event("Raised")
    def __init__(self, org_unit: str, description: str) -> None:
        self.org_unit = org_unit
        self.description = description
        self.steps: list[str] = []

    @event("Stepped")
    def step(self, note: str) -> None:
        self.steps.append(note)


class Cases(Application[uuid.UUID]):
    """The library's application holding cases."""


def eventsourcing_env(
    kind: str, *, sqlite_path: Path | None, postgres: dict[str, str] | None
) -> dict[str, str]:
    """The library's persistence settings for its SQLite or PostgreSQL recorder."""
    if kind == "sqlite":
        assert sqlite_path is not None
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(sqlite_path)}
    assert postgres is not None
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_POOL_SIZE": "40", **postgres}


def eventsourcing_commands(
    env: dict[str, str], *, count: int, concurrency: int, note_size: int
) -> dict[str, Any]:
    """Load a case, record one event, save: `count` times with `concurrency` threads."""
    app = Cases(env=env)
    try:
        case_ids = []
        for _ in range(max(concurrency, 1) * 4):
            case = Case("yuhang/s01/c001", "路灯坏了")
            app.save(case)
            case_ids.append(case.id)
        latencies, note = Latencies(), "x" * note_size

        def one(n: int) -> None:
            started = time.perf_counter()
            for _attempt in range(10):
                case: Case = app.repository.get(case_ids[n % len(case_ids)])
                case.step(note)
                try:
                    app.save(case)
                    break
                except IntegrityError:  # the library's concurrency conflict: reload and retry
                    continue
            latencies.add(time.perf_counter() - started)

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(count)))
        rate = count / (time.perf_counter() - started)
        return {"per_second": round(rate), **latencies.summary()}
    finally:
        app.close()


def eventsourcing_replay(
    env: dict[str, str], *, events: int, note_size: int, progress: Callable[[int], None]
) -> dict[str, Any]:
    """Write `events` into the library's recorder (untimed), then read and decode them all (timed)."""
    app = Cases(env=env)
    try:
        written = 0
        while written < events:
            cases = []
            for _ in range(100):
                case = Case("yuhang/s01/c001", "路灯坏了")
                for _step in range(9):
                    case.step("x" * note_size)
                cases.append(case)
            app.save(*cases)
            written += 1000
            progress(1000)
        started, read, start = time.perf_counter(), 0, 1
        while read < events:
            page = app.recorder.select_notifications(start, 1000)
            if not page:
                break
            for notification in page:
                app.mapper.to_domain_event(notification)
            read += len(page)
            start = page[-1].id + 1
        seconds = time.perf_counter() - started
        return {"events": read, "seconds": round(seconds, 2), "per_second": round(read / seconds)}
    finally:
        app.close()


# -- our kernel, the library's command shape ----------------------------------------------------------
async def kernel_commands(store: EventStore, *, count: int, concurrency: int) -> dict[str, Any]:
    """Load a task, record one progress report, append (with its expectation, `sync_interval:
    always`): the library's command shape on our kernel and JetStream, in process, no HTTP; the
    tasks kept folded between commands, as a service keeps them."""
    kept = KeptAggregates()
    member = Actor(id=f"bench-member-{uuid.uuid4()}", roles=("member",), scope="yuhang")
    task_ids = [str(uuid.uuid4()) for _ in range(max(concurrency, 1) * 4)]
    for task_id in task_ids:
        await run_command(store, CommandContext.new(member), _started_task(task_id, member.id))
    latencies = Latencies()

    async def one(n: int) -> None:
        started = time.perf_counter()
        task_id = task_ids[n % len(task_ids)]

        async def work(uow: UnitOfWork) -> None:
            await tasks.report_progress(ReportProgress(member, task_id, "已联系物业"), uow)

        await run_command(store, CommandContext.new(member), work, kept)
        latencies.add(time.perf_counter() - started)

    rate = await closed_loop(count, concurrency, one)
    return {"per_second": round(rate), **latencies.summary()}


def _started_task(task_id: str, member_id: str) -> Callable[[UnitOfWork], Awaitable[None]]:
    async def work(uow: UnitOfWork) -> None:
        task = await uow.get(Task, task_id)
        new = NewTask(task_id, TaskSource.ADMINISTRATOR, None, "repairs", Urgency.GENERAL, "yuhang/s01/c001")
        task.raise_(new)
        task.triage(now=datetime.now(UTC), policy=DeadlinePolicy(days={"general": 7}))
        task.assign(member_id=member_id, helpers=[], party_day_id=None, by_default=False)
        task.accept(member_id=member_id)

    return work
