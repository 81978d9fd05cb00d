"""`fourlinks uplink`: what a district sends up to its city and province — per community and month
its tasks', feedback's, categories' and coverage counts, and its latest signed checkpoint — into
FOURLINKS_UPLINK, as the NATS user `uplink`. Figures only: counts of units, never a name, a phone,
an id or an event (docs/architecture.md, "Many districts, one province").

It asks the services over HTTP with a token of its own (an auditor of the whole district, signed
here as `fourlinks token` signs one) and never reads their databases. Each cycle publishes only the
subjects whose figures changed; a publish retried after a timeout carries the same `Nats-Msg-Id`
and is stored once. Coverage is known only as it stands now: each cycle states the current month's,
so a past month's coverage is as it was last published in that month."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nats.errors
from nats.aio.client import Client
from pydantic import SecretStr

from fourlinks_console.services import Service, ServiceRefused, Services, ServiceUnavailable
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts.figures import (
    CHECKPOINT_SUBJECT,
    COUNTS,
    DISTRICT_CODE,
    CheckpointStatement,
    Figures,
    msg_id,
    payload_of,
)
from fourlinks_contracts.members import COMMUNITY_DEPTH, unit_at_depth
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.federation import UPLINK_PASSWORD_ENV, UPLINK_USER
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

CYCLE_SECONDS = 30.0
SUBJECT = "uplink"
SERVICE_WORDS = {
    "members": "成员服务 the members service",
    "assignments": "任务服务 the assignments service",
    "feedback": "反馈服务 the feedback service",
    "audit": "审计检查点 the checkpointer",
}
Statement = Figures | CheckpointStatement


@dataclass(frozen=True)
class District:
    """Which district sends: its GB/T 2260 code and the root of its org units."""

    code: str
    root: str
    timezone: str


@dataclass
class Asking:
    """The services, the token they are asked with, and the checkpointer's address."""

    services: Services
    token: str
    audit: httpx.AsyncClient | None = None
    audit_url: str | None = None
    as_of: int | None = None
    """The log position this cycle's reads wait for (X-Min-Position): what the figures are as of."""
    renew: Callable[[], str] | None = None
    """A new token: each cycle takes one, so a publisher running for days never asks with one that
    expired (a token lives an hour)."""

    async def get(self, service: Service, path: str, **params: Any) -> Any:
        return await self.services.get(self.token, service, path, params, min_position=self.as_of)

    async def checkpoint(self) -> str | None:
        """The checkpointer's latest published checkpoint (None: none yet, or no checkpointer)."""
        if self.audit is None or not self.audit_url:
            return None
        try:
            reply = await self.audit.get(f"{self.audit_url.rstrip('/')}/checkpoint")
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("audit") from exc
        return reply.text if reply.status_code == 200 else None


def uplink_token(settings: Settings, root: str) -> str:
    """The publisher's token: an auditor of the whole district (it reads, never writes)."""
    return issue_token(settings, subject="uplink", roles=["auditor"], scope=root, lifetime=timedelta(hours=1))


# -- gathering ------------------------------------------------------------------------------------
@dataclass
class Places:
    """The district's streets and communities with their names (from the coverage answers)."""

    names: dict[str, str] = field(default_factory=dict)
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)  # by community, now

    def street_of(self, community: str) -> str:
        return community.rsplit("/", 1)[0]

    def name(self, unit: str) -> str:
        return self.names.get(unit, unit.rsplit("/", 1)[-1])


async def places(asking: Asking, root: str) -> Places:
    """Every street below the district and every community below each, as the members service
    names them, with each community's coverage now."""
    found = Places()
    for street in await asking.get("members", "/coverage/below", unit=root):
        found.names[street["unit"]] = street["name"]
        for community in await asking.get("members", "/coverage/below", unit=street["unit"]):
            found.names[community["unit"]] = community["name"]
            found.coverage[community["unit"]] = community
    return found


