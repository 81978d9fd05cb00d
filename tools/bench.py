"""A first cut of `make bench`: the command path against raw JetStream, same durability, same run.

Writes bench-results.json and prints a table. Figures, not pass/fail: read the ratios.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from fourlinks_kernel.crypto import generate_master_key
from fourlinks_kernel.provisioning import ProvisionOptions, provision
from fourlinks_members.bootstrap import create_app
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

PAYLOAD = b"x" * 600  # about the size of an OrgUnitCreated event with its envelope


async def rate(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Operations per second for `count` operations with `concurrency` in flight."""
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def main(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        server = start_nats(Path(directory) / "nats")
        settings = Settings(
            var_dir=Path(directory),
            nats_url=server.url,
            master_key=generate_master_key(),
            jwt_secret="bench-secret-of-a-reasonable-length-0000",  # noqa: S106 - a throwaway server
            log_level="ERROR",
        )
        try:
            nc = await connect(settings, name="bench")
            await provision(nc, ProvisionOptions(monitor_url=server.monitor_url))
            results: dict[str, float] = {}

            async def raw(n: int) -> None:
                subject = f"fourlinks.bench.raw.{n}.Written"
                reply = await nc.request(
                    subject, PAYLOAD, timeout=10, headers={"Nats-Msg-Id": str(uuid.uuid4())}
                )
                assert b"error" not in reply.data

            for concurrency in (1, 32):
                results[f"raw_publish_ack_c{concurrency}"] = await rate(count, concurrency, raw)
            app = create_app(settings)
            token = issue_token(settings, subject="bench", roles=["administrator"], scope="bench")
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                LifespanManager(app, startup_timeout=60),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
            ):
                await client.post(
                    "/org-units", json={"code": "bench", "name": "b", "level": "district"}, headers=headers
                )
                for concurrency in (1, 32):

                    async def command(n: int, c: int = concurrency) -> None:
                        body = {
                            "code": f"c{c}-{n}",
                            "name": "街道",
                            "level": "street",
                            "parent_path": "bench",
                        }
                        reply = await client.post("/org-units", json=body, headers=headers)
                        assert reply.status_code == 201, reply.text

                    results[f"command_path_c{concurrency}"] = await rate(count, concurrency, command)
            await nc.close()
            return results
        finally:
            server.stop()


if __name__ == "__main__":
    figures = asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 600))
    Path("bench-results.json").write_text(json.dumps(figures, indent=2) + "\n")
    for concurrency in (1, 32):
        raw, command = figures[f"raw_publish_ack_c{concurrency}"], figures[f"command_path_c{concurrency}"]
        print(
            f"concurrency {concurrency:>2}: raw publish+ack {raw:8,.0f}/s   command path {command:8,.0f}/s   "
            f"ratio {command / raw:.2f}"
        )
