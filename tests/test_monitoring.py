"""The alert rules an operator installs (deploy/monitoring/): valid for Prometheus, doing what they
say on made-up series (`promtool test rules`), and naming only metrics Four Links really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fourlinks_audit.published import integrity_metrics
from fourlinks_runtime.metrics import ServiceMetrics

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is missing: `make test` installs Debian's prometheus (make monitoring)"
    return subprocess.run([PROMTOOL, *args], cwd=MONITORING, capture_output=True, text=True, check=False)


def exported() -> set[str]:
    """Every sample name the services and the checkpointer expose."""
    names = set()
    for registry in (ServiceMetrics().registry, integrity_metrics(None)):
        for family in registry.collect():
            names.add(family.name)
            if family.type == "histogram":
                names |= {f"{family.name}_{part}" for part in ("bucket", "count", "sum")}
            elif family.type == "counter":
                names.add(f"{family.name}_total")
    return names


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_fire_as_their_tests_say() -> None:
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("rules", ["alerts.yml"])
def test_every_metric_a_rule_names_is_exported(rules: str) -> None:
    named = set(re.findall(r"\b(fourlinks_[a-z_]+)", (MONITORING / rules).read_text()))
    assert named, "the rules name our metrics"
    assert named <= exported(), named - exported()