async def position_now(asking: Asking) -> int:
    """The furthest log position any read model of the three services has applied. Each reads only
    its own subjects, so the lowest would lag for as long as nothing of its own happens; the reads
    of the cycle then wait (X-Min-Position) until every service has read the log this far."""
    furthest = 0
    for service in ("members", "assignments", "feedback"):
        ready = await asking.services.get(None, service, "/health/ready")
        for projection in ready.get("projections", {}).values():
            furthest = max(furthest, int(projection["position"]))
    return furthest


def coverage_counts(row: dict[str, Any]) -> dict[str, int]:
    """A community's coverage answer as the counts sent up."""
    return {
        "households": row["households"]["total"],
        "households_covered": row["households"]["covered"],
        "enterprises": row["enterprises"]["total"],
        "enterprises_covered": row["enterprises"]["covered"],
        "uncovered": row["uncovered"],
        "members_active": row["members_active"],
        "members_over_capacity": row["members_over_capacity"],
    }


def community_categories(rows: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Counts by building and category folded into their communities (a task from above any
    community counts in none, as the KPIs by community count it)."""
    folded: dict[str, Counter[str]] = {}
    for row in rows:
        community = unit_at_depth(row["unit"] or "", COMMUNITY_DEPTH)
        if community is not None:
            folded.setdefault(community, Counter())[row["category"]] += int(row["count"])
    return folded


@dataclass(frozen=True)
class Stamp:
    """What every statement of one cycle carries: the district, its position and the time."""

    district: str
    position: int
    published_at: str


def statement(
    stamp: Stamp, *, kind: str, month: str, unit: str, where: Places, counts: dict[str, int]
) -> Figures:
    street = where.street_of(unit)
    return Figures(
        kind=kind,
        district=stamp.district,
        unit=unit,
        unit_name=where.name(unit),
        street=street,
        street_name=where.name(street),
        month=month,
        position=stamp.position,
        published_at=stamp.published_at,
        counts=counts,
    )


async def gather(asking: Asking, district: District, now: datetime) -> list[Statement]:
    """Every statement of this cycle: each community's figures of every month present, this
    month's coverage, and the latest checkpoint."""
    asking.as_of = await position_now(asking) or None
    stamp = Stamp(district.code, asking.as_of or 0, now.isoformat())
    where = await places(asking, district.root)
    found: list[Statement] = []
    months: set[str] = set()
    for kind, service in (("tasks", "assignments"), ("feedback", "feedback")):
        for row in await asking.get(service, "/kpis", unit=district.root, by="community"):  # type: ignore[arg-type]
            months.add(row["month"])
            counts = {name: int(row[name]) for name in COUNTS[kind]}
            found.append(
                statement(stamp, kind=kind, month=row["month"], unit=row["group"], where=where, counts=counts)
            )
    for month in sorted(months):
        rows = await asking.get(
            "assignments", "/kpis/categories", unit=district.root, month=month, by="building"
        )
        for unit, counted in community_categories(rows).items():
            found.append(
                statement(stamp, kind="categories", month=month, unit=unit, where=where, counts=dict(counted))
            )
    this_month = now.astimezone(ZoneInfo(district.timezone)).strftime("%Y-%m")
    for unit, row in where.coverage.items():
        found.append(
            statement(
                stamp, kind="coverage", month=this_month, unit=unit, where=where, counts=coverage_counts(row)
            )
        )
    note = await asking.checkpoint()
    if note is not None:
        origin = note.split("\n", 1)[0]
        found.append(
            CheckpointStatement(
                district=district.code, origin=origin, note=note, published_at=stamp.published_at
            )
        )
    return found


# -- publishing -----------------------------------------------------------------------------------
def subject_of(found: Statement) -> str:
    return CHECKPOINT_SUBJECT if isinstance(found, CheckpointStatement) else found.subject


def content_of(found: Statement) -> str:
    """What a statement says, less when it was said and as of which position: a subject is sent
    again only when this changed (a checkpoint every cycle: it tells the province the link lives)."""
    if isinstance(found, CheckpointStatement):
        return found.published_at
    return json.dumps([found.unit_name, found.street_name, found.counts], sort_keys=True, ensure_ascii=False)


@dataclass
class Publisher:
    """Publishes into FOURLINKS_UPLINK what changed since it last did."""

    nc: Client
    sent: dict[str, str] = field(default_factory=dict)

    async def publish(self, statements: list[Statement]) -> int:
        """Publish the changed statements, each acknowledged by the stream; how many."""
        js = self.nc.jetstream()
        count = 0
        for found in statements:
            subject, content = subject_of(found), content_of(found)
            if self.sent.get(subject) == content:
                continue
            payload = payload_of(found)
            await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id(subject, payload)})
            self.sent[subject] = content
            count += 1
        return count


