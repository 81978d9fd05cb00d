"""The alert rules an operator installs (deploy/monitoring/): valid for Prometheus, doing what they
say on made-up series (`promtool test rules`), and naming only metrics Four Links really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from fourlinks_assignments.application.figures import FIGURES as ASSIGNMENTS
from fourlinks_audit.published import integrity_metrics
from fourlinks_feedback.application.figures import FIGURES as FEEDBACK
from fourlinks_members.application.figures import FIGURES as MEMBERS
from fourlinks_runtime.metrics import ServiceMetrics

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is missing: `make test` installs Debian's prometheus (make monitoring)"
    return subprocess.run([PROMTOOL, *args], cwd=MONITORING, capture_output=True, text=True, check=False)


def exported() -> set[str]:
    """Every sample name the services and the checkpointer expose."""
    names = {figure.name for figures in (MEMBERS, ASSIGNMENTS, FEEDBACK) for figure in figures}
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


def test_the_compose_prometheus_config_is_valid() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def metrics_named(text: str) -> set[str]:
    return set(re.findall(r"\b(fourlinks_[a-z_]+)", text))


def test_every_metric_a_rule_names_is_exported() -> None:
    named = metrics_named((MONITORING / "alerts.yml").read_text())
    assert named, "the rules name our metrics"
    assert named <= exported(), named - exported()


def test_every_dashboard_panel_queries_metrics_that_are_exported() -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "fourlinks.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        named = set().union(*(metrics_named(target["expr"]) for target in panel["targets"]))
        assert named, panel["title"]
        assert named <= exported(), (panel["title"], named - exported())
    compose = yaml.safe_load((MONITORING.parent.parent / "docker-compose.yml").read_text())["services"]
    mounted = " ".join(compose["grafana"]["volumes"])
    assert "deploy/monitoring/grafana/dashboards" in mounted
    assert "deploy/monitoring/grafana/provisioning" in mounted
