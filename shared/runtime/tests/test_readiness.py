"""Readiness says what is missing, in words (pure logic over where the projections stand)."""

from __future__ import annotations

from fourlinks_kernel.projection import ProjectionStatus
from fourlinks_runtime.app import what_is_missing


def test_a_ready_service_misses_nothing() -> None:
    caught_up = ProjectionStatus("members.directory", position=10, target=10, caught_up=True)
    assert what_is_missing(True, [caught_up]) == []


def test_an_unready_service_names_nats_a_lagging_and_a_halted_projection() -> None:
    lagging = ProjectionStatus("members.directory", position=796, target=2000)
    halted = ProjectionStatus("members.org_units", caught_up=True, halted_reason="event 42 does not decode")
    assert what_is_missing(False, [lagging, halted]) == [
        "NATS unreachable",
        "projection members.directory catching up: 1,204 events behind",
        "projection members.org_units halted: event 42 does not decode",
    ]
