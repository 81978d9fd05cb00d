"""What a search costs at district scale (docs/benchmarks.md, "Search").

    .venv/bin/python tools/search_cost.py [--scale 1.0] [--runs 200] [--database-url URL] [--work DIR]

The members read model of Yuhang's shape, made the way the service makes it: the seed's commands
(60 communities of 20 buildings: 6,000 members, 30,000 households with about 75,000 residents,
6,000 enterprises, 6,000 cards) run through the real handlers into an in-memory event store with
the real codec and cipher, then the members service's projections rebuilt from it into SQLite (or
the PostgreSQL of --database-url): the directory, and the search index digesting every name and
phone. Then, one at a time, what a community secretary and the district's administrator type —
a phone's first 4, 7 and 9 digits, a whole phone, its last 4, a whole name, 2 characters of one, the
pinyin initials, a room, a building and room, part of an enterprise's name, a credit code — each
timed as the service works it (the query read into clauses, their terms digested, the index and
the directory read), against the plain indexed lookup in the same run: a resident's phone by its
blind index, as `GET /households/lookup` has done since before search. p50 and p99 of each, and
the ratio of the p99s. A figure, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_audit.replay import rebuild
from fourlinks_contracts import full_registry
from fourlinks_kernel.codec import EventCodec
from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_members.adapters.search_api import digested
from fourlinks_members.application import queries
from fourlinks_members.domain.search_terms import clauses, initials
from fourlinks_members.projections.directory import enterprises, households, members, residents
from fourlinks_members.projections.search import search_terms
from fourlinks_members.read_models import PROJECTIONS
from fourlinks_members.seed import Seeder
from fourlinks_runtime.engines import create_engine, create_engine_with_schema
from fourlinks_runtime.settings import async_database_url

GROUPS = frozenset(queries.SEARCH_GROUPS)
MASTER_KEY = b"search-cost: a made-up key, 32 B"
"""A fixed key, so that a later run (--reuse) digests its queries as the read model was made."""


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="measure the read model made by an earlier run")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="search-cost-"))
    cipher = PersonalDataCipher(master_key=MASTER_KEY, keys=InMemoryKeyStore())
    url = args.database_url or f"sqlite:///{work / 'members.db'}"
    schema = "search_cost" if "postgres" in url else None
    engine = await create_engine_with_schema(async_database_url(url), schema)
    if not args.reuse:
        await _made(engine, cipher, scale=args.scale)
    await _sizes(engine)
    await _measure(engine, cipher, runs=args.runs)
    await engine.dispose()


async def _made(engine: AsyncEngine, cipher: PersonalDataCipher, *, scale: float) -> None:
    """The seed's district through the real handlers, and the members read models rebuilt from it."""
    store = InMemoryEventStore(EventCodec(full_registry(), cipher))
    started = time.perf_counter()
    seeder = Seeder(
        store,
        district="yuhang",
        scale=scale,
        seed=2021,
        phone_index=lambda phone: cipher.blind_index(phone, purpose="phone"),
    )
    made = await seeder.run()
    events = await store.last_position()
    print(f"seeded {made} ({events:,} events) in {time.perf_counter() - started:.0f} s")
    built = await rebuild(PROJECTIONS, store=store, engine=engine, progress=False, batch_size=500)
    print(f"read models rebuilt in {built.seconds:.0f} s ({built.rate:,.0f} events/s)")
    for projection in PROJECTIONS:  # what each costs a rebuild on its own (SQLite, a scratch file)
        scratch = create_engine(f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='search-cost-')}/one.db")
        alone = await rebuild([projection], store=store, engine=scratch, progress=False, batch_size=500)
        print(f"  {projection().name} alone: {alone.seconds:.1f} s")
        await scratch.dispose()


