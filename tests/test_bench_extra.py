"""`fourlinks bench` where the harness is not installed (a production image: it is the extra
`fourlinks-cli[bench]`) says how to install it, in one line, never a traceback."""

from __future__ import annotations

import sys

import pytest

from fourlinks_cli.cli import main


def test_bench_without_the_harness_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "fourlinks_bench", None)  # as if it were not installed
    assert main(["bench", "--plan", "smoke"]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1
    assert "pip install 'fourlinks-cli[bench]'" in said[0]


def test_a_broken_harness_is_not_mistaken_for_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):  # imported afresh, as in a new process
        if name.partition(".")[0] in ("fourlinks_bench", "eventsourcing"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "eventsourcing", None)  # the harness is there, what it needs is not
    with pytest.raises(ModuleNotFoundError, match="eventsourcing"):
        main(["bench", "--plan", "no-such-plan"])  # never a run, even if the import went through
