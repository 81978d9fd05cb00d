"""What the HTTP edge costs with uvicorn's fast loop and parser against the plain ones
(docs/benchmarks.md, "The edge").

    .venv/bin/python tools/edge_cost.py [REQUESTS] [CONCURRENCY]

The members service as one uvicorn process, on a fresh nats-server from the wheel, started with
`--loop asyncio --http h11` (pure Python) and with `--loop uvloop --http httptools`
(`uvicorn[standard]`, what `fourlinks-serve` picks), twice each in turn (ABAB: this machine is
shared). Each round: REQUESTS reads (one org unit) and REQUESTS commands (a new street each) from
the lean load generator at CONCURRENCY. Wall-clock requests per second and CPU milliseconds per
request of the service process. A figure, not a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from fourlinks_bench.lean_http import LeanClient
from fourlinks_bench.measure import cpu_seconds
from fourlinks_kernel.crypto import generate_master_key
from fourlinks_members.domain.org_units import unit_id_for
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.settings import Settings

SERVERS = {"asyncio+h11": ("asyncio", "h11"), "uvloop+httptools": ("uvloop", "httptools")}
DISTRICT = "yuhang"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def members_service(env: dict[str, str], loop: str, http: str, log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "fourlinks_members.bootstrap:create_app"]
    command += [
        "--port",
        str(port),
        "--loop",
        loop,
        "--http",
        http,
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(log.read_text()[-2000:])
        yield url, child.pid
    finally:
        child.terminate()
        child.wait(timeout=20)


async def in_parallel(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def round_of(
    url: str, pid: int, headers: dict[str, str], *, requests: int, concurrency: int, tag: str
) -> dict[str, Any]:
    client = LeanClient()
    figures: dict[str, Any] = {}

    async def read(_: int) -> None:
        status, _answer = await client.get(f"{url}/org-units/{unit_id_for(DISTRICT)}", headers)
        assert status == 200, status

    async def command(n: int) -> None:
        body = {"code": f"{tag}{n}", "name": f"街道{n}", "level": "street", "parent_path": DISTRICT}
        status, answer = await client.post(f"{url}/org-units", body, headers)
        assert status == 201, answer

    try:
        for name, one in (("reads", read), ("commands", command)):
            before = cpu_seconds(pid)
            seconds = await in_parallel(requests, concurrency, one)
            figures[name] = {
                "per_s": round(requests / seconds),
                "cpu_ms_per_request": round((cpu_seconds(pid) - before) * 1000 / requests, 3),
            }
    finally:
        await client.close()
    return figures


def measure(requests: int, concurrency: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        nats = start_nats(work / "nats")
        jwt_secret = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "FOURLINKS_NATS_URL": nats.url,
            "FOURLINKS_MASTER_KEY": generate_master_key(),
            "FOURLINKS_JWT_SECRET": jwt_secret,
            "FOURLINKS_VAR_DIR": str(work / "var"),
            "FOURLINKS_LOG_LEVEL": "WARNING",
        }
        init = [sys.executable, "-m", "fourlinks_cli", "nats", "init", "--monitor-url", nats.monitor_url]
        subprocess.run(init, env=env, check=True, stdout=subprocess.DEVNULL)
        settings = Settings(jwt_secret=SecretStr(jwt_secret))
        token = issue_token(settings, subject="admin", roles=["administrator"], scope=DISTRICT)
        admin = {"Authorization": f"Bearer {token}"}
        try:
            for turn, name in enumerate([*SERVERS, *SERVERS]):
                with members_service(env, *SERVERS[name], work / f"{name}.log") as (url, pid):
                    if turn == 0:
                        httpx.post(
                            f"{url}/org-units",
                            json={"code": DISTRICT, "name": "余杭区", "level": "district"},
                            headers=admin,
                        ).raise_for_status()
                    figures = asyncio.run(
                        round_of(url, pid, admin, requests=requests, concurrency=concurrency, tag=f"t{turn}n")
                    )
                print(name, figures, file=sys.stderr, flush=True)
                results[name].append(figures)
        finally:
            nats.stop()
    return {"requests": requests, "concurrency": concurrency, "rounds": results}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    print(json.dumps(measure(count, width), indent=2))