async def _sizes(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        counts = {
            table.name: await conn.scalar(select(func.count()).select_from(table))
            for table in (members, households, residents, enterprises, search_terms)
        }
    print("rows:", ", ".join(f"{name} {count:,}" for name, count in counts.items()))


async def _sample(engine: AsyncEngine) -> dict[str, Any]:
    """A resident, a household, an enterprise of the data, to search for."""
    async with engine.connect() as conn:
        resident = (
            (
                await conn.execute(
                    select(residents, households.c.org_unit, households.c.room)
                    .join(households, households.c.household_id == residents.c.household_id)
                    .where(residents.c.phone.is_not(None))
                    .order_by(residents.c.resident_id)
                    .limit(1)
                    .offset(37_000)
                )
            )
            .mappings()
            .first()
        )
        if resident is None:  # a small scale: the first one
            resident = (
                (
                    await conn.execute(
                        select(residents, households.c.org_unit, households.c.room)
                        .join(households, households.c.household_id == residents.c.household_id)
                        .limit(1)
                    )
                )
                .mappings()
                .one()
            )
        firm = (await conn.execute(select(enterprises).limit(1))).mappings().one()
    return {"resident": dict(resident), "enterprise": dict(firm)}


async def _measure(engine: AsyncEngine, cipher: PersonalDataCipher, *, runs: int) -> None:
    sample = await _sample(engine)
    person, firm = sample["resident"], sample["enterprise"]
    community = "/".join(person["org_unit"].split("/")[:3])
    building_no = person["org_unit"].rsplit("/b", 1)[-1].lstrip("0")
    phone, name = person["phone"], person["name"]
    typed = {
        "phone, first 4 digits": phone[:4],
        "phone, first 7 digits": phone[:7],
        "phone, first 9 digits": phone[:9],
        "phone, whole": phone,
        "phone, last 4 digits": phone[-4:],
        "name, whole": name,
        "name, 2 characters": name[-2:] if len(name) > 2 else name,
        "name, pinyin initials": initials(name)[0],
        "room": person["room"],
        "building and room": f"{building_no}幢{person['room']}",
        "enterprise, part of its name": firm["name"][2:6],
        "enterprise, credit code": firm["credit_code"],
    }

    def search(q: str, unit: str) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            sought = tuple(digested(clause, cipher) for clause in clauses(q))
            async with engine.connect() as conn:
                return await queries.search_hits(conn, queries.SearchWanted(sought, unit, GROUPS, 10))

        return run

    async def lookup() -> Any:
        index = cipher.blind_index(phone, purpose="phone")
        async with engine.connect() as conn:
            return await queries.households_by_phone_index(conn, index)

    asked = {
        f"{scope}: {what}": search(q, unit)
        for scope, unit in (("community secretary", community), ("district administrator", "yuhang"))
        for what, q in typed.items()
    }
    hits = {}
    for label, run in asked.items():
        found = await run()
        hits[label] = sum(len(found[g]) for g in queries.SEARCH_GROUPS)
    # Round robin, each run of each query in turn: a stall of this shared machine falls on the
    # baseline as often as on a search, so the ratios hold where the absolute times do not.
    times = await _round_robin({"lookup": lookup, **asked}, runs)
    base = times.pop("lookup")
    print(f"{runs} runs each, one at a time, in turn; p50 / p99 in ms; the ratio of the p99s")
    print(f"| plain indexed lookup (a phone's blind index, /households/lookup) | {_said(base)} | 1 |")
    for scope in ("community secretary", "district administrator"):
        every: list[float] = []
        for label, each in times.items():
            if label.startswith(scope):
                every += each
                print(f"| {label} ({hits[label]} hits) | {_said(each)} | {_p99(each) / _p99(base):.1f} |")
        print(f"| {scope}: all of the above | {_said(every)} | {_p99(every) / _p99(base):.1f} |")


async def _round_robin(runs_of: dict[str, Callable[[], Awaitable[Any]]], runs: int) -> dict[str, list[float]]:
    for run in runs_of.values():  # warm: compiled statements, the pool, the page cache
        for _ in range(5):
            await run()
    times: dict[str, list[float]] = {label: [] for label in runs_of}
    for _ in range(runs):
        for label, run in runs_of.items():
            started = time.perf_counter()
            await run()
            times[label].append((time.perf_counter() - started) * 1000)
    return times


def _p99(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98] if len(times) >= 2 else times[0]


def _said(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} / {_p99(times):.2f}"


if __name__ == "__main__":
    asyncio.run(main())