# -- the loop -------------------------------------------------------------------------------------
def say(words: str) -> None:
    """One line for the operator, on stderr."""
    sys.stderr.write(words + "\n")
    sys.stderr.flush()


async def cycle(
    asking: Asking, district: District, publisher: Publisher, clock: Callable[[], datetime]
) -> int:
    """One round: gather, publish what changed; how many statements were published."""
    return await publisher.publish(await gather(asking, district, clock()))


async def run(
    asking: Asking,
    district: District,
    publisher: Publisher,
    *,
    once: bool = False,
    every: float = CYCLE_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Publish at start and every `every` seconds; a service that does not answer is said on
    stderr and asked again next round. `once`: one round, its outcome the exit code."""
    while True:
        if asking.renew is not None:
            asking.token = asking.renew()
        try:
            sent = await cycle(asking, district, publisher, clock)
            say(f"uplink: 已发送 {sent} 条 / sent {sent} statement(s)")
            if once:
                return 0
        except ServiceUnavailable as exc:
            who = SERVICE_WORDS.get(exc.service, exc.service)
            say(f"uplink: {who} 无法访问，{every:g} 秒后重试 / is not answering; retrying in {every:g} s")
            if once:
                return 1
        except ServiceRefused as exc:
            say(f"uplink: 服务拒绝了请求 / a service refused: {exc.status} {exc.code} {exc.message}"[:400])
            if once:
                return 1
        except (nats.errors.Error, TimeoutError) as exc:
            say(
                f"uplink: NATS 无法写入，{every:g} 秒后重试 / cannot publish ({type(exc).__name__}); retrying"
            )
            if once:
                return 1
        await asyncio.sleep(every)


def uplink_settings(settings: Settings) -> Settings:
    """The district's settings signed in to NATS as `uplink` (its password from
    FOURLINKS_NATS_UPLINK_PASSWORD, else from var/nats-users/uplink.password where `fourlinks up`
    keeps it); without either, as the settings say (a server without users)."""
    password = os.environ.get(UPLINK_PASSWORD_ENV)
    kept = settings.var_dir / "nats-users" / f"{UPLINK_USER}.password"
    if password:
        return settings.model_copy(update={"nats_user": UPLINK_USER, "nats_password": SecretStr(password)})
    if kept.exists():
        return settings.model_copy(
            update={"nats_user": UPLINK_USER, "nats_password": None, "nats_password_file": kept}
        )
    return settings


async def publishing(settings: Settings, *, district: str | None, once: bool, every: float) -> int:
    """`fourlinks uplink`: the loop, wired from the settings and the console's service addresses."""
    code = district or os.environ.get("FOURLINKS_DISTRICT", "")
    if not DISTRICT_CODE.match(code):
        say("uplink: 需要区县代码 / needs the district's GB/T 2260 code: --district or FOURLINKS_DISTRICT")
        return 2
    console = ConsoleSettings()
    services = Services(console)
    audit = httpx.AsyncClient(timeout=console.service_timeout_seconds)
    renew = partial(uplink_token, settings, console.district)
    asking = Asking(services, renew(), audit, console.audit_url, renew=renew)
    nc = await connect(uplink_settings(settings), name="fourlinks-uplink")
    try:
        where = District(code, console.district, settings.timezone)
        return await run(asking, where, Publisher(nc), once=once, every=every)
    finally:
        await nc.close()
        await services.aclose()
        await audit.aclose()
