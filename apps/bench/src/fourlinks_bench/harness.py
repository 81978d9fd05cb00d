"""`fourlinks bench`: every figure of docs/benchmarks.md in one run, each beside its baseline.

Phases, on a working copy of the cached data set: replay every service's read models from the
whole log into SQLite and PostgreSQL (subprocesses, as an operator runs `fourlinks replay rebuild`:
each service alone, then all of them from one read of the log with `--all`),
the raw ordered-consumer read and the eventsourcing library's read; then the three services as real
processes on the rebuilt SQLite read models: the command mix through HTTP at concurrency 1 and 32
beside raw publish+ack and the eventsourcing library, the feedback-to-assigned loop under a steady
background load, the query latencies, and each process's peak memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
from nats.aio.client import Client

from fourlinks_bench import baselines, loads
from fourlinks_bench.dataset import Dataset, ensure_dataset
from fourlinks_bench.lean_http import LeanClient
from fourlinks_bench.measure import (
    Latencies,
    closed_loop,
    cpu_seconds,
    open_loop,
    peak_rss_mb,
    watching_rss,
)
from fourlinks_bench.pages import PageRun, console_pages
from fourlinks_contracts import full_registry
from fourlinks_feedback.domain.feedback import task_id_for
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.kept import KeptAggregates
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

SERVICES = ("members", "assignments", "feedback", "notifications")
CPU_SAID = re.compile(r"([\d.]+) s of CPU")
QUERIED = ("members", "assignments", "feedback")  # the services the query phases ask
JWT_SECRET = "fourlinks-bench-secret-of-a-reasonable-length"  # noqa: S105 - a throwaway server
COMMANDS_PER_CASE = 9
# How often a loop probe looks for its task. Polling every few milliseconds turned the probes
# themselves into thousands of reads a second once the loop slowed, and slowed it further.
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Plan:
    """How big and how long: `full` is the issue's district year, `quick` a twentieth of it."""

    scale: float
    cases_c1: int
    cases_c32: int
    loop_seconds: float
    background_rates: tuple[float, ...]
    queries: int
    es_commands: int

    @classmethod
    def named(cls, name: str, scale: float | None = None) -> Plan:
        """The plan called `name` (full, quick, smoke), optionally at another scale."""
        plans = {
            "full": cls(1.0, 60, 400, 30.0, (150.0, 50.0), 300, 2000),
            "quick": cls(0.05, 20, 80, 5.0, (150.0, 50.0), 40, 200),
            "smoke": cls(0.004, 3, 8, 2.0, (20.0,), 5, 40),
        }
        plan = plans[name]
        return plan if scale is None else cls(scale, *list(plan.__dict__.values())[1:])


