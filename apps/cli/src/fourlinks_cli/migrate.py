"""`fourlinks nats migrate-subjects`: an events stream from the old subject layout (event type in
the subject) to one literal subject per aggregate, verified before and after, policies resumed."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from typing import Any

from nats.aio.client import Client

from fourlinks_audit.consumers import durable_consumers
from fourlinks_audit.verify import VerifyReport, verify
from fourlinks_kernel.envelope import SUBJECT_LAYOUT
from fourlinks_kernel.events import EventRegistry
from fourlinks_kernel.jetstream import subject_layout
from fourlinks_kernel.provisioning import ensure_consumers
from fourlinks_kernel.relayout import SIDE_SUFFIX, RelayoutRefused, relayout
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

_VERSION = re.compile(r"-v\d+$")


async def migrate_subjects(settings: Settings) -> int:
    """Verify, move, verify again, resume the policies; 0 when done, 1 when refused."""
    nc = await connect(settings, name="fourlinks-migrate", within=COMMAND_CONNECT_SECONDS)
    try:
        return await _migrate(nc, settings)
    except RelayoutRefused as exc:
        print(f"fourlinks nats migrate-subjects: {exc}", file=sys.stderr)
        return 1
    finally:
        await nc.close()


async def _migrate(nc: Client, settings: Settings) -> int:
    store, _ = open_event_store(nc, settings, EventRegistry())  # envelopes only: nothing decrypted
    before: VerifyReport | None = None
    if not await _resuming(nc, settings):
        before = await verify(store)
        if not before.ok:
            _print_findings("the log before the move", before)
            print("nothing was moved: settle these findings first (docs/audit.md)", file=sys.stderr)
            return 1
        print(f"verified {before.events:,} events of {before.aggregates:,} aggregates in the old layout")
    bar = Progress("move (two copies)", 0)
    report = await relayout(nc, settings.jetstream(), advance=lambda done, total: _advance(bar, done, total))
    bar.finish()
    after = await verify(store)
    if not after.ok or after.events != report.events or (before and before.aggregates != after.aggregates):
        _print_findings("the log after the move", after)
        print(f"moved {report.events:,} events but the result does not verify", file=sys.stderr)
        return 1
    print(f"moved {report.events:,} events; verified {after.aggregates:,} aggregates in the new layout")
    for line in await _resume_policies(nc, settings, report.consumers, report.events):
        print(line)
    return 0


def _advance(bar: Progress, done: int, total: int) -> None:
    bar.total = total
    bar.advance(done)


async def _resuming(nc: Client, settings: Settings) -> bool:
    """An interrupted move left its side stream: go on without verifying the old layout again.
    Refused at once when there is nothing to move."""
    side = await _stream_info(nc, f"{settings.stream}{SIDE_SUFFIX}")
    if side is not None:
        return True
    main = await _stream_info(nc, settings.stream)
    if main is None:
        raise RelayoutRefused(f"there is no stream {settings.stream} to move")
    if subject_layout(main) == SUBJECT_LAYOUT:
        raise RelayoutRefused(f"stream {settings.stream} is in the current layout already: nothing to do")
    return False


async def _stream_info(nc: Client, stream: str) -> dict[str, Any] | None:
    reply = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=10)).data)
    return None if "error" in reply else dict(reply)


async def _resume_policies(nc: Client, settings: Settings, kept: dict[str, int], last: int) -> list[str]:
    """Every policy's consumer under its new name, after what its old one had acknowledged;
    a policy without an old consumer starts after the moved history (reactions are idempotent,
    so an event above an acknowledged floor that was handled already is a no-op)."""
    acknowledged = {_VERSION.sub("", name): position for name, position in kept.items()}
    consumers = [
        replace(c, start_after=acknowledged.get(_VERSION.sub("", c.name), last))
        for c in durable_consumers(settings)
    ]
    return await ensure_consumers(nc, settings.stream, consumers)


def _print_findings(what: str, report: VerifyReport) -> None:
    print(f"{what}: {len(report.findings)} finding(s)", file=sys.stderr)
    for finding in report.findings[:20]:
        print(f"  {finding.position} {finding.stream} {finding.kind}: {finding.detail}", file=sys.stderr)
