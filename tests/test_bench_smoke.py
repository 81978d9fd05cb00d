"""The benchmark code keeps working: every phase at a tiny scale, on the real parts (no timing asserted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fourlinks_bench.harness import COMMANDS_PER_CASE, Plan, bench
from fourlinks_bench.measure import percentile
from fourlinks_bench.report import table

pytestmark = pytest.mark.integration


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([], 0.99) == 0.0


@pytest.mark.timeout(600)
async def test_every_phase_of_the_benchmark_runs_at_a_tiny_scale(tmp_path: Path) -> None:
    postgres = os.environ.get("DATABASE_URL")
    results = await bench(Plan.named("smoke"), datasets=tmp_path / "datasets", postgres_url=postgres)
    assert results["dataset"]["events"] >= 2_000
    for concurrency in ("c1", "c32"):
        figures = results["command_path"][concurrency]
        assert figures["count"] == Plan.named("smoke").__dict__[f"cases_{concurrency}"] * COMMANDS_PER_CASE
        assert figures["raw_publish_ack"]["per_second"] > 0
        assert figures["kernel_in_process"]["count"] == figures["count"]
        assert figures["kernel_appending_one_by_one"]["count"] == figures["count"]
        assert figures["eventsourcing_sqlite"]["per_second"] > 0
        assert set(figures["cpu_ms_per_command"]) == {
            "members",
            "assignments",
            "feedback",
            "nats-server",
            "load generator",
            "system (services and nats-server)",
        }
    assert results["replay_raw_ordered_consumer"]["events"] == results["dataset"]["events"]
    every_service = {"members", "assignments", "feedback", "notifications", "all_services", "one_read"}
    assert set(results["replay_sqlite"]) == every_service
    assert results["replay_sqlite"]["one_read"]["cpu_seconds"]["reader"] > 0
    if postgres:
        assert set(results["replay_postgresql"]) == every_service
        assert results["command_path"]["c32"]["eventsourcing_postgresql"]["per_second"] > 0
    else:
        assert "skipped" in results["replay_postgresql"]
    loads = results["aggregate_loads"]
    for key in ("written_first_warm", "written_last_warm", "written_first_after_restart"):
        assert loads[key]["loads"] > 0
    assert loads["kept_aggregates_full"]["aggregates"] > 0
    assert results["loop_latency"]["at_20_per_second"]["count"] > 0
    assert set(results["queries"]) == {
        "household_card",
        "member_dashboard",
        "community_coverage",
        "community_task_kpis",
        "community_feedback_kpis",
    }
    pages = results["console_pages"]
    assert set(pages) == {
        "/",
        "/coverage",
        "/members",
        "/tasks",
        "/kpis",
        "/callbacks",
        "/party-days",
        "task",
        "member",
    }
    assert all(page["count"] == results["console_pages"]["/"]["count"] > 0 for page in pages.values())
    assert "console page /coverage" in table(results)
    assert all(mb > 0 for mb in results["memory_under_load_mb"].values())
    assert "raw ordered consumer" in table(results)
