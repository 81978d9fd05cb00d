"""Every service's rebuild from one read of the log, in one of two ways:

- one process (the default): one feed over every service's projections, each service's read
  models in its own database, each event decoded once;
- `workers`: this process reads the log and hands each service's worker process the stored events
  its read models handle; each worker decodes and applies them, so the work spreads over cores.

Why one process is the default: measured on the quick bench data set (50,520 events) on this
project's 2 shared cores, busy with other work (load 3.5-5), same run: one process took 21.1-21.5 s
and 17.5-18.1 s of CPU; the workers took 17.7-34.3 s and 23.2-23.4 s of CPU in all (members 6.7-6.9,
assignments 4.7-4.9, feedback 4.4-4.6, notifications 2.7-2.9, the reader 4.3-4.5): every worker
decodes the events it handles (1.8 decodes per event instead of one), reads the key table and runs
a feed of its own. They win only while a core is idle; the CPU spent decides on a busy machine. The
old way, a process per service each reading the whole log, took 61.6 s and 58.7 s of CPU."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_audit import replay
from fourlinks_audit.fresh import FreshPlace
from fourlinks_audit.services import projections_of
from fourlinks_contracts import full_registry
from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.feed import covering_filter
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.projection import Projection
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)
HANDED = 1000
"""Events read before each worker is handed what it takes of them."""
AHEAD = 4
"""Hand-overs a worker may have waiting: the reader runs that far ahead of the slowest worker."""

READER = "fourlinks-rebuild"
"""The reader's NATS connection name; a worker's is `fourlinks-rebuild-<service>`."""

Row = tuple[int, str, bytes, str, str]
"""A stored event as it crosses to a worker: position, subject, bytes, type, signature."""


@dataclass(frozen=True)
class Job:
    """What one worker rebuilds, and how."""

    service: str
    database_url: str | None
    resume: bool
    in_place: bool
    until_position: int


@dataclass
class Worker:
    """A service's worker process as the reader sees it."""

    job: Job
    process: BaseProcess
    conn: Connection
    wanted: frozenset[str]
    subjects: str | None  # below the prefix: what its read models read (None: the whole log)
    start: int | None = None  # it reads from here; None: it has nothing to read
    outcome: str = ""
    failed: bool = False
    queue: asyncio.Queue[list[Row] | None] = field(default_factory=lambda: asyncio.Queue(AHEAD))

    def takes(self, stored: StoredEvent, prefix: str) -> bool:
        """Whether the event is one the worker's read models handle (an untyped one goes too, so
        it halts them as it would in a service's own rebuild)."""
        if self.start is None or stored.position < self.start:
            return False
        if stored.event_type and stored.event_type not in self.wanted:
            return False
        return self.subjects is None or _covers(f"{prefix}.{self.subjects}", stored.subject)


async def rebuild_all(
    settings: Settings,
    services: Sequence[str],
    *,
    database_url: str | None,
    resume: bool,
    in_place: bool = False,
    progress: bool = True,
    workers: bool = False,
) -> tuple[int, str]:
    """Rebuild every service's read models from one read of the log, each in its own database
    (and, with `workers`, its own process), each swapped in whole as a service's own rebuild is.
    Returns the exit code (0: every rebuild succeeded) and a summary, a line per service and one
    for all."""
    if not workers:
        return await _rebuild_in_one(
            settings, services, database_url=database_url, resume=resume, in_place=in_place, progress=progress
        )
    started = time.monotonic()
    nc = await connect(settings, name=READER, within=COMMAND_CONNECT_SECONDS)
    try:
        store = open_event_store(nc, settings, full_registry())[0]
        target = await store.last_position()
        spawned = [_spawn(settings, _job(s, database_url, resume, in_place, target)) for s in services]
        try:
            await _read_once(store, spawned, target, progress=progress)
        finally:
            await _finish(spawned)
    finally:
        await nc.close()
    lines = [worker.outcome for worker in spawned]
    failed = [w.job.service for w in spawned if w.failed]
    if failed:
        lines.append(f"rebuild failed for {', '.join(failed)} (see the lines above); the others finished")
        return 1, "\n".join(lines)
    seconds = time.monotonic() - started
    lines.append(
        f"rebuilt {', '.join(services)} from one read of the log to position {target:,} in "
        f"{seconds:.1f} s ({target / seconds if seconds else 0:,.0f} log events/s); the reader "
        f"{_cpu_seconds():.1f} s of CPU"
    )
    return 0, "\n".join(lines)


