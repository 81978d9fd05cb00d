"""`fourlinks bench`: run the benchmarks, write bench-results.json and print the table."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fourlinks_bench.harness import Plan, bench
from fourlinks_bench.report import table


def main(argv: Sequence[str]) -> int:
    """Entry point (argv starts with "bench")."""
    parser = argparse.ArgumentParser(
        prog="fourlinks bench",
        description="Throughput, latency, replay speed and memory at district scale, each beside a "
        "baseline measured in the same run. Figures, not pass/fail.",
    )
    parser.add_argument(
        "--plan",
        choices=["full", "quick", "smoke"],
        default="full",
        help="full: a district year of 1,000,000 events; quick: a twentieth; smoke: a tiny one for CI",
    )
    parser.add_argument("--scale", type=float, default=None, help="another data-set scale for the plan")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path("var/bench/datasets"),
        help="where made data sets are kept between runs (default var/bench/datasets)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DATABASE_URL"),
        help="a PostgreSQL server URL whose user may create databases (default $DATABASE_URL); "
        "'none' skips the PostgreSQL figures",
    )
    parser.add_argument("--no-eventsourcing", action="store_true", help="skip the eventsourcing library")
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="only the services' queries and the console's pages (no replay, loads, commands or loop)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(list(argv)[1:])
    postgres = None if args.postgres in (None, "", "none") else args.postgres
    plan = Plan.named(args.plan, args.scale)
    results: dict[str, Any] = {"plan": args.plan}
    try:
        asyncio.run(
            bench(
                plan,
                datasets=args.datasets,
                postgres_url=postgres,
                eventsourcing=not args.no_eventsourcing,
                results=results,
                reads_only=args.reads_only,
            )
        )
    finally:  # what was measured is kept even when a later phase fails
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(table(results))
        print(f"\nwritten to {args.out}")
    return 0
