"""Many districts, one province: ten simulated district-years of figures sourced into one province
on this machine (docs/benchmarks.md, "Many districts, one province").

    uv run --locked --no-sync python -m tools.province_bench [--districts 10] [--rate 6] [--seconds 60]

Ten district nats-servers and a province's, leafnode-linked on loopback (tools/federation.py, the
test suite's harness). Each district's FOURLINKS_UPLINK is filled with a year of statements shaped
and sized as `fourlinks uplink` makes them for a district of the benchmark's data set at full scale
(60 communities in 12 streets; each month every community's tasks, feedback, categories and
coverage: 2,880 subjects a year, and the checkpoint), synthetic counts, because the figures path
carries counts it never looks into: what costs is how many statements there are and how big.

Then: the province's stream is created (its sources start from empty) and timed until it holds
every district's year; the province service starts on an empty read model and is timed until it
applied all; every district restates `rate` statements a second for `seconds` (the current month's
figures changing) and an ordered consumer at the province times each statement from its district's
publish to its arrival; the province service's backlog is sampled; then its query p99 (/kpis by
district and by street, a ranking, a 12-month trend) on the ten years. CPU seconds per process.
A figure, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import SecretStr
from tools.federation import Federation, start_federation

from fourlinks_bench.measure import cpu_seconds, percentile
from fourlinks_contracts.figures import COUNTS, CheckpointStatement, Figures, msg_id, payload_of
from fourlinks_province.bootstrap import create_app
from fourlinks_province.settings import ProvinceSettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.federation import PROVINCE_STREAM, UPLINK_USER
from fourlinks_runtime.federation_init import provision_province, provision_uplink
from fourlinks_runtime.settings import Settings

COMMUNITIES, STREETS, MONTHS = 60, 12, 12  # the data set at scale 1.0 (fourlinks_members.seed)
CATEGORIES = ("repairs", "environment", "dispute_mediation", "elderly_care", "safety", "policy_explanation")
YEAR = 2026
FIRST_CODE = 330101
QUERIES = 200


def seeded(seed: int) -> random.Random:
    """Counts drawn the same way every run (figures, not secrets)."""
    return random.Random(seed)  # noqa: S311


def codes_of(count: int) -> list[str]:
    """`count` district codes of one province (the first digits say the province and city)."""
    return [str(FIRST_CODE + n) for n in range(count)]


def months() -> list[str]:
    return [f"{YEAR}-{m:02d}" for m in range(1, MONTHS + 1)]


def communities() -> list[tuple[str, str]]:
    """(street, community) paths of one district, as the seed lays them out."""
    return [
        (f"d/s{n % STREETS + 1:02d}", f"d/s{n % STREETS + 1:02d}/c{n + 1:03d}") for n in range(COMMUNITIES)
    ]


def counts(kind: str, rng: random.Random) -> dict[str, int]:
    """Plausible counts of one community's month (numerators never above their denominators)."""
    if kind == "categories":
        return {category: rng.randint(0, 40) for category in CATEGORIES}
    whole = rng.randint(20, 200)
    return {name: (whole if n == 0 else rng.randint(0, whole)) for n, name in enumerate(COUNTS[kind])}


def statement(
    code: str, kind: str, month: str, place: tuple[str, str], *, position: int, rng: random.Random
) -> Figures:
    street, unit = place
    return Figures(
        kind=kind,
        district=code,
        unit=unit,
        unit_name=f"{unit.rsplit('/', 1)[1]}社区",
        street=street,
        street_name=f"{street.rsplit('/', 1)[1]}街道",
        month=month,
        position=position,
        published_at=datetime.now(UTC).isoformat(),
        counts=counts(kind, rng),
    )


def year_of(code: str, rng: random.Random) -> list[Figures | CheckpointStatement]:
    """One district-year of statements: every community, month and kind, and a checkpoint."""
    found: list[Figures | CheckpointStatement] = []
    for number, month in enumerate(months()):
        for place in communities():
            for kind in ("tasks", "feedback", "categories", "coverage"):
                found.append(statement(code, kind, month, place, position=80_000 * (number + 1), rng=rng))
    origin = f"fourlinks.invalid/{code}/bench"
    note = f"{origin}\n1000000\n{'A' * 44}\n\n— {origin} {'B' * 88}\n"  # a signed note's size
    found.append(
        CheckpointStatement(
            district=code, origin=origin, note=note, published_at=datetime.now(UTC).isoformat()
        )
    )
    return found


def subject_of(found: Figures | CheckpointStatement) -> str:
    return "uplink.checkpoint" if isinstance(found, CheckpointStatement) else found.subject