async def _rebuild_in_one(
    settings: Settings,
    services: Sequence[str],
    *,
    database_url: str | None,
    resume: bool,
    in_place: bool,
    progress: bool,
) -> tuple[int, str]:
    nc = await connect(settings, name=READER, within=COMMAND_CONNECT_SECONDS)
    places = [await _Place.open(settings, _job(s, database_url, resume, in_place, 0)) for s in services]
    try:
        store = replay.ordered_reads(open_event_store(nc, settings, full_registry())[0])
        result = await replay.rebuild_read_models(
            [replay.ReadModels(p.job.service, p.factories, p.engine) for p in places],
            store=store,
            resume=resume,
            progress=progress,
            label="every service",
        )
        lines = [await place.finish(result) for place in places]
    finally:
        for place in places:
            await place.engine.dispose()
        await nc.close()
    failed = sorted(result.halted)
    if failed:
        lines.append(f"rebuild failed for {', '.join(failed)} (see the lines above); the others finished")
        return 1, "\n".join(lines)
    lines.append(
        f"rebuilt {', '.join(services)} from one read of the log to position {result.position:,} in "
        f"{result.seconds:.1f} s ({result.rate:,.0f} log events/s); {_cpu_seconds():.1f} s of CPU"
    )
    return 0, "\n".join(lines)


@dataclass
class _Place:
    """Where one service's read models are rebuilt in the one-process way, and how they go live."""

    job: Job
    factories: Sequence[Callable[[], Projection]]
    engine: AsyncEngine
    fresh: FreshPlace | None

    @classmethod
    async def open(cls, settings: Settings, job: Job) -> _Place:
        """The fresh place (an earlier one discarded unless resumed), or the read model itself."""
        fresh = None if job.in_place else replay.fresh_place_of(settings, job.service, job.database_url)
        if fresh is not None and not (job.resume and await fresh.exists()):
            await fresh.discard()
        engine = (
            await fresh.engine()
            if fresh
            else await replay.read_model_engine(settings, job.service, job.database_url)
        )
        return cls(job, projections_of(job.service), engine, fresh)

    async def finish(self, result: replay.RebuildResult) -> str:
        """Swap the rebuilt read models in whole unless they halted; one line saying which."""
        service = self.job.service
        if service in result.halted:
            return f"rebuild of {service} failed: {result.halted[service]}"
        if self.fresh is not None:
            await self.fresh.finish(self.engine, [factory() for factory in self.factories])
        where = self.fresh.where if self.fresh else None
        return replay.ServiceRebuilt(service, result, len(self.factories), where).summary()


def _job(service: str, url: str | None, resume: bool, in_place: bool, target: int) -> Job:
    own = url.replace("{service}", service) if url else None
    return Job(service, own, resume, in_place, target)


def _spawn(settings: Settings, job: Job) -> Worker:
    context = _context()
    mine, theirs = context.Pipe()
    process = context.Process(target=work, args=(theirs, settings, job), name=f"rebuild-{job.service}")
    process.start()
    theirs.close()
    projections = [factory() for factory in projections_of(job.service)]
    wanted = frozenset(t for p in projections for t in p.handles)
    subjects = covering_filter([p.subjects for p in projections])
    return Worker(job, process, mine, wanted, subjects)


def _context() -> ForkServerContext:
    # forkserver: what a worker needs is imported once, in the server, and each worker is forked
    # from it (spawn imports it again in every worker: about 2 s of CPU each). Not fork: this
    # process already runs an event loop and threads.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


async def _read_once(
    store: JetStreamEventStore, workers: list[Worker], target: int, *, progress: bool
) -> None:
    """Learn where each worker starts, read the log once from the earliest, hand it out."""
    for worker in workers:
        await _started(worker)
    reading = [w for w in workers if w.start is not None]
    senders = [asyncio.create_task(_send(w)) for w in reading]
    try:
        if reading:
            start = min(w.start for w in reading if w.start is not None)
            await _hand_out(store, reading, start, target, progress=progress)
        for worker in reading:
            await worker.queue.put(None)
        await asyncio.gather(*senders)
    finally:
        for sender in senders:
            sender.cancel()


async def _started(worker: Worker) -> None:
    """The worker's first word: where it reads from, or that it is done (or failed) already."""
    word = await _receive(worker)
    if word[0] == "from":
        worker.start = int(word[1])
    else:
        _ended(worker, word)


