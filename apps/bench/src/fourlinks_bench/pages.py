"""The console's pages at the data set's scale: a community secretary opens each page of the
console, which calls the services over HTTP as in production; p50/p95/p99 of the answer on
loopback (the server's time: console plus the services it calls), and CPU per page of the
console and of the services beside it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from fourlinks_bench.measure import Latencies, cpu_seconds, percentile
from fourlinks_runtime.upstate import free_port

SECRETARIES = 5  # community secretaries signed in, each opening their own community's pages
PAGES = (
    "/",
    "/coverage",
    "/members",
    "/tasks",
    "/kpis",
    "/callbacks",
    "/party-days",
    "task",
    "member",
)


class Services(Protocol):
    """The running services, as the benchmark started them."""

    urls: dict[str, str]
    pids: dict[str, int]
    client: httpx.AsyncClient

    def token(self, subject: str, roles: list[str], scope: str) -> dict[str, str]:
        """Authorization headers for an actor."""
        ...


@dataclass(frozen=True)
class PageRun:
    """What the phase needs of the benchmark run: how often to open each page, whom to sign in
    as (the data set's sample), the environment of the run's processes, where the console logs."""

    openings: int
    sample: dict[str, Any]
    env: dict[str, str]
    log: Path


async def console_pages(run: PageRun, services: Services) -> dict[str, Any]:
    """Every page, `run.openings` times, round-robin over the sampled communities."""
    communities = run.sample["communities"][:SECRETARIES]
    households = run.sample["households"]
    async with _console_running(run, services) as (url, pid):
        secretaries = Secretaries(
            [await _signed_in(url, community) for community in communities],
            await _subjects(services, communities, households),
        )
        figures: dict[str, Any] = {}
        try:
            for page in PAGES:
                figures[page] = await _time_page(run, services, pid, secretaries, page)
        finally:
            for session in secretaries.sessions:
                await session.aclose()
    return figures


@dataclass(frozen=True)
class Secretaries:
    """Signed-in sessions, and for each the task and member its pages show."""

    sessions: list[httpx.AsyncClient]
    subjects: list[dict[str, str]]


async def _time_page(
    run: PageRun, services: Services, console_pid: int, secretaries: Secretaries, page: str
) -> dict[str, Any]:
    latencies = Latencies()
    processes = {"console": console_pid, **services.pids}
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    for n in range(run.openings):
        which = n % len(secretaries.sessions)
        path = _path(page, secretaries.subjects[which])
        started = time.perf_counter()
        reply = await secretaries.sessions[which].get(path)
        latencies.add(time.perf_counter() - started)
        if reply.status_code != 200:
            raise RuntimeError(f"console {path}: {reply.status_code} {reply.text[:300]}")
    spent = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    summary: dict[str, Any] = latencies.summary()
    summary["p95_ms"] = round(percentile(latencies.samples, 0.95) * 1000, 2)
    summary["cpu_ms_per_page"] = {k: round(v * 1000 / run.openings, 2) for k, v in spent.items()}
    return summary


def _path(page: str, subject: dict[str, str]) -> str:
    if page == "task":
        return f"/tasks/{subject['task']}"
    if page == "member":
        return f"/members/{subject['member']}"
    return page


async def _subjects(
    services: Services, communities: list[str], households: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """For each community: one of its tasks (an old one: the year's first) and one of its members."""
    found = []
    for community in communities:
        headers = services.token("bench:secretary", ["secretary"], community)
        reply = await services.client.get(
            f"{services.urls['assignments']}/tasks", params={"unit": community, "limit": 1}, headers=headers
        )
        tasks = reply.json()["items"]
        member = next(h["member_id"] for h in households if h["community"] == community)
        found.append({"task": tasks[0]["task_id"] if tasks else "", "member": member})
    return found


async def _signed_in(url: str, community: str) -> httpx.AsyncClient:
    """A browser-like session of the community's secretary (the local sign-in page)."""
    session = httpx.AsyncClient(base_url=url, timeout=60)
    page = await session.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if csrf is None:
        raise RuntimeError(f"the console's sign-in page has no form: {page.status_code}")
    signed = await session.post(
        "/signin/local", data={"csrf_token": csrf[1], "who": f"secretary:{community}", "next": "/"}
    )
    if signed.status_code != 303:
        raise RuntimeError(f"could not sign in as the secretary of {community}: {signed.status_code}")
    return session


@contextlib.asynccontextmanager
async def _console_running(run: PageRun, services: Services) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    urls = {f"FOURLINKS_CONSOLE_{name.upper()}_URL": url for name, url in services.urls.items()}
    env = {**run.env, "FOURLINKS_CONSOLE_LOCAL_SIGNIN": "1", **urls}
    log = run.log
    with log.open("wb") as output:
        child = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, "-m", "fourlinks_console", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, child, log)
        yield url, child.pid
    finally:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=20)


async def _wait_ready(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                output = await asyncio.to_thread(log.read_text, errors="replace")
                raise RuntimeError(f"the console exited: {output[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the console did not become ready")
