"""Where a command's CPU goes, per process: the benchmark's HTTP command mix at concurrency 32
against the four services as real processes (on the quick data set's read models, rebuilt as the
benchmark does), once plainly for the milliseconds and once with every service under the profiler
(`FOURLINKS_PROFILE_DIR`) for the shares; nats-server's CPU from /proc. Beside them, in the same
run, the floors: raw publish+ack of as many messages (nats-server and the publishing client), and
a minimal FastAPI endpoint's CPU per request under the same uvicorn options.

    .venv/bin/python tools/profile_commands.py [--cases 400] [--out var/profile]

Writes the profiles (`<service>-<pid>.prof`, read with `python -m pstats`) and `figures.json` to
--out, and prints the table of docs/benchmarks.md "Command path profile". A figure, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from fourlinks_bench import baselines
from fourlinks_bench.dataset import ensure_dataset
from fourlinks_bench.harness import (
    COMMANDS_PER_CASE,
    CaseMix,
    Plan,
    Run,
    Services,
    _free_port,
    _init_nats,
    _mean_payload_size,
    _rebuild_at_once,
    _wait_ready,
    settle,
)
from fourlinks_bench.lean_http import LeanClient
from fourlinks_bench.measure import closed_loop, cpu_seconds
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.profiling import PROFILE_DIR
from fourlinks_runtime.slow_clients import MAX_CONNECTIONS, guarded_server_options

SERVICES = ("members", "assignments", "feedback", "notifications")
CONCURRENCY = 32

# Where a function's own time goes, by the file it is defined in (first match wins). C functions
# ("~") take the place of whoever called them (see `_place_of`).
PLACES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("auth (JWT)", ("fourlinks_runtime/auth.py", "/jwt/")),
    (
        "start-up (imports, building schemas)",
        ("importlib", "/typing.py", "/re/_", "/inspect.py", "/enum.py", "/dataclasses.py", "pypinyin/seg/"),
    ),
    ("SQLite via aiosqlite (reads, thread hops)", ("/aiosqlite/", "/greenlet/")),
    ("JSON", ("/json/",)),
    ("logging", ("/structlog/", "/logging/", "fourlinks_runtime/logs.py")),
    ("metrics", ("/prometheus_client/", "fourlinks_runtime/metrics.py", "fourlinks_runtime/figures.py")),
    ("policies", ("fourlinks_runtime/policies.py", "/policies.py", "/policies/")),
    (
        "projection apply + SQL",
        (
            "fourlinks_kernel/projection.py",
            "fourlinks_kernel/rows.py",
            "/sqlalchemy/",
            "/projections/",
            "sqlite3",
        ),
    ),
    ("read-model queries", ("/queries.py",)),
    ("live feed (receive, decode)", ("fourlinks_kernel/feed.py",)),
    (
        "event store: encode, seal, publish, load",
        (
            "fourlinks_kernel/jetstream.py",
            "fourlinks_kernel/envelope.py",
            "fourlinks_kernel/codec.py",
            "fourlinks_kernel/crypto",
            "fourlinks_kernel/keys",
            "fourlinks_kernel/kept.py",
            "fourlinks_kernel/unit_of_work.py",
            "fourlinks_kernel/signing",
            "/cryptography/",
        ),
    ),
    ("NATS client (nats-py)", ("/nats/", "fourlinks_runtime/natsconn.py")),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    (
        "HTTP/ASGI (uvicorn, starlette, fastapi)",
        ("/uvicorn/", "/starlette/", "/fastapi/", "/h11/", "/httptools/"),
    ),
    ("domain and handlers", ("/domain/", "/application/", "/adapters/")),
    ("our runtime (middleware, idempotency, routes)", ("fourlinks_runtime/", "fourlinks_kernel/")),
    (
        "event loop, sockets, threads",
        ("/asyncio/", "/selectors.py", "/threading.py", "/concurrent/", "/socket.py"),
    ),
)


def main() -> int:
    """Run both rounds and the floors, then print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=400, help="cases of nine commands per round")
    parser.add_argument("--out", type=Path, default=Path("var/profile"))
    parser.add_argument("--read", action="store_true", help="only read again the profiles in --out")
    parser.add_argument("--minimal-app", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.minimal_app is not None:
        _serve_minimal_app(args.minimal_app)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.read:
        figures = json.loads((args.out / "figures.json").read_text())
    else:
        figures = asyncio.run(measure(args.cases, args.out.resolve()))
    figures["profile_shares"] = {s: shares(args.out, s) for s in SERVICES}
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(report(figures))
    return 0


async def measure(cases: int, out: Path) -> dict[str, Any]:
    """The mix plainly and profiled, and the floors, on one working copy of the quick data set."""
    plan = Plan.named("quick")
    dataset = await ensure_dataset(Path("var/bench/datasets"), scale=plan.scale)
    with tempfile.TemporaryDirectory(prefix="fourlinks-profile-") as directory:
        run = Run(plan, dataset, Path(directory), None)
        run.server = start_nats(dataset.copy_to(run.work / "nats"))
        try:
            await _init_nats(run)
            await _rebuild_at_once(run, f"sqlite:///{run.work}/{{service}}.db")
            await asyncio.to_thread(_clear_profiles, out)
            figures: dict[str, Any] = {"cases": cases, "commands": cases * COMMANDS_PER_CASE}
            figures["plain"] = await mix_round(run, cases, profile_dir=None)
            figures["profiled"] = await mix_round(run, cases, profile_dir=out)
            figures["floors"] = await floors(run, cases * COMMANDS_PER_CASE)
        finally:
            run.server.stop()
    return figures


def _clear_profiles(out: Path) -> None:
    for old in out.glob("*.prof"):
        old.unlink()


async def mix_round(run: Run, cases: int, *, profile_dir: Path | None) -> dict[str, Any]:
    """The command mix at c=32; CPU ms per command of each process (settling included, as the
    benchmark reads it: the projections and policies finish their share)."""
    extra = {PROFILE_DIR: str(profile_dir)} if profile_dir else {}
    async with four_services(run, extra) as services:
        await settle(run)
        processes = {**services.pids, "nats-server": run.server_pid}
        idle = await idle_cpu(processes)
        before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        mix = CaseMix(services, run.dataset.manifest["sample"]["households"][CONCURRENCY * 7 :])
        per_second = await closed_loop(cases, CONCURRENCY, mix.case) * COMMANDS_PER_CASE
        mix.check()
        await settle(run)
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    commands = cases * COMMANDS_PER_CASE
    cpu = {name: round(seconds * 1000 / commands, 3) for name, seconds in spent.items()}
    cpu["system"] = round(sum(cpu.values()), 3)
    return {
        "commands_per_second": round(per_second),
        "cpu_ms_per_command": cpu,
        "idle_cpu_ms_per_second": idle,
        **mix.latencies.summary(),
    }


async def idle_cpu(processes: dict[str, int], seconds: float = 5.0) -> dict[str, float]:
    """What each process spends doing nothing asked of it (timers, heartbeats), in ms a second:
    the per-command figures include it over the mix and the settling after it."""
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    await asyncio.sleep(seconds)
    return {
        name: round((cpu_seconds(pid) - before[name]) * 1000 / seconds, 2) for name, pid in processes.items()
    }


@contextlib.asynccontextmanager
async def four_services(run: Run, extra: dict[str, str]) -> AsyncIterator[Services]:
    """The four services as `fourlinks-serve` processes; SIGTERM at the end (a profile is then written)."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    try:
        for service in SERVICES:
            port = _free_port()
            database = {f"FOURLINKS_{service.upper()}_DATABASE_URL": f"sqlite:///{run.work / service}.db"}
            command = [sys.executable, "-m", "fourlinks_runtime.serve", service, "--port", str(port)]
            with (run.work / f"{service}.log").open("wb") as log:
                children[service] = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                    command, env=run.env(**database, **extra), stdout=log, stderr=subprocess.STDOUT
                )
            urls[service] = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=60) as client:
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
                child.wait(timeout=60)


async def floors(run: Run, count: int) -> dict[str, Any]:
    """Raw publish+ack of `count` messages at c=32 (CPU of nats-server and of this client), and a
    minimal FastAPI endpoint's CPU per request at c=32."""
    nc = await connect(run.settings(), name="fourlinks-profile")
    try:
        payload_size = await _mean_payload_size(nc)
        server_before, client_before = cpu_seconds(run.server_pid), cpu_seconds(os.getpid())
        raw = await baselines.raw_publish(nc, payload_size=payload_size, count=count, concurrency=CONCURRENCY)
        server_ms = (cpu_seconds(run.server_pid) - server_before) * 1000 / count
        client_ms = (cpu_seconds(os.getpid()) - client_before) * 1000 / count
    finally:
        await nc.close()
    return {
        "raw_publish_ack": {
            **raw,
            "nats_server_cpu_ms": round(server_ms, 3),
            "client_cpu_ms": round(client_ms, 3),
        },
        "minimal_fastapi": await minimal_endpoint(count),
    }


async def minimal_endpoint(count: int) -> dict[str, Any]:
    """CPU per request of a one-route FastAPI app (a pydantic body in, a pydantic answer out)."""
    port = _free_port()
    command = [sys.executable, __file__, "--minimal-app", str(port)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    lean = LeanClient()
    try:
        await _until_up(port, child)
        url, body = f"http://127.0.0.1:{port}/things", {"kind": "repairs", "note": "路灯坏了"}
        for _ in range(200):  # routes and validators built, connections open
            await lean.post(url, body, {})
        before = cpu_seconds(child.pid)

        async def one(_: int) -> None:
            await lean.post(url, body, {"Authorization": "Bearer x"})

        rate = await closed_loop(count, CONCURRENCY, one)
        return {
            "per_second": round(rate),
            "cpu_ms": round((cpu_seconds(child.pid) - before) * 1000 / count, 3),
        }
    finally:
        await lean.close()
        child.terminate()
        child.wait(timeout=20)


async def _until_up(port: int, child: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if child.poll() is not None:
                raise RuntimeError("the minimal app exited")
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/")
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("the minimal app did not start")


def _serve_minimal_app(port: int) -> None:
    import uvicorn  # noqa: PLC0415 - only in the child process
    from fastapi import FastAPI  # noqa: PLC0415
    from pydantic import BaseModel  # noqa: PLC0415

    class Thing(BaseModel):
        kind: str
        note: str

    class Made(BaseModel):
        id: str
        position: int

    app = FastAPI()

    @app.post("/things", status_code=201)
    async def make(thing: Thing) -> Made:
        return Made(id=thing.kind, position=len(thing.note))

    options = guarded_server_options(MAX_CONNECTIONS)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, **options)


# -- reading the profiles ---------------------------------------------------------------------------------
Func = tuple[str, int, str]


def shares(out: Path, service: str) -> dict[str, Any]:
    """The share of the profiled process's CPU per place (see PLACES), and its top functions."""
    files = sorted(out.glob(f"{service}-*.prof"))
    if not files:
        return {}
    stats = pstats.Stats(*map(str, files))
    table: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    places: dict[str, float] = {}
    for func, (_, _, own, _, callers) in table.items():
        for place, seconds in _place_of(func, own, callers, table).items():
            places[place] = places.get(place, 0.0) + seconds
    total = sum(places.values()) or 1.0
    top = sorted(table.items(), key=lambda item: -item[1][2])[:12]
    return {
        "seconds": round(total, 2),
        "places": {k: round(v / total, 3) for k, v in sorted(places.items(), key=lambda kv: -kv[1])},
        "top_own_time": [f"{round(v[2] / total * 100, 1)}% {_name(f)}" for f, v in top],
    }


def _place_of(func: Func, own: float, callers: dict[Func, Any], table: dict[Func, Any]) -> dict[str, float]:
    """A Python function's own time goes to its file's place; a C function's is split between its
    callers' places (two levels up, through other C functions) by the time each call took."""
    if func[0] != "~":
        return {_place(func[0]): own}
    spent = {caller: calls[2] for caller, calls in callers.items()}
    whole = sum(spent.values())
    if not whole:
        return {"other (C, caller unknown)": own}
    split: dict[str, float] = {}
    for caller, seconds in spent.items():
        place = _place(caller[0]) if caller[0] != "~" else _caller_place(caller, table)
        split[place] = split.get(place, 0.0) + own * seconds / whole
    return split


def _caller_place(func: Func, table: dict[Func, Any]) -> str:
    callers = table.get(func, (0, 0, 0, 0, {}))[4]
    python = [(calls[2], caller) for caller, calls in callers.items() if caller[0] != "~"]
    return _place(max(python)[1][0]) if python else "other (C, caller unknown)"


def _place(path: str) -> str:
    normal = path.replace("\\", "/")
    for place, parts in PLACES:
        if any(part in normal for part in parts):
            return place
    return "other Python"


def _name(func: Func) -> str:
    path, line, name = func
    if path == "~":
        return name
    return f"{'/'.join(Path(path).parts[-2:])}:{line} {name}"


# -- the table ----------------------------------------------------------------------------------------------
def report(figures: dict[str, Any]) -> str:
    """Per process: CPU ms per command (plain run), its places with their share, the floors."""
    plain, profiled = figures["plain"], figures["profiled"]
    lines = [
        f"{figures['commands']} commands at c={CONCURRENCY}: {plain['commands_per_second']}/s plain, "
        f"{profiled['commands_per_second']}/s profiled; p50 {plain['p50_ms']} ms, p99 {plain['p99_ms']} ms",
        "CPU ms per command (plain, then profiled): "
        + ", ".join(
            f"{k} {v} / {profiled['cpu_ms_per_command'][k]}" for k, v in plain["cpu_ms_per_command"].items()
        ),
    ]
    for service in SERVICES:
        found = figures["profile_shares"].get(service) or {}
        ms = plain["cpu_ms_per_command"][service]
        lines.append(f"\n{service}: {ms} ms a command")
        lines += [
            f"  {share * 100:5.1f}%  {ms * share:.3f} ms  {place}"
            for place, share in found.get("places", {}).items()
        ]
        lines += [f"    {item}" for item in found.get("top_own_time", [])]
    lines.append(f"\nfloors: {json.dumps(figures['floors'], ensure_ascii=False)}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