async def _hand_out(
    store: JetStreamEventStore, workers: list[Worker], start: int, target: int, *, progress: bool
) -> None:
    subjects = covering_filter([w.subjects for w in workers])
    events = replay.ordered_reads(store).read(
        from_position=start,
        until_position=target,
        subjects=None if subjects is None else f"{store.prefix}.{subjects}",
    )
    bar = Progress("every service", max(target - start + 1, 0)) if progress else None
    handed = start - 1
    async for batch in _batched(events, HANDED):
        for worker in workers:
            rows = [_row(s) for s in batch if worker.takes(s, store.prefix)]
            if rows and not worker.failed:
                await worker.queue.put(rows)
        if bar:
            bar.advance(batch[-1].position - handed)
        handed = batch[-1].position
    if bar:
        bar.done = max(target - start + 1, 0)  # the last events may be none a worker takes
        bar.finish()


async def _send(worker: Worker) -> None:
    """Hand the worker what the reader queued for it; a worker that stopped reading (it failed,
    and says why at the end) is handed nothing more."""
    while True:
        rows = await worker.queue.get()
        if not worker.failed:
            try:
                await asyncio.to_thread(worker.conn.send, rows)
            except OSError:
                worker.failed = True
        if rows is None:
            return


async def _finish(workers: list[Worker]) -> None:
    """Every worker's last word, and its end."""
    for worker in workers:
        if not worker.outcome:
            _ended(worker, await _receive(worker))
        await asyncio.to_thread(worker.process.join)
        worker.conn.close()


async def _receive(worker: Worker) -> tuple[str, str]:
    try:
        word: tuple[str, str] = await asyncio.to_thread(worker.conn.recv)
    except (EOFError, OSError):
        await asyncio.to_thread(worker.process.join)
        return "failed", f"the worker ended without a word (exit code {worker.process.exitcode})"
    return word


def _ended(worker: Worker, word: tuple[str, str]) -> None:
    kind, text = word
    worker.failed = kind != "done"
    worker.outcome = text if kind == "done" else f"rebuild of {worker.job.service} failed: {text}"


def _cpu_seconds() -> float:
    """This process's CPU time so far, user and system."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _row(stored: StoredEvent) -> Row:
    return (stored.position, stored.subject, stored.payload, stored.event_type, stored.signature)


def _covers(wide: str, subject: str) -> bool:
    return subject == wide or (wide.endswith(".>") and subject.startswith(wide[:-1]))


async def _batched(events: AsyncIterator[StoredEvent], size: int) -> AsyncIterator[list[StoredEvent]]:
    batch: list[StoredEvent] = []
    async for stored in events:
        batch.append(stored)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- in the worker process ------------------------------------------------------------------------
def work(conn: Connection, settings: Settings, job: Job) -> None:
    """A worker process: rebuild one service's read models from what the reader hands it."""
    try:
        rebuilt = asyncio.run(_work(conn, settings, job))
        conn.send(("done", f"{rebuilt.summary()}; {_cpu_seconds():.1f} s of CPU"))
    except BaseException as exc:  # whatever stopped it is told to the reader
        _say(conn, ("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


async def _work(conn: Connection, settings: Settings, job: Job) -> replay.ServiceRebuilt:
    nc = await connect(settings, name=f"{READER}-{job.service}", within=COMMAND_CONNECT_SECONDS)
    try:
        opened = open_event_store(nc, settings, full_registry())[0]
        store = HandedReads(nc, opened.codec, opened.settings, conn=conn)
        return await replay.rebuild_service(
            settings,
            job.service,
            store=store,
            database_url=job.database_url,
            resume=job.resume,
            in_place=job.in_place,
            until_position=job.until_position,
            progress=False,
        )
    finally:
        await nc.close()


def _say(conn: Connection, word: tuple[str, str]) -> None:
    try:
        conn.send(word)
    except OSError:
        log.warning("rebuild_reader_gone")


class HandedReads(JetStreamEventStore):
    """The worker's store: its one read of the log is what the reader hands it over the pipe; the
    rest (the log's end, the key table) is the event store's as usual."""

    def __init__(self, *args: Any, conn: Connection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = conn

    async def read(
        self, *, from_position: int = 1, until_position: int | None = None, subjects: str | None = None
    ) -> AsyncIterator[StoredEvent]:
        self.conn.send(("from", str(from_position)))
        while (rows := await asyncio.to_thread(self.conn.recv)) is not None:
            for row in rows:
                yield StoredEvent(*row)