@dataclass
class Run:
    """One benchmark run's places and results."""

    plan: Plan
    dataset: Dataset
    work: Path
    postgres_url: str | None
    results: dict[str, Any] = field(default_factory=dict)
    server: EmbeddedNats | None = None

    def settings(self) -> Settings:
        """What the services and tools of this run are configured with."""
        assert self.server is not None
        return Settings(
            var_dir=self.work,
            nats_url=self.server.url,
            master_key=self.dataset.master_key,
            jwt_secret=JWT_SECRET,
            log_level="WARNING",
        )

    @property
    def server_pid(self) -> int:
        """The nats-server's process id."""
        assert self.server is not None
        return self.server.process.pid

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a service or tool subprocess."""
        assert self.server is not None
        return {
            **os.environ,
            "FOURLINKS_VAR_DIR": str(self.work),
            "FOURLINKS_NATS_URL": self.server.url,
            "FOURLINKS_MASTER_KEY": self.dataset.master_key,
            "FOURLINKS_JWT_SECRET": JWT_SECRET,
            "FOURLINKS_LOG_LEVEL": "WARNING",
            "FOURLINKS_RATE_LIMITS": "false",  # one client address sends the whole load
            **extra,
        }


async def bench(
    plan: Plan,
    *,
    datasets: Path,
    postgres_url: str | None,
    eventsourcing: bool = True,
    results: dict[str, Any] | None = None,
    reads_only: bool = False,
) -> dict[str, Any]:
    """Run every phase (`reads_only`: only the queries and the console's pages); returns the
    results, filled in phase by phase into `results` if given (so a run that fails half-way still
    shows what it measured)."""
    dataset = await ensure_dataset(datasets, scale=plan.scale)
    with tempfile.TemporaryDirectory(prefix="fourlinks-bench-") as directory:
        run = Run(plan, dataset, Path(directory), postgres_url, {} if results is None else results)
        run.results["machine"] = machine()
        run.results["dataset"] = {k: v for k, v in dataset.manifest.items() if k != "sample"}
        run.server = start_nats(dataset.copy_to(run.work / "nats"))
        try:
            await _init_nats(run)
            if not reads_only:
                await replay_phase(run, eventsourcing=eventsourcing)
                await load_phase(run)
            async with services_running(run) as ports:
                if not reads_only:
                    await command_phase(run, ports, eventsourcing=eventsourcing)
                    for rate in plan.background_rates:
                        await settle(run)
                        await loop_phase(run, ports, rate)
                await settle(run)
                await query_phase(run, ports)
                pages = PageRun(
                    run.plan.queries, run.dataset.manifest["sample"], run.env(), run.work / "console.log"
                )
                run.results["console_pages"] = await console_pages(pages, ports)
                run.results["memory_under_load_mb"] = {
                    name: round(peak_rss_mb(pid), 1) for name, pid in ports.pids.items()
                }
        finally:
            run.server.stop()
    return run.results


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def _init_nats(run: Run) -> None:
    assert run.server is not None
    command = [sys.executable, "-m", "fourlinks_cli", "nats", "init", "--consumers"]
    command += ["--monitor-url", run.server.monitor_url]
    await _run_quietly(command, run.env())


async def _run_quietly(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    result = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed: {result.stderr.decode()[-2000:]}")
    return result


# -- loading aggregates ---------------------------------------------------------------------------------
async def load_phase(run: Run) -> None:
    """Aggregates written when the year began and written last, loaded and decoded as a command
    does, warm and right after a server restart; and what a full cache of kept aggregates weighs."""
    reads = run.plan.queries
    figures: dict[str, Any] = {}
    nc = await connect(run.settings(), name="fourlinks-bench-loads")
    try:
        store = loads.uncached_store(nc, run.settings())
        last = await store.last_position()
        old = await loads.streams_at(store, 1, last, reads)
        new = await loads.streams_at(store, max(1, last - reads * 20), last, reads)
        households = loads.sample_households(run.dataset.manifest, reads)
        await loads.timed_loads(store, old + new + households, run.server_pid)  # the server's caches warm
        figures["written_first_warm"] = await loads.timed_loads(store, old, run.server_pid)
        figures["written_last_warm"] = await loads.timed_loads(store, new, run.server_pid)
        figures["households_warm"] = await loads.timed_loads(store, households, run.server_pid)
        full = await loads.streams_at(store, 1, last, KeptAggregates().capacity)
        figures["kept_aggregates_full"] = await loads.kept_weight(store, full)
    finally:
        await nc.close()
    assert run.server is not None
    run.server.stop()
    run.server = start_nats(run.work / "nats")
    nc = await connect(run.settings(), name="fourlinks-bench-loads")
    try:
        store = loads.uncached_store(nc, run.settings())
        figures["written_first_after_restart"] = await loads.timed_loads(store, old[:20], run.server_pid)
        figures["households_after_restart"] = await loads.timed_loads(store, households, run.server_pid)
    finally:
        await nc.close()
    first, latest = figures["written_first_warm"], figures["written_last_warm"]
    figures["first_to_last_p99_ratio"] = round(first["p99_ms"] / max(latest["p99_ms"], 0.001), 2)
    run.results["aggregate_loads"] = figures


# -- replay -----------------------------------------------------------------------------------------------
async def replay_phase(run: Run, *, eventsourcing: bool) -> None:
    """Rebuild every service's read models from the whole log, on SQLite and on PostgreSQL."""
    events = run.dataset.events
    nc = await connect(run.settings(), name="fourlinks-bench")
    try:
        run.results["replay_raw_ordered_consumer"] = await baselines.raw_ordered_read(
            nc, stream="FOURLINKS_EVENTS", events=events
        )
    finally:
        await nc.close()
    run.results["replay_sqlite"] = await _rebuild_all(run, lambda s: f"sqlite:///{run.work / s}.db")
    if run.postgres_url:
        urls = await _postgres_databases(run.postgres_url)
        template = urls["members"].replace("fourlinks_bench_members", "fourlinks_bench_{service}")
        run.results["replay_postgresql"] = await _rebuild_all(
            run,
            lambda service: template.replace("{service}", service) if service != "{service}" else template,
        )
    else:
        run.results["replay_postgresql"] = {"skipped": "no PostgreSQL given (--postgres or DATABASE_URL)"}
    if eventsourcing:
        run.results["replay_eventsourcing"] = await _eventsourcing_replays(run, events)


async def _rebuild_all(run: Run, url_of: Callable[[str], str]) -> dict[str, Any]:
    """Each service's `fourlinks replay rebuild`, one after another; the rate is the whole log's."""
    figures: dict[str, Any] = {}
    total = 0.0
    for service in SERVICES:
        command = [sys.executable, "-m", "fourlinks_cli", "replay", "rebuild", service]
        command += ["--database-url", url_of(service)]
        started = time.perf_counter()
        peak_mb = await _run_measured(command, run.env())
        seconds = time.perf_counter() - started
        total += seconds
        figures[service] = {
            "seconds": round(seconds, 2),
            "log_events_per_second": round(run.dataset.events / seconds),
            "peak_rss_mb": peak_mb,
        }
    figures["all_services"] = {
        "seconds": round(total, 2),
        "log_events_per_second": round(run.dataset.events / total),
    }
    figures["one_read"] = await _rebuild_at_once(run, url_of("{service}"))
    return figures


async def _rebuild_at_once(run: Run, template: str) -> dict[str, Any]:
    """`fourlinks replay rebuild --all`: one read of the log for every service's read models."""
    command = [sys.executable, "-m", "fourlinks_cli", "replay", "rebuild", "--all"]
    command += ["--database-url", template]
    started = time.perf_counter()
    done = await _run_quietly(command, run.env())
    seconds = time.perf_counter() - started
    # Each worker and the reader say how much CPU they used: "...; 3.2 s of CPU".
    lines = done.stdout.decode().splitlines()
    cpu = {
        (line.split()[1] if line.startswith("rebuilt ") and "one read" not in line else "reader"): float(
            found.group(1)
        )
        for line in lines
        if (found := CPU_SAID.search(line))
    }
    return {
        "seconds": round(seconds, 2),
        "log_events_per_second": round(run.dataset.events / seconds),
        "cpu_seconds": cpu,
    }


async def _run_measured(command: list[str], env: dict[str, str]) -> float:
    """Run a subprocess to the end; returns its peak RSS in MiB, read from /proc while it runs
    (wait4's ru_maxrss would count the memory of the benchmark process it was forked from)."""
    # Popen returns at once (fork/exec); the wait for the child runs in a thread.
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: ASYNC220
    peak: dict[str, Any] = {}
    async with watching_rss(process.pid, peak, "mb"):
        _, status, _ = await asyncio.to_thread(os.wait4, process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"{' '.join(command[2:5])} failed: {stderr[-2000:]}")
    return float(peak["mb"])


async def _postgres_databases(admin_url: str) -> dict[str, str]:
    """A fresh database per service (and one for the library) on the given server."""
    parsed = urlparse(admin_url)
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    urls = {}
    try:
        for name in (*SERVICES, "es_replay", "es_commands"):
            database = f"fourlinks_bench_{name}"
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{database}"')
            urls[name] = parsed._replace(path=f"/{database}").geturl()
    finally:
        await connection.close()
    return urls


def _postgres_env(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    return {
        "POSTGRES_DBNAME": parsed.path.lstrip("/"),
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "postgres",
        "POSTGRES_PASSWORD": parsed.password or "",
    }


async def _eventsourcing_replays(run: Run, events: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for kind, env in _eventsourcing_stores(run, "replay"):
        progress = Progress(f"es {kind} write", events)
        figures[kind] = await asyncio.to_thread(
            baselines.eventsourcing_replay, env, events=events, note_size=400, progress=progress.advance
        )
        progress.finish()
    return figures


def _eventsourcing_stores(run: Run, purpose: str) -> Iterator[tuple[str, dict[str, str]]]:
    yield (
        "sqlite",
        baselines.eventsourcing_env("sqlite", sqlite_path=run.work / f"es-{purpose}.db", postgres=None),
    )
    if run.postgres_url:
        url = urlparse(run.postgres_url)._replace(path=f"/fourlinks_bench_es_{purpose}").geturl()
        yield (
            "postgresql",
            baselines.eventsourcing_env("postgres", sqlite_path=None, postgres=_postgres_env(url)),
        )


# -- services -------------------------------------------------------------------------------------------
@dataclass
class Services:
    """The three running services: where they answer and their process ids."""

    urls: dict[str, str]
    pids: dict[str, int]
    client: httpx.AsyncClient
    settings: Settings
    lean: LeanClient = field(default_factory=LeanClient)  # the load generator's own client

    def token(self, subject: str, roles: list[str], scope: str) -> dict[str, str]:
        """Authorization headers for an actor."""
        token = issue_token(self.settings, subject=subject, roles=roles, scope=scope)
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def services_running(run: Run) -> AsyncIterator[Services]:
    """Start the three queried services on the rebuilt SQLite read models; stop them afterwards."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    urls = {}
    try:
        for service in QUERIED:
            port = _free_port()
            command = [sys.executable, "-m", "fourlinks_runtime.serve", service, "--port", str(port)]
            env = run.env(
                **{f"FOURLINKS_{service.upper()}_DATABASE_URL": f"sqlite:///{run.work / service}.db"}
            )
            log = run.work / f"{service}.log"  # a file, not a pipe: a full pipe would stall the service
            with log.open("wb") as output:
                children[service] = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                    command, env=env, stdout=output, stderr=subprocess.STDOUT
                )
            urls[service] = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            for service, url in urls.items():
                await _wait_ready(client, url, children[service], run.work / f"{service}.log")
            services = Services(urls, {s: c.pid for s, c in children.items()}, client, run.settings())
            try:
                yield services
            finally:
                await services.lean.close()
    finally:
        for child in children.values():
            child.terminate()
        for child in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_ready(client: httpx.AsyncClient, url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if child.poll() is not None:
            output = await asyncio.to_thread(log.read_text)
            raise RuntimeError(f"a service at {url} exited: {output[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{url}/health/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the service at {url} did not become ready")


# -- the command mix ------------------------------------------------------------------------------------
class CaseMix:
    """The realistic command mix: a resident's feedback, then a task through the whole loop
    (raise, triage, assign to the card's member, accept, resolution, spot check, close)."""

    def __init__(self, services: Services, households: list[dict[str, Any]]) -> None:
        self.services = services
        self.households = households
        self.latencies = Latencies()
        self.failures: list[str] = []

    async def post(
        self, service: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """One command, timed; a refusal is recorded (and fails the run at the end)."""
        started = time.perf_counter()
        headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}  # a retry is then safe
        status, answer = await self.services.lean.post(f"{self.services.urls[service]}{path}", body, headers)
        self.latencies.add(time.perf_counter() - started)
        if status >= 300:
            self.failures.append(f"{path}: {status} {str(answer)[:300]}")
            return {}
        return answer if isinstance(answer, dict) else {}

    async def feedback(self, n: int) -> str | None:
        """A household's feedback (routed to a task by the assignments service's policy)."""
        household = self.households[n % len(self.households)]
        secretary = self.services.token(
            f"secretary:{household['community']}", ["secretary", "inspector"], household["community"]
        )
        body = {
            "channel": "phone",  # the secretary took the household's call
            "category": "repairs",
            "household_id": household["id"],
            "description": "楼道灯坏了，请尽快修理",
        }
        answer = await self.post("feedback", "/feedback", body, secretary)
        return answer.get("id")

    async def case(self, n: int) -> None:
        """Nine commands: the member's visit to the household (an aggregate registered when the
        year began, as most are in real use), one feedback, seven steps of a task raised by the
        secretary."""
        household = self.households[n % len(self.households)]
        community = household["community"]
        secretary = self.services.token(f"secretary:{community}", ["secretary", "inspector"], community)
        member = self.services.token(household["member_id"], ["member"], community)
        visit = {
            "member_id": household["member_id"],
            "contact_kind": "household",
            "contact_id": household["id"],
            "visited_on": date.today().isoformat(),
            "notes": "走访",
        }
        await self.post("members", "/visits", visit, member)
        await self.feedback(n)
        raised = await self.post(
            "assignments",
            "/tasks",
            {
                "category": "repairs",
                "org_unit": household["org_unit"],
                "household_id": household["id"],
                "description": "路灯坏了",
            },
            secretary,
        )
        task = raised.get("id")
        if task is None:
            return
        steps: list[tuple[str, dict[str, Any], dict[str, str]]] = [
            ("triage", {}, secretary),
            ("assign", {}, secretary),
            ("accept", {}, member),
            ("resolution", {"summary": "已修好", "result": "resolved"}, member),
            ("spot-check", {"passed": True, "note": ""}, secretary),
            ("close", {"reason": "resolved", "note": ""}, secretary),
        ]
        for step, body, headers in steps:
            await self.post("assignments", f"/tasks/{task}/{step}", body, headers)

    def check(self) -> None:
        """A benchmark of refused commands measures nothing: say so loudly."""
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} commands were refused; first: {self.failures[0]}")


async def command_phase(run: Run, services: Services, *, eventsourcing: bool) -> None:
    """The command mix at concurrency 1 and 32, beside raw publish+ack and the library."""
    households = run.dataset.manifest["sample"]["households"]
    nc = await connect(run.settings(), name="fourlinks-bench")
    store, _ = open_event_store(nc, run.settings(), full_registry())
    alone = JetStreamEventStore(nc, store.codec, replace(store.settings, group_commit=False))
    payload_size = await _mean_payload_size(nc)
    figures: dict[str, Any] = {"payload_bytes": payload_size}
    try:
        for concurrency, cases in ((1, run.plan.cases_c1), (32, run.plan.cases_c32)):
            mix = CaseMix(services, households[concurrency * 7 :])
            await settle(run)  # nothing left over from before counts against the mix
            processes = {**services.pids, "nats-server": run.server_pid, "load generator": os.getpid()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            per_second = await closed_loop(cases, concurrency, mix.case) * COMMANDS_PER_CASE
            mix.check()
            cpu_after_mix = cpu_seconds(os.getpid())  # settling polls: not the generator's share
            await settle(run)  # the projections and policies finish their share of the mix
            spent = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
            spent["load generator"] = cpu_after_mix - cpu_before["load generator"]
            cpu_per_command = {
                name: round(seconds * 1000 / (cases * COMMANDS_PER_CASE), 3)
                for name, seconds in spent.items()
            }
            cpu_per_command["system (services and nats-server)"] = round(
                sum(v for k, v in cpu_per_command.items() if k != "load generator"), 3
            )
            raw = await baselines.raw_publish(
                nc, payload_size=payload_size, count=cases * COMMANDS_PER_CASE, concurrency=concurrency
            )
            kernel = await baselines.kernel_commands(
                store, count=cases * COMMANDS_PER_CASE, concurrency=concurrency
            )
            one_by_one = await baselines.kernel_commands(
                alone, count=cases * COMMANDS_PER_CASE, concurrency=concurrency
            )
            figures[f"c{concurrency}"] = {
                "commands_per_second": round(per_second),
                "cpu_ms_per_command": cpu_per_command,
                **mix.latencies.summary(),
                "raw_publish_ack": raw,
                "ratio_to_raw": round(per_second / raw["per_second"], 3),
                "kernel_in_process": kernel,
                "kernel_ratio_to_raw": round(kernel["per_second"] / raw["per_second"], 3),
                "kernel_appending_one_by_one": one_by_one,
                "group_commit_ratio": round(kernel["per_second"] / one_by_one["per_second"], 3),
            }
    finally:
        await nc.close()
    if eventsourcing:
        await _eventsourcing_commands(run, figures, payload_size)
    run.results["command_path"] = figures


async def _eventsourcing_commands(run: Run, figures: dict[str, Any], payload_size: int) -> None:
    for kind, env in _eventsourcing_stores(run, "commands"):
        for concurrency in (1, 32):
            result = await asyncio.to_thread(
                baselines.eventsourcing_commands,
                env,
                count=run.plan.es_commands,
                concurrency=concurrency,
                note_size=payload_size // 2,
            )
            ours = figures[f"c{concurrency}"]
            ours[f"eventsourcing_{kind}"] = result
            ours[f"ratio_to_eventsourcing_{kind}"] = round(
                ours["commands_per_second"] / result["per_second"], 2
            )


async def _mean_payload_size(nc: Client) -> int:
    """The mean stored size of the data set's events (the raw baseline publishes as much)."""
    info = await nc.jetstream().stream_info("FOURLINKS_EVENTS")
    return max(100, int(info.state.bytes / max(info.state.messages, 1)) - 60)


# -- loop latency and queries --------------------------------------------------------------------------
async def settle(run: Run, quiet_seconds: float = 2.0) -> None:
    """Wait until the log stops growing (policies and projections done with the last phase's
    work), so one phase's backlog is not measured as the next phase's latency."""
    nc = await connect(run.settings(), name="fourlinks-bench")
    try:
        js, last, quiet_since = nc.jetstream(), -1, time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            seq = (await js.stream_info("FOURLINKS_EVENTS")).state.last_seq
            if seq != last:
                last, quiet_since = seq, time.monotonic()
            await asyncio.sleep(0.25)
        await asyncio.sleep(quiet_seconds)  # the read models apply what the log last received
    finally:
        await nc.close()


async def loop_phase(run: Run, services: Services, rate: float) -> None:
    """Feedback submitted to task visible as assigned, under a steady background command load."""
    households = run.dataset.manifest["sample"]["households"]
    background = CaseMix(services, households[len(households) // 2 :])
    probe = CaseMix(services, households[: len(households) // 2])
    loop = Latencies()

    async def one_background(n: int) -> None:
        household = background.households[n % len(background.households)]
        community = household["community"]
        if n % 2:
            await background.feedback(n)
        else:
            headers = services.token(f"secretary:{community}", ["secretary", "inspector"], community)
            body = {"category": "repairs", "org_unit": household["org_unit"], "description": "井盖松动"}
            await background.post("assignments", "/tasks", body, headers)

    async def one_probe(n: int) -> None:
        household = probe.households[n % len(probe.households)]
        started = time.perf_counter()
        feedback_id = await probe.feedback(n)
        if feedback_id is None:
            return
        await _until_assigned(services, household, task_id_for(feedback_id))
        loop.add(time.perf_counter() - started)

    seconds = run.plan.loop_seconds
    sent, _ = await asyncio.gather(
        open_loop(rate, seconds, one_background), open_loop(5.0, seconds, one_probe)
    )
    background.check()
    probe.check()
    run.results.setdefault("loop_latency", {})[f"at_{rate:g}_per_second"] = {
        "background_commands_per_second": rate,
        "background_sent": sent,
        **loop.summary(),
        "poll_interval_ms": POLL_SECONDS * 1000,
    }


async def _until_assigned(services: Services, household: dict[str, Any], task_id: str) -> None:
    community = household["community"]
    headers = services.token(f"secretary:{community}", ["secretary", "inspector"], community)
    url = f"{services.urls['assignments']}/tasks/{task_id}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status, answer = await services.lean.get(url, headers)
        if status == 200 and answer.get("state") == "assigned":
            return
        await asyncio.sleep(POLL_SECONDS)
    raise RuntimeError(f"task {task_id} was not assigned within three minutes")


async def query_phase(run: Run, services: Services) -> None:
    """p50/p99 of the pages a secretary and a member open most, with the whole year loaded."""
    households = run.dataset.manifest["sample"]["households"]
    pages: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
        "household_card": lambda h: ("members", f"/households/{h['id']}/card"),
        "member_dashboard": lambda h: ("members", f"/members/{h['member_id']}/dashboard"),
        "community_coverage": lambda h: ("members", f"/coverage?unit={h['community']}"),
        "community_task_kpis": lambda h: ("assignments", f"/kpis?unit={h['community']}"),
        "community_feedback_kpis": lambda h: ("feedback", f"/kpis?unit={h['community']}"),
    }
    figures = {}
    for name, page in pages.items():
        # The first request of each query after the services start also compiles its SQL: it is
        # reported on its own ("first"), so that p99 of the quick plan's 40 is not that one request.
        latencies, first = Latencies(), 0.0
        for n in range(run.plan.queries + 1):
            household = households[(n * 37) % len(households)]
            service, path = page(household)
            headers = services.token("bench:secretary", ["secretary", "inspector"], "yuhang")
            started = time.perf_counter()
            reply = await services.client.get(f"{services.urls[service]}{path}", headers=headers)
            elapsed = time.perf_counter() - started
            if n == 0:
                first = elapsed
            else:
                latencies.add(elapsed)
            if reply.status_code != 200:
                raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:300]}")
        figures[name] = {**latencies.summary(), "first_ms": round(first * 1000, 2)}
    run.results["queries"] = figures