async def publish(nc: Client, statements: list[Figures | CheckpointStatement], window: int = 256) -> None:
    """Publish with acks, `window` in flight (as fast as the district's server takes them)."""
    js = nc.jetstream()
    pending: list[Awaitable[Any]] = []
    for found in statements:
        subject, payload = subject_of(found), payload_of(found)
        pending.append(js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id(subject, payload)}))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


# -- measuring -------------------------------------------------------------------------------------
class Cpu:
    """CPU seconds of every process of the run since the last `take`."""

    def __init__(self, federation: Federation) -> None:
        self.pids = {"province nats-server": federation.province.nats.process.pid}
        self.pids |= {
            f"district {c} nats-server": d.nats.process.pid for c, d in federation.districts.items()
        }
        self.before = self._now()

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return now | {"python (publishers, province service, clients)": time.process_time()}

    def take(self) -> dict[str, float]:
        now = self._now()
        spent = {name: round(now[name] - self.before[name], 2) for name in now}
        self.before = now
        districts = [v for k, v in spent.items() if k.startswith("district")]
        return {
            "province nats-server": spent["province nats-server"],
            "each district nats-server (mean)": round(sum(districts) / len(districts), 2),
            "python (publishers, province service, clients)": spent[
                "python (publishers, province service, clients)"
            ],
        }


async def stream_messages(nc: Client) -> int:
    return int((await nc.jetstream().stream_info(PROVINCE_STREAM)).state.messages)


