"""The soak tool's own arithmetic (`make soak` runs the soak itself; it is not part of the suite):
which kills in which order, the client's tally and the summary's figures."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from tools.soak import SERVICES, Load, Recovery, Run, Sent, kill_order, parser, recovery_table, summary


class NoServices:
    def url(self, service: str) -> str:
        return f"http://{service}.invalid"


def test_a_year_of_kills_is_the_default_and_every_count_has_a_flag() -> None:
    defaults = parser().parse_args([])
    assert (defaults.part, defaults.nats_kills, defaults.service_kills, defaults.node_kills) == (
        "both",
        20,
        50,
        20,
    )
    quick = parser().parse_args(["embedded", "--nats-kills", "3", "--service-kills", "5", "--duration", "60"])
    assert (quick.part, quick.nats_kills, quick.service_kills, quick.duration) == ("embedded", 3, 5, 60.0)


def test_service_kills_go_round_robin_with_nats_kills_spread_among_them() -> None:
    order = kill_order(20, 50)
    assert len(order) == 70
    assert Counter(order) == {
        "nats": 20,
        "members": 13,
        "assignments": 13,
        "feedback": 12,
        "notifications": 12,
    }
    assert [child for child in order if child != "nats"][:4] == list(SERVICES)
    assert not any(a == b == "nats" for a, b in pairwise(order))  # never back to back
    assert kill_order(0, 2) == ["members", "assignments"]
    assert kill_order(2, 0) == ["nats", "nats"]


def test_the_recovery_table_gives_the_median_and_maximum_per_kind_of_kill() -> None:
    table = recovery_table(
        [
            Recovery("nats-server", back=1.0, served=0.5),
            Recovery("nats-server", back=3.0, served=None),
            Recovery("nats-server", back=2.0, served=1.5),
            Recovery("notifications", back=6.0, served=None),
        ]
    )
    nats, notifications = table[1], table[2]
    assert nats.split()[:2] == ["nats-server", "3"]
    assert "2.00 /   3.00 s" in nats  # back: median and maximum of three
    assert "1.00 /   1.50 s" in nats  # next ack: only the kills that had one
    assert notifications.split()[-2:] == ["-", "-"]


def test_the_tally_counts_each_command_once_by_how_it_ended() -> None:
    load = Load(NoServices(), headers={}, household="h")
    load.sent = {
        "a": Sent("street", 1, acked_at=1.0, answer_id="u1"),
        "b": Sent("street", 2, acked_at=2.0, answer_id="u2", duplicate=True),
        "c": Sent("street", 3, last_answer="street 503"),
        "d": Sent("task", 1, last_answer="refused 422 no such unit"),
    }
    tally = load.tally()
    street, task = tally["street"], tally["task"]
    assert (street.sent, street.acknowledged, street.duplicates, street.gave_up) == (3, 2, 1, 1)
    assert (task.sent, task.acknowledged, task.refused) == (1, 0, 1)
    assert load.acknowledged("street") == {"a": "u1", "b": "u2"}

    run = Run("a run", tallies=tally)
    run.checked.doubled = 1
    said = summary(run)
    assert "4 sent, 2 acknowledged (1 of them as done before), 1 given up, 1 refused" in said
    assert "lost 0, doubled 1" in said
    assert said.rstrip().endswith("findings: 0")


def test_a_server_error_given_to_a_client_is_a_finding_even_when_a_retry_succeeded() -> None:
    run = Run("a run", answers=Counter({"task 500": 3, "task 503": 40, "street ConnectError": 9}))
    assert run.all_findings == ["server errors answered (a 503 'retry' was due): {'task 500': 3}"]
    assert Run("a calm run", answers=Counter({"street 503": 5})).all_findings == []


def test_a_valid_command_refused_is_a_finding_naming_the_answer() -> None:
    run = Run("a run", refusals=Counter({"refused 401 the bearer token is not valid": 2}))
    assert run.all_findings == ["2 valid command(s) refused: refused 401 the bearer token is not valid"]
