"""Every service's rebuild at once, each in its own process: a rebuild is one core's Python work,
so side by side they use every core the machine has."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence


async def rebuild_all(
    services: Sequence[str], *, database_url: str | None, resume: bool, in_place: bool = False
) -> tuple[int, str]:
    """Run `replay rebuild <service>` for each service in parallel; each process's progress and
    summary lines pass through. Returns the exit code (0: every rebuild succeeded) and a summary."""
    started = time.monotonic()
    rebuilds = (
        _rebuild_one(service, database_url=database_url, resume=resume, in_place=in_place)
        for service in services
    )
    codes = await asyncio.gather(*rebuilds)
    failed = [service for service, code in zip(services, codes, strict=True) if code != 0]
    if failed:
        return 1, f"rebuild failed for {', '.join(failed)} (see the lines above); the others finished"
    return 0, f"rebuilt {', '.join(services)} side by side in {time.monotonic() - started:.1f} s"


async def _rebuild_one(service: str, *, database_url: str | None, resume: bool, in_place: bool) -> int:
    command = [sys.executable, "-m", "fourlinks_audit", "replay", "rebuild", service]
    if database_url:
        command += ["--database-url", database_url.replace("{service}", service)]
    if resume:
        command.append("--resume")
    if in_place:
        command.append("--in-place")
    process = await asyncio.create_subprocess_exec(*command)
    return await process.wait()
