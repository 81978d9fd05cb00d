"""A projection behind the log and not moving is stalled; one catching up, or at the log's end, or
halted (said already), is not."""

from __future__ import annotations

from fourlinks_kernel.projection import ProjectionStatus
from fourlinks_runtime.stalls import StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def at(position: int, halted: str | None = None) -> ProjectionStatus:
    status = ProjectionStatus("feedback.items")
    status.position, status.caught_up, status.halted_reason = position, True, halted
    return status


def test_a_projection_behind_the_log_and_not_moving_is_named_stalled() -> None:
    clock = Clock()
    watch = StallWatch(seconds=60, clock=clock)
    assert watch.stalled([at(10_295)], last=15_318) == []
    clock.now += 30
    assert watch.stalled([at(10_295)], last=15_318) == []
    clock.now += 31
    (said,) = watch.stalled([at(10_295)], last=15_318)
    assert "stalled: 5,023 events behind" in said


def test_catching_up_at_the_end_or_halted_is_not_stalled() -> None:
    clock = Clock()
    watch = StallWatch(seconds=60, clock=clock)
    for step in range(5):
        clock.now += 40
        assert watch.stalled([at(1000 + step)], last=5000) == []  # moving
    clock.now += 100
    assert watch.stalled([at(5000)], last=5000) == []  # at the end
    watch.stalled([at(10, halted="cannot apply")], last=50)
    clock.now += 100
    assert watch.stalled([at(10, halted="cannot apply")], last=50) == []  # the halt says why already
