"""The alert rules an operator installs (deploy/monitoring/): valid for Prometheus, doing what they
say on made-up series (`promtool test rules`), naming only metrics Four Links or the NATS exporter
really export, and the NATS rules firing on what real nodes of the shipped cluster config report
(a healthy cluster, then one that lost two of its three nodes)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml
from conftest import Cluster, provision_when_formed

from fourlinks_assignments.application.figures import FIGURES as ASSIGNMENTS
from fourlinks_audit.published import integrity_metrics
from fourlinks_feedback.application.figures import FIGURES as FEEDBACK
from fourlinks_members.application.figures import FIGURES as MEMBERS
from fourlinks_notifications.application.figures import FIGURES as NOTIFICATIONS
from fourlinks_runtime.metrics import ServiceMetrics

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is missing: `make test` installs Debian's prometheus (make monitoring)"
    return subprocess.run([PROMTOOL, *args], cwd=MONITORING, capture_output=True, text=True, check=False)


def exported() -> set[str]:
    """Every sample name the services and the checkpointer expose."""
    names = {figure.name for figures in (MEMBERS, ASSIGNMENTS, FEEDBACK, NOTIFICATIONS) for figure in figures}
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


# What the NATS exporter beside each node (natsio/prometheus-nats-exporter 0.17.3, `-healthz -varz
# -jsz=all`) exports that the rules and panels use, and where in the node's monitoring JSON it comes
# from; `exporter_samples` derives them from a real node as the exporter does.
NATS_EXPORTER = {
    "gnatsd_healthz_status": "/healthz: 0 when status is ok, else 1",
    "gnatsd_varz_connections": "/varz connections",
    "jetstream_server_total_streams": "/jsz streams, labelled cluster and meta_leader from meta_cluster",
    "jetstream_server_total_message_bytes": "/jsz bytes",
    "jetstream_server_max_storage": "/jsz config.max_storage",
    "jetstream_stream_last_seq": "/jsz account_details[].stream_detail[].state.last_seq",
    "jetstream_stream_total_messages": "/jsz account_details[].stream_detail[].state.messages",
}


def metrics_named(text: str) -> set[str]:
    return set(re.findall(r"\b((?:fourlinks|gnatsd|jetstream)_[a-z_]+)", text))


def test_every_metric_a_rule_names_is_exported() -> None:
    named = metrics_named((MONITORING / "alerts.yml").read_text())
    assert named, "the rules name our metrics"
    assert named <= exported() | set(NATS_EXPORTER), named - exported() - set(NATS_EXPORTER)


def test_every_dashboard_panel_queries_metrics_that_are_exported() -> None:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "fourlinks.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        named = set().union(*(metrics_named(target["expr"]) for target in panel["targets"]))
        assert named, panel["title"]
        assert named <= exported() | set(NATS_EXPORTER), (panel["title"], named - exported())
    compose = yaml.safe_load((MONITORING.parent.parent / "docker-compose.yml").read_text())["services"]
    mounted = " ".join(compose["grafana"]["volumes"])
    assert "deploy/monitoring/grafana/dashboards" in mounted
    assert "deploy/monitoring/grafana/provisioning" in mounted


# -- the NATS rules on real nodes ---------------------------------------------------------------------
def monitored(url: str) -> Any:
    """A node's monitoring answer, as the exporter reads it (the body even on 503)."""
    return httpx.get(url, timeout=5).json()


def exporter_samples(monitor_url: str, instance: str) -> list[tuple[str, dict[str, str], float]]:
    """The series the exporter makes of one node (its code: collector/healthz.go and jsz.go)."""
    varz = monitored(f"{monitor_url}/varz")
    jsz = monitored(f"{monitor_url}/jsz?consumers=true&config=true")
    health = monitored(f"{monitor_url}/healthz")
    scraped = {"job": "fourlinks-nats", "instance": instance}
    meta = jsz.get("meta_cluster") or {}
    server = {
        **scraped,
        "server_id": varz["server_id"],
        "server_name": varz["server_name"],
        "cluster": meta.get("name", ""),
        "meta_leader": meta.get("leader", ""),
    }
    samples = [
        (
            "gnatsd_healthz_status",
            {**scraped, "server_id": varz["server_id"]},
            float(health["status"] != "ok"),
        ),
        ("jetstream_server_total_streams", server, float(jsz["streams"])),
        ("jetstream_server_total_message_bytes", server, float(jsz["bytes"])),
        ("jetstream_server_max_storage", server, float(jsz["config"]["max_storage"])),
    ]
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            labels = {**server, "account": account["name"], "stream_name": stream["name"]}
            samples.append(("jetstream_stream_last_seq", labels, float(stream["state"]["last_seq"])))
    return samples


def rule_test(
    samples: list[tuple[str, dict[str, str], float]], expected: dict[str, list[dict[str, str]]]
) -> str:
    """A promtool test: the samples held for ten minutes, and each NATS alert with the labels it
    should fire with (none: it must not fire)."""
    rules = {
        rule["alert"]: rule
        for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }

    def rendered(text: str, labels: dict[str, str]) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    def firing(name: str, labels: dict[str, str]) -> dict[str, Any]:
        exp_labels = {**labels, **rules[name]["labels"]}
        notes = {key: rendered(text, exp_labels) for key, text in rules[name]["annotations"].items()}
        return {"exp_labels": exp_labels, "exp_annotations": notes}

    series = [
        {
            "series": name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}",
            "values": f"{value:g}x10",
        }
        for name, labels, value in samples
    ]
    checks = [
        {
            "eval_time": "5m",
            "alertname": name,
            "exp_alerts": [firing(name, labels) for labels in expected.get(name, [])],
        }
        for name in rules
        if name.startswith("FourLinksNats")
    ]
    test = {
        "rule_files": [str(MONITORING / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
    }
    return yaml.safe_dump(test, allow_unicode=True)


async def until(check: Any, timeout: float = 30.0) -> None:
    for _ in range(int(timeout * 4)):
        if check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the cluster did not get there")


async def test_the_nats_rules_stay_quiet_on_a_healthy_cluster_and_page_when_quorum_is_lost(
    cluster: Cluster, tmp_path: Path
) -> None:
    await provision_when_formed(cluster)
    urls = [f"http://127.0.0.1:{port}" for port in cluster.monitor]
    await until(lambda: all(monitored(f"{url}/healthz")["status"] == "ok" for url in urls))
    healthy = [sample for n, url in enumerate(urls) for sample in exporter_samples(url, f"nats-{n + 1}:7777")]
    assert {name for name, _, _ in healthy} <= set(NATS_EXPORTER)
    (tmp_path / "healthy.yml").write_text(rule_test(healthy, {}))
    quiet = promtool("test", "rules", str(tmp_path / "healthy.yml"))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr

    cluster.kill(1)
    cluster.kill(2)
    await until(lambda: not (monitored(f"{urls[0]}/jsz").get("meta_cluster") or {}).get("leader"))
    survivor = exporter_samples(urls[0], "nats-1:7777")
    health = next(labels for name, labels, _ in survivor if name == "gnatsd_healthz_status")
    expected = {
        "FourLinksNatsQuorumLost": [{"cluster": "fourlinks"}],
        "FourLinksNatsNodeUnhealthy": [health],
    }
    (tmp_path / "lost.yml").write_text(rule_test(survivor, expected))
    paged = promtool("test", "rules", str(tmp_path / "lost.yml"))
    assert paged.returncode == 0, paged.stdout + paged.stderr
