"""Rate limits as arithmetic: a client's minute of requests passes, the next waits its turn, other
clients are not held up by it, and the process's own bound holds for all of them."""

from __future__ import annotations

from fourlinks_runtime.rate_limits import Counts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_clients_minute_passes_and_the_next_request_waits_its_turn() -> None:
    clock = Clock()
    counts = Counts(per_client=30, overall=1000, clock=clock)
    assert [counts.wait_for("10.0.0.1") for _ in range(30)] == [0.0] * 30
    assert counts.wait_for("10.0.0.1") == 2.0  # one request every two seconds at 30 a minute
    assert counts.wait_for("10.0.0.2") == 0.0  # another address is not held up
    clock.now += 2
    assert counts.wait_for("10.0.0.1") == 0.0


def test_the_process_bound_holds_for_every_client_together() -> None:
    clock = Clock()
    counts = Counts(per_client=30, overall=60, clock=clock)
    passed = sum(counts.wait_for(f"10.0.{n // 30}.{n % 30}") == 0.0 for n in range(100))
    assert passed == 60