async def until(check: Callable[[], Awaitable[bool]], *, every: float = 0.05, limit: float = 1800.0) -> float:
    """Seconds until `check` holds."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > limit:
            raise TimeoutError("the province did not catch up")
        await asyncio.sleep(every)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def province_service(
    federation: Federation, work: Path, codes: list[str]
) -> AsyncIterator[httpx.AsyncClient]:
    districts = work / "districts.json"
    districts.write_text(json.dumps({"districts": [{"code": c, "name": f"区{c}"} for c in codes]}))
    server = federation.province
    settings = Settings(
        var_dir=work / "province-var",
        nats_url=server.nats.url,
        nats_user="province",
        nats_password=SecretStr(server.password("province")),
        jwt_secret="province-bench-secret-of-enough-length",  # noqa: S106 - a throwaway run's
        log_level="ERROR",
    )
    settings.var_dir.mkdir(exist_ok=True)
    app = create_app(settings, ProvinceSettings(districts_file=districts, stream=PROVINCE_STREAM))
    token = issue_token(settings, subject="bench", roles=["province"], scope="330000")
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=30),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://province",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as client,
    ):
        yield client


async def applied(client: httpx.AsyncClient) -> int:
    ready = (await client.get("/health/ready")).json()
    return int(ready["projections"]["province_figures"]["position"])


async def catch_up(admin: Client, codes: list[str], total: int) -> dict[str, Any]:
    """The province's stream made with every district's year already waiting: until all is in."""
    await provision_province(admin, codes)

    async def all_in() -> bool:
        return await stream_messages(admin) >= total

    seconds = await until(all_in, every=0.1)
    return {
        "statements": total,
        "seconds": round(seconds, 2),
        "statements_per_second": round(total / seconds),
    }


async def steady_load(
    uplinks: dict[str, Client], admin: Client, client: httpx.AsyncClient, *, rate: float, seconds: float
) -> dict[str, Any]:
    """Every district restates `rate` statements a second; each one timed from its publish to its
    arrival in the province's stream; the province service's backlog sampled."""
    waits: list[float] = []
    last = (await admin.jetstream().stream_info(PROVINCE_STREAM)).state.last_seq

    async def arrived(msg: Any) -> None:
        sent = json.loads(msg.data)["published_at"]
        waits.append(time.time() - datetime.fromisoformat(sent).timestamp())

    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1)
    sub = await admin.jetstream().subscribe(
        ">", stream=PROVINCE_STREAM, ordered_consumer=True, cb=arrived, config=config
    )
    backlog: list[int] = []
    stop = time.monotonic() + seconds
    rng = seeded(7)
    this_month = months()[-1]

    async def district(code: str, nc: Client) -> None:
        places = communities()
        position = 1_000_000
        while time.monotonic() < stop:
            began = time.monotonic()
            position += 1
            place = rng.choice(places)
            kind = rng.choice(("tasks", "feedback", "categories", "coverage"))
            await publish(nc, [statement(code, kind, this_month, place, position=position, rng=rng)])
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))

    async def sample() -> None:
        while time.monotonic() < stop:
            held = (await admin.jetstream().stream_info(PROVINCE_STREAM)).state.last_seq
            backlog.append(max(0, held - await applied(client)))
            await asyncio.sleep(0.5)

    await asyncio.gather(*(district(code, nc) for code, nc in uplinks.items()), sample())
    await asyncio.sleep(5)  # the last statements arrive
    await sub.unsubscribe()
    return {
        "rate_per_district": rate,
        "statements": len(waits),
        "publish_to_province_ms": {
            "p50": round(percentile(waits, 0.5) * 1000, 1),
            "p99": round(percentile(waits, 0.99) * 1000, 1),
            "max": round(max(waits) * 1000, 1),
        },
        "province_service_backlog": {
            "max": max(backlog),
            "p50": percentile([float(b) for b in backlog], 0.5),
        },
    }


async def queries(client: httpx.AsyncClient) -> dict[str, Any]:
    """Latency of the province's answers over the ten district-years (in process, no network)."""
    month = months()[-1]
    asked = {
        "kpis by district": ("/kpis", {"by": "district", "month": month}),
        "kpis by street": ("/kpis", {"by": "street", "month": month}),
        "ranking of streets": ("/kpis/ranking", {"by": "street", "metric": "closure_rate", "month": month}),
        "trend, 12 months": ("/kpis/trend", {"metric": "closure_rate", "months": "12"}),
        "districts": ("/districts", {}),
    }
    found = {}
    for name, (path, params) in asked.items():
        times = []
        for _ in range(QUERIES):
            began = time.perf_counter()
            reply = await client.get(path, params=params)
            times.append(time.perf_counter() - began)
            assert reply.status_code == 200, reply.text
        found[name] = {
            "p50_ms": round(percentile(times, 0.5) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        }
    return found


async def fill_districts(uplinks: dict[str, Client]) -> float:
    """Each district's FOURLINKS_UPLINK made and filled with its year; seconds it took."""
    began = time.monotonic()
    for n, (code, nc) in enumerate(uplinks.items()):
        await provision_uplink(nc)
        await publish(nc, year_of(code, seeded(n)))
    return round(time.monotonic() - began, 2)


async def at_the_province(
    federation: Federation, work: Path, uplinks: dict[str, Client], *, rate: float, seconds: float
) -> dict[str, Any]:
    """Sourcing from empty, the province service from empty, its queries, then the steady load."""
    cpu, codes = Cpu(federation), list(uplinks)
    admin = await federation.province.connect("admin")
    results: dict[str, Any] = {}
    try:
        total = len(codes) * len(year_of(codes[0], seeded(0)))
        results["sourcing_from_empty"] = await catch_up(admin, codes, total)
        results["cpu_sourcing"] = cpu.take()
        async with province_service(federation, work, codes) as client:
            last = (await admin.jetstream().stream_info(PROVINCE_STREAM)).state.last_seq

            async def applied_all() -> bool:
                return await applied(client) >= last

            took = await until(applied_all, every=0.1)
            results["province_service_from_empty"] = {
                "seconds": round(took, 2),
                "statements_per_second": round(total / took),
            }
            results["cpu_province_service_catch_up"] = cpu.take()
            results["queries"] = await queries(client)
            results["cpu_queries"] = cpu.take()
            results["steady_load"] = await steady_load(uplinks, admin, client, rate=rate, seconds=seconds)
            per_second = {k: round(v / (seconds + 5), 3) for k, v in cpu.take().items()}
            results["cpu_steady_load_per_second"] = per_second
    finally:
        await admin.close()
    return results


async def measure(count: int, rate: float, seconds: float) -> dict[str, Any]:
    """The whole run on a fresh federation of `count` districts."""
    codes = codes_of(count)
    results: dict[str, Any] = {
        "districts": count,
        "statements_per_district_year": len(year_of(codes[0], seeded(0))),
    }
    with tempfile.TemporaryDirectory() as folder:
        federation = await asyncio.to_thread(start_federation, Path(folder), codes)
        uplinks: dict[str, Client] = {}
        try:
            uplinks = {code: await federation.districts[code].connect(UPLINK_USER) for code in codes}
            cpu = Cpu(federation)
            results["districts_publish_their_years_seconds"] = await fill_districts(uplinks)
            results["cpu_publishing"] = cpu.take()
            results |= await at_the_province(federation, Path(folder), uplinks, rate=rate, seconds=seconds)
        finally:
            for nc in uplinks.values():
                await nc.close()
            federation.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--rate", type=float, default=6.0, help="statements restated a second per district")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the steady load lasts")
    args = parser.parse_args()
    results = asyncio.run(measure(args.districts, args.rate, args.seconds))
    json.dump(results, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
