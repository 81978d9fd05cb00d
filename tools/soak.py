"""The soak: the kill checks grown to what operators meet in a year. A steady command load (each
command with its Idempotency-Key, retried with that key until acknowledged, as a client does)
runs while processes are SIGKILLed again and again; then nothing acknowledged may be missing from
the log or the read models, nothing may be there twice, `fourlinks audit verify` must say intact
and every service's read models must equal a fresh rebuild of the same log.

    python -m tools.soak embedded        # a fresh `fourlinks up`: 20 nats-server + 50 service SIGKILLs
    python -m tools.soak cluster         # the shipped 3-node cluster: 20 node kills, leader among them
    python -m tools.soak both            # `make soak`
    python -m tools.soak embedded --nats-kills 3 --service-kills 5     # a quick run

The load: streets created on the members service, tasks raised on the assignments service and
feedback submitted on the feedback service (which the assignments service turns into tasks by a
policy), 15 commands/s in all. After each kill it waits for the recovery (the process or node
back, every kind of command acknowledged again, every read model at the log's end) and 2 s of load.
In `cluster` the four services run as plain processes against the three nodes (each with its own
NATS user of deploy/nats/accounts.conf). Exit status 0 when every check holds, 1 when something was
found (the work directory is then kept and named). docs/reliability.md ("Soak") has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
import nats
from conftest import NATS_PASSWORDS, Cluster, free_ports, provision_when_formed
from nats.aio.client import Client
from pydantic import SecretStr
from tools.kill_check import Embedded, start

from fourlinks_contracts import full_registry
from fourlinks_kernel.crypto import generate_master_key
from fourlinks_members.domain.org_units import unit_id_for
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import UpState, write_state

SERVICES = ("members", "assignments", "feedback", "notifications")
KINDS = ("street", "task", "feedback")
SERVICE_OF = {"street": "members", "task": "assignments", "feedback": "feedback"}
CREATED_BY = {"street": "OrgUnitCreated", "task": "TaskRaised", "feedback": "FeedbackSubmitted"}
RETRIED = {409, 429, 500, 502, 503, 504}  # answered "not now": the client tries again with the key
DISTRICT = "yuhang"
COMMUNITY = f"{DISTRICT}/nanyuan/xinghe"
CLI = [sys.executable, "-m", "fourlinks_cli"]
SOAK_ENV = {
    # A year's kills in minutes: the crash-loop limit (5 restarts a minute) would rightly stop `up`.
    "FOURLINKS_RESTART_LIMIT": "1000",
    # One client address sends the whole load (as in the benchmarks): the per-address limits of
    # the public and resident routes (20 feedback a minute) would answer most of it 429.
    "FOURLINKS_RATE_LIMITS": "false",
}


# -- the figures -----------------------------------------------------------------------------------
def kill_order(nats_kills: int, service_kills: int) -> list[str]:
    """`service_kills` round-robin over the four services, with `nats_kills` nats-server kills
    spread evenly among them."""
    order = [SERVICES[i % len(SERVICES)] for i in range(service_kills)]
    total = nats_kills + service_kills
    slots = {int((k + 0.5) * total / nats_kills) for k in range(nats_kills)} if nats_kills else set()
    merged, taken = [], iter(order)
    for index in range(total):
        merged.append("nats" if index in slots else next(taken))
    return merged


def spread(values: Sequence[float]) -> tuple[float, float] | None:
    """Median and maximum, or None for no values."""
    return (statistics.median(values), max(values)) if values else None


@dataclass(frozen=True)
class Recovery:
    """One kill and how long its parts took to come back, in seconds after the SIGKILL (a cluster
    node's `back`: after its restart)."""

    kind: str  # what a row of the summary groups by: nats-server, a service, a cluster node's role
    back: float  # the process (or node) back: services ready, or the node current in its stream
    served: float | None  # every kind of command the kill touched acknowledged again
    elected: float | None = None  # a stream leader killed: a new one elected
    current: float | None = None  # every projection of every service has read the log to its end
    stuck: str = ""  # what was still behind when the recovery timeout passed


@dataclass
class Tally:
    """What the client saw of one kind of command."""

    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0  # acknowledged as "done before" (a retry whose first try had been written)
    gave_up: int = 0
    refused: int = 0


def recovery_table(recoveries: Iterable[Recovery]) -> list[str]:
    """Per kind of kill: how many, and median / max of each recovery time."""
    grouped: dict[str, list[Recovery]] = {}
    for recovery in recoveries:
        grouped.setdefault(recovery.kind, []).append(recovery)
    columns = ("back", "served again", "read models current", "elected")
    lines = [f"  {'killed (median / max)':<22}{'kills':>6}" + "".join(f"{c:>22}" for c in columns)]
    for kind, rows in grouped.items():
        cells = [
            spread([r.back for r in rows]),
            spread([r.served for r in rows if r.served is not None]),
            spread([r.current for r in rows if r.current is not None]),
            spread([r.elected for r in rows if r.elected is not None]),
        ]
        shown = [f"{c[0]:6.2f} / {c[1]:6.2f} s" if c else "-" for c in cells]
        lines.append(f"  {kind:<22}{len(rows):>6}" + "".join(f"{c:>22}" for c in shown))
    return lines


# -- the load --------------------------------------------------------------------------------------
class Target(Protocol):
    """Where the services answer."""

    def url(self, service: str) -> str:
        """The base URL of a service."""
        ...


@dataclass
class Sent:
    """One command of the load, by its Idempotency-Key."""

    kind: str
    n: int
    acked_at: float | None = None
    answer_id: str = ""
    duplicate: bool = False
    last_answer: str = ""


@dataclass
class Load:
    """Commands at a steady rate (`per_second` in all, shared by the kinds), each retried with its
    Idempotency-Key until it is acknowledged or `give_up` seconds pass."""

    target: Target
    headers: dict[str, str]
    household: str
    per_second: float = 15.0
    give_up: float = 120.0
    sent: dict[str, Sent] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    acks: list[tuple[float, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def begin(self) -> None:
        """One client thread per kind of command."""
        for kind in KINDS:
            thread = threading.Thread(target=self._run, args=(kind,), daemon=True, name=f"load-{kind}")
            thread.start()
            self.threads.append(thread)

    def end(self) -> None:
        """No new commands; wait for those under way (acknowledged, or given up)."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.give_up + 30)

    def served_again(self, moment: float, kinds: Iterable[str]) -> float | None:
        """When every one of these kinds of command had been acknowledged again after `moment`
        (None while one has not)."""
        firsts: dict[str, float] = {}
        with self.lock:
            for at, kind in self.acks:
                if at > moment and kind not in firsts:
                    firsts[kind] = at
        wanted = set(kinds)
        return max(firsts[kind] for kind in wanted) if wanted <= firsts.keys() else None

    def tally(self) -> dict[str, Tally]:
        """Per kind: sent, acknowledged, given up, refused."""
        tallies = {kind: Tally() for kind in KINDS}
        for sent in self.sent.values():
            tally = tallies[sent.kind]
            tally.sent += 1
            if sent.acked_at is not None:
                tally.acknowledged += 1
                tally.duplicates += sent.duplicate
            elif sent.last_answer.startswith("refused"):
                tally.refused += 1
            else:
                tally.gave_up += 1
        return tallies

    def refusals(self) -> Counter[str]:
        """The answers that ended commands unacknowledged (neither 2xx nor worth a retry)."""
        return Counter(s.last_answer for s in self.sent.values() if s.last_answer.startswith("refused"))

    def acknowledged(self, kind: str) -> dict[str, str]:
        """Idempotency-Key -> the id the answer named, for every acknowledged command of a kind."""
        return {key: s.answer_id for key, s in self.sent.items() if s.kind == kind and s.acked_at is not None}

    def _run(self, kind: str) -> None:
        interval = len(KINDS) / self.per_second
        due = time.monotonic()
        n = 0
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                n += 1
                key = f"soak-{kind}-{n:06d}"
                sent = Sent(kind, n)
                with self.lock:
                    self.sent[key] = sent
                self._until_acknowledged(client, key, sent)
                due = max(due + interval, time.monotonic() - interval)  # late: no burst to catch up
                time.sleep(max(0.0, due - time.monotonic()))

    def _until_acknowledged(self, client: httpx.Client, key: str, sent: Sent) -> None:
        service, path, body = self._command(sent.kind, sent.n)
        headers = {**self.headers, "Idempotency-Key": key}
        deadline = time.monotonic() + self.give_up
        while time.monotonic() < deadline:
            try:
                reply = client.post(f"{self.target.url(service)}{path}", json=body, headers=headers)
            except httpx.HTTPError as exc:  # refused, reset, timed out: the outcome is unknown
                self._saw(sent, f"{sent.kind} {type(exc).__name__}")
                time.sleep(0.1)
                continue
            if reply.status_code in (200, 201):
                answer = reply.json()
                with self.lock:
                    sent.acked_at = time.monotonic()
                    sent.answer_id = str(answer["id"])
                    sent.duplicate = bool(answer.get("duplicate"))
                    self.acks.append((sent.acked_at, sent.kind))
                return
            self._saw(sent, f"{sent.kind} {reply.status_code}")
            if reply.status_code not in RETRIED:
                sent.last_answer = f"refused {reply.status_code} {reply.text[:200]}"
                return
            sent.last_answer = f"{reply.status_code} {reply.text[:200]}"
            time.sleep(_retry_after(reply))

    def _saw(self, sent: Sent, answer: str) -> None:
        with self.lock:
            self.answers[answer] += 1
        sent.last_answer = answer

    def _command(self, kind: str, n: int) -> tuple[str, str, dict[str, Any]]:
        if kind == "street":
            body = {"code": f"s{n:06d}", "name": f"街道{n}", "level": "street", "parent_path": DISTRICT}
            return "members", "/org-units", body
        if kind == "task":
            body = {"category": "repairs", "org_unit": COMMUNITY, "description": f"楼道灯坏了 {n}"}
            return "assignments", "/tasks", body
        body = {"category": "repairs", "household_id": self.household, "description": f"厨房漏水 {n}"}
        return "feedback", "/feedback", body


def _retry_after(reply: httpx.Response) -> float:
    """How long the client waits before trying again: 0.1 s, sooner than the services' Retry-After
    on a 503 (the figures then say when the system is back, not how a client backs off); what a
    429 asks (5 s at most), as trying sooner only counts against the limit."""
    asked = reply.headers.get("retry-after", "")
    return min(float(asked), 5.0) if reply.status_code == 429 and asked.isdigit() else 0.1


def token(settings: Settings) -> dict[str, str]:
    """An administrator and secretary of the district, for eight hours."""
    issued = issue_token(
        settings,
        subject="soak-client",
        roles=("administrator", "secretary"),
        scope=DISTRICT,
        lifetime=timedelta(hours=8),
    )
    return {"Authorization": f"Bearer {issued}"}


def district(target: Target, headers: dict[str, str]) -> str:
    """A district down to a building and a member whose card covers one household; the household."""
    position = 0

    def command(service: str, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        nonlocal position
        keyed = {**headers, "Idempotency-Key": key, "X-Min-Position": str(position)}
        for _ in range(600):
            try:
                reply = httpx.post(f"{target.url(service)}{path}", json=body, headers=keyed, timeout=10)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if reply.status_code in (200, 201):
                answer: dict[str, Any] = reply.json()
                position = max(position, int(answer["position"]))
                return answer
            if reply.status_code not in RETRIED:
                raise SystemExit(f"setting up the district: {path} answered {reply.status_code} {reply.text}")
            time.sleep(0.2)
        raise SystemExit(f"setting up the district: {path} was never accepted")

    for code, level, parent in [
        (DISTRICT, "district", None),
        ("nanyuan", "street", DISTRICT),
        ("xinghe", "community", f"{DISTRICT}/nanyuan"),
        ("b1", "building", COMMUNITY),
    ]:
        body = {"code": code, "name": code, "level": level, "parent_path": parent}
        command("members", "/org-units", body, f"setup-unit-{code}")
    member = command(
        "members",
        "/members",
        {
            "name": "张建国",
            "public_phone": "0571-88880001",
            "party_branch": "星河第一支部",
            "org_unit": COMMUNITY,
        },
        "setup-member-1",
    )["id"]
    residents = [{"name": "王小明", "phone": "13912345678"}]
    household = command(
        "members",
        "/households",
        {"org_unit": f"{COMMUNITY}/b1", "room": "101", "residents": residents},
        "setup-household-1",
    )["id"]
    card = {"households": [household], "service_matters": ["repairs"]}
    command("members", f"/members/{member}/card", card, "setup-card-1")
    command(
        "feedback",
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "试一下"},
        "setup-feedback-1",
    )
    return str(household)


# -- CPU time of the processes ----------------------------------------------------------------------
@dataclass
class CpuMeter:
    """CPU seconds of named processes, sampled every second from /proc (a killed process keeps what
    its last sample saw; each incarnation of a name adds up)."""

    pids: Callable[[], dict[str, int]]
    seconds: dict[int, tuple[str, float]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def begin(self) -> None:
        """Sample in the background."""
        threading.Thread(target=self._run, daemon=True, name="cpu").start()

    def totals(self) -> dict[str, float]:
        """CPU seconds per name."""
        self.sample()
        found: dict[str, float] = {}
        for name, used in self.seconds.values():
            found[name] = found.get(name, 0.0) + used
        return found

    def sample(self) -> None:
        """Read each process's user and system time."""
        try:
            named = self.pids()
        except (OSError, ValueError, KeyError):
            return
        for name, pid in named.items():
            used = _cpu_seconds(pid)
            if used is not None:
                self.seconds[pid] = (name, used)

    def _run(self) -> None:
        while not self.stopping.wait(1.0):
            self.sample()


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- waiting -----------------------------------------------------------------------------------------
def until(check: Callable[[], object], *, timeout: float, every: float = 0.05) -> float | None:
    """The moment `check` first held, or None when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every)
    return None


def ready(url: str, instance: str | None = None) -> bool:
    """Whether the service at `url` answers ready (and is of our run, when an instance is given)."""
    try:
        reply = httpx.get(f"{url}/health/ready", timeout=1)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200 and (instance is None or reply.json().get("instance") == instance)


def projection_positions(target: Target) -> dict[str, int]:
    """Every projection of every service and the log position it has read up to."""
    found: dict[str, int] = {}
    for service in SERVICES:
        reply = httpx.get(f"{target.url(service)}/health/ready", timeout=5)
        for name, status in reply.json()["projections"].items():
            found[f"{service} {name}"] = int(status["position"])
    return found


def read_models_current(target: Target, settings: Settings, *, timeout: float) -> tuple[float | None, str]:
    """When every projection of every service had read the log up to where it ends now; or None
    and what was still behind (with what each service's /health/ready said) after `timeout`."""
    deadline = time.monotonic() + timeout
    goal = None
    while goal is None and time.monotonic() < deadline:
        try:
            goal = asyncio.run(last_position(settings))
        except Exception:  # NATS away or electing: ask again
            time.sleep(0.5)
    behind = ["the log's end could not be read"]

    def check() -> bool:
        nonlocal behind
        positions = _positions_or_none(target)
        behind = ["a service's /health/ready did not answer"] if positions is None else []
        behind += [f"{name} at {at}" for name, at in (positions or {}).items() if goal is None or at < goal]
        return not behind

    reached = until(check, timeout=max(0.0, deadline - time.monotonic()), every=0.2) if goal else None
    if reached is not None:
        return reached, ""
    said = {service: _readiness_text(target.url(service)) for service in SERVICES}
    return None, (
        f"read models still behind the log's end ({goal}) after {timeout:g} s: {'; '.join(behind)}; "
        f"/health/ready said: {said}"
    )


def _readiness_text(url: str) -> str:
    try:
        reply = httpx.get(f"{url}/health/ready", timeout=5)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return f"{reply.status_code} {reply.text[:400]}"


# -- the checks -----------------------------------------------------------------------------------
@dataclass
class Checked:
    """What the checks found: `findings` are defects; the rest are figures."""

    findings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    lost: int = 0
    doubled: int = 0
    position: int = 0


async def settle(target: Target, settings: Settings, *, timeout: float = 300.0) -> int:
    """Wait until the log has stopped growing, every projection has read all of it and every
    policy's consumer has nothing pending or unacknowledged (a reaction that failed while NATS was
    away is redelivered later); the log's last position. On a timeout, what was still behind."""
    nc = await connect(settings, name="soak-settle", within=10)
    try:
        store, _ = open_event_store(nc, settings, full_registry())
        deadline = time.monotonic() + timeout
        seen, steady = -1, 0
        behind: list[str] = []
        while time.monotonic() < deadline:
            last = await store.last_position()
            positions = await asyncio.to_thread(_positions_or_none, target)
            behind = [f"{n} at {p}" for n, p in (positions or {}).items() if p < last]
            behind += [] if positions is not None else ["a service's /health/ready did not answer"]
            behind += [] if behind else await _busy_consumers(nc, settings.stream)
            steady = steady + 1 if not behind and last == seen else 0
            if steady >= 3:
                return last
            seen = last
            await asyncio.sleep(1.0)
        raise TimeoutError(
            f"the log or a projection did not settle in {timeout:g} s: the log ends at {seen}; "
            f"still behind: {'; '.join(behind)}"
        )
    finally:
        await nc.close()


async def _busy_consumers(nc: Client, stream: str) -> list[str]:
    """The consumers of the events stream with messages waiting or unacknowledged."""
    try:
        consumers = await nc.jsm().consumers_info(stream)
    except Exception as exc:  # a leader election, a node away: not settled
        return [f"consumers unknown ({type(exc).__name__})"]
    return [
        f"consumer {c.name}: {c.num_pending} waiting, {c.num_ack_pending} unacknowledged"
        for c in consumers
        if c.num_pending or c.num_ack_pending
    ]


async def last_position(settings: Settings) -> int:
    """The log's last position now."""
    nc = await connect(settings, name="soak-last", within=10)
    try:
        return await open_event_store(nc, settings, full_registry())[0].last_position()
    finally:
        await nc.close()


def _positions_or_none(target: Target) -> dict[str, int] | None:
    try:
        return projection_positions(target)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


async def check_log(settings: Settings, load: Load, checked: Checked) -> None:
    """Every acknowledged command's creation once in the log, every feedback's task raised once, no
    command's events written twice."""
    nc = await connect(settings, name="soak-check", within=10)
    created: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    by_command: Counter[str] = Counter()
    routed: dict[str, str] = {}
    runs: dict[tuple[str, str], list[int]] = {}
    events = 0
    try:
        store, _ = open_event_store(nc, settings, full_registry())
        async for stored in store.read():
            events += 1
            envelope, data = store.codec.envelope_of(stored)
            runs.setdefault((envelope.command_id, str(envelope.stream)), []).append(
                envelope.aggregate_version
            )
            for kind, event_type in CREATED_BY.items():
                if envelope.event_type == event_type:
                    created[kind][envelope.aggregate_id] += 1
                    by_command[envelope.command_id] += 1
            if envelope.event_type == "FeedbackRouted":
                routed[envelope.aggregate_id] = str(data["task_id"])
    finally:
        await nc.close()
    _compare_log(load, checked, created=created, by_command=by_command, routed=routed)
    split = [f"{c} on {s}" for (c, s), versions in runs.items() if not _one_run(versions)]
    if split:
        checked.doubled += len(split)
        checked.findings.append(f"{len(split)} command(s) wrote to one aggregate twice: {split[:5]}")
    checked.lines.append(
        f"log: {events:,} events; {sum(by_command.values()):,} creations by {len(by_command):,} commands; "
        f"{len(routed):,} feedback routed to a task"
    )


def _one_run(versions: list[int]) -> bool:
    """A command's events on one aggregate: one atomic write, consecutive versions."""
    ordered = sorted(versions)
    return ordered == list(range(ordered[0], ordered[0] + len(ordered)))


def _compare_log(
    load: Load,
    checked: Checked,
    *,
    created: dict[str, Counter[str]],
    by_command: Counter[str],
    routed: dict[str, str],
) -> None:
    for kind in KINDS:
        acknowledged = load.acknowledged(kind)
        missing = [key for key, ident in acknowledged.items() if created[kind][ident] == 0]
        twice = [ident for ident, count in created[kind].items() if count > 1]
        checked.lost += len(missing)
        checked.doubled += len(twice)
        if missing:
            checked.findings.append(
                f"log: {len(missing)} acknowledged {kind} command(s) missing: {missing[:5]}"
            )
        if twice:
            checked.findings.append(f"log: {len(twice)} {kind}(s) created twice: {twice[:5]}")
    twice_by_command = [command for command, count in by_command.items() if count > 1]
    if twice_by_command:
        checked.doubled += len(twice_by_command)
        checked.findings.append(
            f"log: {len(twice_by_command)} command(s) created twice: {twice_by_command[:5]}"
        )
    for key, feedback in load.acknowledged("feedback").items():
        task = routed.get(feedback)
        if task is None:
            checked.lost += 1
            checked.findings.append(f"log: acknowledged feedback {key} ({feedback}) was never routed")
        elif created["task"][task] != 1:
            checked.lost += created["task"][task] == 0
            checked.doubled += created["task"][task] > 1
            checked.findings.append(f"log: feedback {key}'s task {task} raised {created['task'][task]} times")


async def check_read_models(target: Target, headers: dict[str, str], load: Load, checked: Checked) -> None:
    """Every acknowledged street, task and feedback listed once by its service; every feedback's
    task listed too."""
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        units = await client.get(f"{target.url('members')}/org-units", params={"unit": DISTRICT})
        listed = {
            "street": Counter(unit_id_for(u["path"]) for u in units.json()),
            "task": await _all_ids(client, f"{target.url('assignments')}/tasks", "task_id"),
            "feedback": await _all_ids(client, f"{target.url('feedback')}/feedback", "feedback_id"),
        }
        feedback_tasks = {}
        for feedback in load.acknowledged("feedback").values():
            item = await client.get(f"{target.url('feedback')}/feedback/{feedback}")
            feedback_tasks[feedback] = item.json().get("task_id") if item.status_code == 200 else None
    for kind in KINDS:
        ids = load.acknowledged(kind)
        missing = [key for key, ident in ids.items() if listed[kind][ident] == 0]
        twice = [ident for ident, count in listed[kind].items() if count > 1]
        checked.lost += len(missing)
        checked.doubled += len(twice)
        if missing:
            checked.findings.append(
                f"read model: {len(missing)} acknowledged {kind}(s) not listed: {missing[:5]}"
            )
        if twice:
            checked.findings.append(f"read model: {len(twice)} {kind}(s) listed twice: {twice[:5]}")
    without = [f for f, task in feedback_tasks.items() if not task or listed["task"][task] != 1]
    if without:
        checked.findings.append(
            f"read model: {len(without)} feedback item(s) without their one task: {without[:5]}"
        )
    counts = ", ".join(f"{kind} {sum(listed[kind].values()):,}" for kind in KINDS)
    checked.lines.append(
        f"read models list: {counts} (each acknowledged one once, every feedback with its task)"
    )


async def _all_ids(client: httpx.AsyncClient, url: str, id_field: str) -> Counter[str]:
    ids: Counter[str] = Counter()
    offset = 0
    while True:
        page = (await client.get(url, params={"unit": DISTRICT, "limit": 500, "offset": offset})).json()
        ids.update(item[id_field] for item in page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return ids


def check_verify(env: dict[str, str], checked: Checked) -> None:
    """`fourlinks audit verify`: every hash chain and version sequence, and the signed checkpoints."""
    run = subprocess.run([*CLI, "audit", "verify"], env=env, capture_output=True, text=True, check=False)
    said = [line for line in run.stdout.splitlines() if line.strip()]
    last = said[-1] if said else run.stderr.strip()[-300:]
    checked.lines.append(f"audit verify (exit {run.returncode}): {last}")
    if run.returncode != 0:
        checked.findings.append(f"audit verify exited {run.returncode}: {(run.stdout + run.stderr)[-2000:]}")


def check_digests(env: dict[str, str], scratch: Path, checked: Checked) -> None:
    """Each service's read models against a fresh rebuild to the same position (`fourlinks replay
    at`), digest for digest (`fourlinks audit digest`)."""
    equal = []
    for service in SERVICES:
        fresh = f"sqlite:///{scratch / f'fresh-{service}.db'}"
        rebuilt = subprocess.run(
            [*CLI, "replay", "at", service, "--database-url", fresh, "--position", str(checked.position)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if rebuilt.returncode != 0:
            checked.findings.append(
                f"replay at {service} failed: {(rebuilt.stdout + rebuilt.stderr)[-1500:]}"
            )
            continue
        live, anew = _digest(env, service, None), _digest(env, service, fresh)
        if live != anew or "(digest failed)" in live:
            checked.findings.append(
                f"{service}: read models differ from a fresh rebuild:\n{live}\n--- rebuilt:\n{anew}"
            )
        else:
            equal.append(service)
    checked.lines.append(
        f"read models equal to a fresh rebuild at position {checked.position:,}: {', '.join(equal) or 'none'}"
    )


def _digest(env: dict[str, str], service: str, url: str | None) -> str:
    command = [*CLI, "audit", "digest", service, *(["--database-url", url] if url else [])]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return run.stdout.strip() if run.returncode == 0 else f"(digest failed) {run.stderr.strip()[-500:]}"


def check_all(
    target: Target, *, settings: Settings, env: dict[str, str], load: Load, scratch: Path
) -> Checked:
    """Settle, then every check."""
    checked = Checked()
    try:
        checked.position = asyncio.run(settle(target, settings))
    except TimeoutError as exc:
        checked.findings.append(str(exc))
        return checked
    asyncio.run(check_log(settings, load, checked))
    asyncio.run(check_read_models(target, load.headers, load, checked))
    check_verify(env, checked)
    check_digests(env, scratch, checked)
    after = asyncio.run(last_position(settings))
    if after != checked.position:
        checked.findings.append(f"the log grew from {checked.position} to {after} while it was checked")
    return checked


# -- the summary -----------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything one soak found, for the summary."""

    title: str
    note: str = ""  # what "back" means in this run
    seconds: float = 0.0
    recoveries: list[Recovery] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    checked: Checked = field(default_factory=Checked)
    cpu: dict[str, float] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    @property
    def all_findings(self) -> list[str]:
        """Defects: what the run and the checks found, and every server error a client was given."""
        errors = {a: n for a, n in self.answers.items() if a.rsplit(" ", 1)[-1] in ("500", "502", "504")}
        said = [f"server errors answered (a 503 'retry' was due): {errors}"] if errors else []
        said += [f"{n} valid command(s) refused: {answer}" for answer, n in self.refusals.most_common(3)]
        return self.findings + said + self.checked.findings


def summary(run: Run) -> str:
    """The run's figures as a person reads them."""
    total = Tally()
    for tally in run.tallies.values():
        for name in ("sent", "acknowledged", "duplicates", "gave_up", "refused"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
    lines = [
        f"== {run.title}: {len(run.recoveries)} kills in {run.seconds:,.0f} s "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        f"commands: {total.sent:,} sent, {total.acknowledged:,} acknowledged "
        f"({total.duplicates:,} of them as done before), {total.gave_up:,} given up, "
        f"{total.refused:,} refused; "
        f"lost {run.checked.lost}, doubled {run.checked.doubled}",
        "  " + "; ".join(f"{k}: {t.acknowledged:,}/{t.sent:,}" for k, t in run.tallies.items()),
        "answers retried: " + (", ".join(f"{a} x{n:,}" for a, n in sorted(run.answers.items())) or "none"),
        f"recovery in seconds ({run.note}):",
        *recovery_table(run.recoveries),
        *run.checked.lines,
        "CPU seconds: " + ", ".join(f"{name} {used:,.1f}" for name, used in sorted(run.cpu.items())),
        f"findings: {len(run.all_findings)}",
        *(f"  - {finding}" for finding in run.all_findings),
    ]
    return "\n".join(lines)


# -- the embedded system -------------------------------------------------------------------------------
def soak_embedded(args: argparse.Namespace, work: Path) -> Run:
    """A fresh `fourlinks up`; nats-server and the services SIGKILLed under load; the checks."""
    run = Run(
        f"embedded `fourlinks up`: {args.nats_kills} nats-server + {args.service_kills} service SIGKILLs",
        note="back: a new process and every service it touches ready; served again: every kind of "
        "command those services take acknowledged again; both after the SIGKILL",
    )
    started, own = time.monotonic(), _own_cpu()
    var_dir = work / "var"
    own_ports(var_dir)
    up = start(var_dir, env=SOAK_ENV, banner_seconds=180)
    try:
        if up.process.poll() is not None or "Ctrl-C stops everything" not in up.log.read_text():
            raise SystemExit(f"fourlinks up did not start:\n{up.log.read_text()[-3000:]}")
        settings = Settings(var_dir=var_dir)
        headers = token(settings)
        household = district(up, headers)
        load = Load(up, headers, household, per_second=args.rate, give_up=args.give_up)
        meter = CpuMeter(lambda: {**_names(up.state["pids"]), "fourlinks up": up.process.pid})
        meter.begin()
        load.begin()
        try:
            kill_children(up, load, run=run, args=args)
        finally:
            load.end()
        env = {**os.environ, "FOURLINKS_VAR_DIR": str(var_dir), "FOURLINKS_LOG_LEVEL": "WARNING"}
        run.checked = check_all(up, settings=settings, env=env, load=load, scratch=work)
        run.tallies, run.answers, run.refusals = load.tally(), load.answers, load.refusals()
        run.cpu = {**meter.totals(), "this tool": _own_cpu() - own}
        meter.stopping.set()
        run.findings += _log_findings(up)
    finally:
        code = up.stop()
    if code != 0:
        run.findings.append(f"fourlinks up exited {code} on Ctrl-C")
    run.seconds = time.monotonic() - started
    return run


def own_ports(var_dir: Path) -> None:
    """Free ports of its own for every child, as a previous run would have left them in
    var/up.json: on the default ports (8100-8104) a service killed by the soak would leave its port
    free for another `make up` on this machine, and the load would talk to that one."""
    nats, monitor, console, checkpoints, *services = free_ports(4 + len(SERVICES))
    var_dir.mkdir(parents=True, exist_ok=True)
    state = UpState(
        pid=0,
        nats_port=nats,
        monitor_port=monitor,
        services=dict(zip(SERVICES, services, strict=True)),
        console=console,
        checkpoints=checkpoints,
    )
    write_state(var_dir, state)


def kill_children(up: Embedded, load: Load, *, run: Run, args: argparse.Namespace) -> None:
    """The kills, nats-server's spread among the services', each after the last one's recovery."""
    started = time.monotonic()
    time.sleep(args.gap)
    order = kill_order(args.nats_kills, args.service_kills)
    for index, child in enumerate(order):
        _pace(started, index, len(order), args)
        if up.process.poll() is not None:
            run.findings.append(f"fourlinks up exited ({up.process.returncode}) before kill {index + 1}")
            return
        recovery = kill_child(up, child, load, timeout=args.recovery_timeout)
        print(_said(index, len(order), child, recovery), flush=True)
        if recovery.back < 0:
            run.findings.append(
                f"{child} did not come back within {args.recovery_timeout:g} s (kill {index + 1})"
            )
            return
        run.recoveries.append(recovery)
        if recovery.stuck:
            run.findings.append(f"after kill {index + 1} ({child}): {recovery.stuck}")
            return
        time.sleep(args.gap)


def _names(pids: object) -> dict[str, int]:
    assert isinstance(pids, dict)
    return {("nats-server" if name == "nats" else str(name)): int(pid) for name, pid in pids.items()}


def kill_child(up: Embedded, child: str, load: Load, *, timeout: float) -> Recovery:
    """SIGKILL one child of `fourlinks up`; how long until it is back (a new process, the services
    it touches ready) and until every kind of command they take is acknowledged again (back < 0:
    never)."""
    old = up.pid(child)
    instance = str(up.state.get("instance") or "") or None
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)
    touched = SERVICES if child == "nats" else (child,)
    kinds = [kind for kind, service in SERVICE_OF.items() if service in touched]

    def back() -> bool:
        try:
            renewed = up.pid(child) != old
        except (OSError, ValueError, KeyError):
            return False
        return renewed and all(ready(up.url(service), instance) for service in touched)

    came_back = until(back, timeout=timeout)
    if came_back is None:
        return Recovery("nats-server" if child == "nats" else child, -1.0, None)
    served = until(lambda: load.served_again(killed, kinds), timeout=timeout) if kinds else None
    first = load.served_again(killed, kinds) if served is not None else None
    current, stuck = read_models_current(up, Settings(var_dir=up.var_dir), timeout=timeout)
    return Recovery(
        "nats-server" if child == "nats" else child,
        came_back - killed,
        None if first is None else first - killed,
        current=None if current is None else current - killed,
        stuck=stuck,
    )


def _log_findings(up: Embedded) -> list[str]:
    """Tracebacks in the logs of `fourlinks up` and its children."""
    found = []
    for log in [up.log, *sorted((up.var_dir / "logs").glob("*.log"))]:
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            found.append(f"{text.count('Traceback')} traceback(s) in {log}")
    return found


# -- the cluster -------------------------------------------------------------------------------------
@dataclass
class ClusterSystem:
    """The four services as plain processes on the three nodes of the shipped cluster config."""

    cluster: Cluster
    var_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        """The base URL of a service."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, user: str) -> dict[str, str]:
        """What a process of ours needs to reach the cluster as `user`."""
        return {
            **os.environ,
            "FOURLINKS_NATS_URL": self.cluster.urls,
            "FOURLINKS_NATS_USER": user,
            "FOURLINKS_NATS_PASSWORD": NATS_PASSWORDS[f"FOURLINKS_NATS_{user.upper()}_PASSWORD"],
            "FOURLINKS_VAR_DIR": str(self.var_dir),
            "FOURLINKS_LOG_LEVEL": "WARNING",
            **SOAK_ENV,
        }

    def settings(self) -> Settings:
        """The administrator's settings (reads the whole log and the key table)."""
        return Settings(
            var_dir=self.var_dir,
            nats_url=self.cluster.urls,
            nats_user="admin",
            nats_password=SecretStr(NATS_PASSWORDS["FOURLINKS_NATS_ADMIN_PASSWORD"]),
        )

    def start_services(self) -> None:
        """Each service as its own NATS user; returns once all are ready."""
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        logs = self.var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            command = [
                sys.executable,
                "-m",
                "fourlinks_runtime.serve",
                service,
                "--port",
                str(self.ports[service]),
            ]
            with (logs / f"{service}.log").open("ab") as output:
                self.processes[service] = subprocess.Popen(
                    command, env=self.env(service), stdout=output, stderr=subprocess.STDOUT
                )
        for service in SERVICES:
            if until(partial(ready, self.url(service)), timeout=120, every=0.2) is None:
                raise SystemExit(
                    f"{service} never became ready on the cluster: see {logs / f'{service}.log'}"
                )

    def stop_services(self) -> list[str]:
        """SIGTERM each; what did not stop cleanly."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        problems = []
        for service, process in self.processes.items():
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code not in (0, -signal.SIGTERM):
                problems.append(f"{service} exited {code} on SIGTERM")
        return problems

    def pids(self) -> dict[str, int]:
        """The processes to measure."""
        named = {service: p.pid for service, p in self.processes.items() if p.poll() is None}
        for index, node in enumerate(self.cluster.nodes):
            if node is not None:
                named[f"nats-{index + 1}"] = node.process.pid
        return named


def soak_cluster(args: argparse.Namespace, work: Path) -> Run:
    """Three loopback nodes of deploy/nats/cluster.conf, the stream on three replicas, the services
    on them; a node SIGKILLed and restarted again and again under load, every other time the
    stream's leader; the checks."""
    run = Run(
        f"3-node cluster: {args.node_kills} node SIGKILLs and restarts (every other one the stream leader)",
        note="elected: a new stream leader and served again: every kind of command acknowledged again, "
        "both after the SIGKILL; back: the node current in the stream after its restart "
        f"({args.down:g} s down)",
    )
    started = time.monotonic()
    cluster = Cluster(work / "cluster")
    system = ClusterSystem(cluster, work / "var")
    system.var_dir.mkdir(parents=True, exist_ok=True)
    _secret(system.var_dir / "master.key", generate_master_key())
    _secret(system.var_dir / "jwt.secret", secrets.token_urlsafe(48))
    meter = CpuMeter(system.pids)
    own = _own_cpu()
    try:
        asyncio.run(provision_when_formed(cluster))
        init = [*CLI, "nats", "init", "--replicas", "3", "--consumers"]
        subprocess.run(
            [*init, "--monitor-url", f"http://127.0.0.1:{cluster.monitor[0]}"],
            env=system.env("admin"),
            check=True,
            capture_output=True,
        )
        system.start_services()
        settings = system.settings()
        headers = token(settings)
        household = district(system, headers)
        load = Load(system, headers, household, per_second=args.rate, give_up=args.give_up)
        meter.begin()
        load.begin()
        try:
            kill_nodes(system, load, run=run, args=args)
        finally:
            load.end()
        env = system.env("admin")
        run.checked = check_all(system, settings=settings, env=env, load=load, scratch=work)
        run.tallies, run.answers, run.refusals = load.tally(), load.answers, load.refusals()
        run.cpu = {**meter.totals(), "this tool": _own_cpu() - own}
        run.findings += _cluster_log_findings(system)
        run.findings += system.stop_services()
    finally:
        meter.stopping.set()
        system.stop_services()
        cluster.stop()
    run.seconds = time.monotonic() - started
    return run


def kill_nodes(system: ClusterSystem, load: Load, *, run: Run, args: argparse.Namespace) -> None:
    """The node kills, every other one the stream leader's, each after the last one's recovery."""
    started = time.monotonic()
    time.sleep(args.gap)
    for index in range(args.node_kills):
        _pace(started, index, args.node_kills, args)
        recovery, victim = kill_node(system, load, leader=index % 2 == 0, args=args)
        print(_said(index, args.node_kills, victim, recovery), flush=True)
        if recovery.back < 0:
            run.findings.append(f"{victim} was not current again within {args.recovery_timeout:g} s")
            return
        run.recoveries.append(recovery)
        if recovery.stuck:
            run.findings.append(f"after kill {index + 1} ({victim}): {recovery.stuck}")
            return
        dead = [name for name, process in system.processes.items() if process.poll() is not None]
        if dead:
            run.findings.append(f"service(s) exited during the cluster soak: {dead}")
            return
        time.sleep(args.gap)


def kill_node(
    system: ClusterSystem, load: Load, *, leader: bool, args: argparse.Namespace
) -> tuple[Recovery, str]:
    """SIGKILL one node (the stream leader, or one of its followers) and restart it after `--down`
    seconds: how long until a new leader is elected and every kind of command is acknowledged again
    (after the kill), and until the node is current in the stream again (after its restart)."""
    cluster = system.cluster
    names = [f"nats-{n}" for n in (1, 2, 3)]
    roles = _leaders(cluster)
    stream_leader = roles.get("stream", "")
    index = (
        names.index(stream_leader) if leader and stream_leader in names else _follower(names, stream_leader)
    )
    held = [role for role, name in roles.items() if name == names[index]]
    killed = time.monotonic()
    cluster.kill(index)
    elected = None
    if "stream" in held:
        seen = until(lambda: _leader(cluster) not in ("", names[index]), timeout=args.recovery_timeout)
        elected = None if seen is None else seen - killed
    time.sleep(max(0.0, killed + args.down - time.monotonic()))
    restarted = time.monotonic()
    cluster.nodes[index] = cluster.start(index)
    caught_up = until(lambda: _all_current(cluster), timeout=args.recovery_timeout, every=0.2)
    until(lambda: load.served_again(killed, KINDS), timeout=args.recovery_timeout)
    served = load.served_again(killed, KINDS)
    reached, stuck = read_models_current(system, system.settings(), timeout=args.recovery_timeout)
    back = -1.0 if caught_up is None else caught_up - restarted
    recovery = Recovery(
        node_role(held),
        back,
        None if served is None else served - killed,
        elected,
        current=None if reached is None else reached - killed,
        stuck=stuck,
    )
    return recovery, f"{names[index]} ({', '.join(held) or 'no leader'})"


def node_role(held: Sequence[str]) -> str:
    """How a killed node is counted: by the leaderships it held (the events stream's first)."""
    if "stream" in held:
        return "stream leader"
    return "meta/bucket leader" if held else "follower, no leader"


LED = {
    "stream": "FOURLINKS_EVENTS",
    "idempotency": "KV_FOURLINKS_IDEMPOTENCY",
    "keys": "KV_FOURLINKS_KEYS",
}
"""The replicated groups whose leader a command needs: the events stream and the buckets a command
touches (the meta group's leader creates consumers)."""


def _leaders(cluster: Cluster) -> dict[str, str]:
    """Which node leads the events stream, the buckets and the meta group now ('' unknown)."""
    found = {role: str(_stream_cluster(cluster, stream).get("leader") or "") for role, stream in LED.items()}
    for port, node in zip(cluster.monitor, cluster.nodes, strict=True):
        if node is None:
            continue
        try:
            jsz = httpx.get(f"http://127.0.0.1:{port}/jsz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            continue
        found["meta"] = str(jsz.get("meta_cluster", {}).get("leader") or "")
        break
    return found


def _stream_cluster(cluster: Cluster, stream: str = "FOURLINKS_EVENTS") -> dict[str, Any]:
    """A stream's `cluster` part of its info (leader, replicas), asked of a running node; empty
    while nobody can answer."""
    urls = [
        f"nats://127.0.0.1:{port}" for port, node in zip(cluster.client, cluster.nodes, strict=True) if node
    ]

    async def ask() -> dict[str, Any]:
        async def quiet(_: Exception) -> None:
            return None

        nc = await nats.connect(
            urls,
            user="admin",
            password=NATS_PASSWORDS["FOURLINKS_NATS_ADMIN_PASSWORD"],
            error_cb=quiet,
            allow_reconnect=False,
            connect_timeout=2,
        )
        try:
            reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=2)
            found: dict[str, Any] = json.loads(reply.data).get("cluster", {})
            return found
        finally:
            await nc.close()

    try:
        return asyncio.run(ask())
    except Exception:  # an election, a node away: nothing known right now
        return {}


def _leader(cluster: Cluster) -> str:
    return str(_stream_cluster(cluster).get("leader") or "")


def _follower(names: list[str], leader: str) -> int:
    followers = [i for i, name in enumerate(names) if name != leader]
    return secrets.choice(followers)


def _all_current(cluster: Cluster) -> bool:
    replicas = _stream_cluster(cluster).get("replicas", [])
    return len(replicas) == 2 and all(r.get("current") and not r.get("lag") for r in replicas)


def _cluster_log_findings(system: ClusterSystem) -> list[str]:
    found = []
    for log in sorted((system.var_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            found.append(f"{text.count('Traceback')} traceback(s) in {log}")
    return found


def _secret(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o600)


# -- running -----------------------------------------------------------------------------------------
def _pace(started: float, index: int, total: int, args: argparse.Namespace) -> None:
    """Kill number `index` no earlier than its share of `--duration`."""
    planned = started + index * args.duration / max(total, 1)
    time.sleep(max(0.0, planned - time.monotonic()))


def _said(index: int, total: int, what: str, recovery: Recovery) -> str:
    served = "-" if recovery.served is None else f"{recovery.served:6.2f} s"
    current = "never" if recovery.current is None else f"{recovery.current:6.2f} s"
    elected = "" if recovery.elected is None else f"; leader elected {recovery.elected:5.2f} s"
    return (
        f"[{index + 1:>3}/{total}] {what:<14} back {recovery.back:6.2f} s; served again {served}; "
        f"read models current {current}{elected}"
    )


def _own_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def parser() -> argparse.ArgumentParser:
    """The command line."""
    found = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__.split("\n\n")[0])
    found.add_argument("part", choices=["embedded", "cluster", "both"], nargs="?", default="both")
    found.add_argument("--nats-kills", type=int, default=20, help="nats-server SIGKILLs (embedded)")
    found.add_argument(
        "--service-kills", type=int, default=50, help="service SIGKILLs, round-robin (embedded)"
    )
    found.add_argument("--node-kills", type=int, default=20, help="node SIGKILLs and restarts (cluster)")
    found.add_argument("--rate", type=float, default=15.0, help="commands per second, all kinds together")
    found.add_argument("--gap", type=float, default=2.0, help="seconds of load after each recovery")
    found.add_argument(
        "--duration", type=float, default=0.0, help="spread the kills over at least this many seconds"
    )
    found.add_argument("--down", type=float, default=2.0, help="seconds a killed cluster node stays down")
    found.add_argument("--give-up", type=float, default=120.0, help="a client gives a command up after this")
    found.add_argument("--recovery-timeout", type=float, default=180.0, help="longest wait for a recovery")
    found.add_argument(
        "--work-dir", type=Path, default=None, help="keep everything here (default: a temp dir)"
    )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 0 when every check holds."""
    args = parser().parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="fourlinks-soak-"))
    runs = []
    if args.part in ("embedded", "both"):
        runs.append(soak_embedded(args, work / "embedded"))
        print(summary(runs[-1]), flush=True)
    if args.part in ("cluster", "both"):
        runs.append(soak_cluster(args, work / "cluster"))
        print(summary(runs[-1]), flush=True)
    found = any(run.all_findings for run in runs)
    if found or args.work_dir:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
