"""The Grafana dashboard and the Prometheus files under deploy/ use only metrics the node
exports (so neither can drift from the code), and are well formed: valid dashboard JSON,
alert rules of the shape Prometheus loads, a scrape config that names the rules file; where
promtool is installed, it checks both files and runs the rules' own tests
(deploy/prometheus/alerts_test.yml: the alerts fire on the figures they are for)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from consortium.api.metrics import exported_names
from consortium.api.metrics_probe import node_metrics
from tests.support.ledger_testkit import new_ledger

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "consortium-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"
METRIC = re.compile(r"\b(?:consortium|cometbft)_[a-z0-9_]+\b")
DURATION = re.compile(r"^\d+[smhd]$")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    path = tmp_path_factory.mktemp("ledger")
    ledger = new_ledger(path / "ledger")
    try:
        metrics = node_metrics("node0", ledger, None, path / "snapshots")
        names = exported_names(metrics.registry)
    finally:
        ledger.close()
    assert "consortium_checktx_refused_total" in names  # the probe's families too:
    assert "consortium_lmdb_size_bytes" in names
    assert "consortium_rpc_seconds_bucket" in names  # and labelled ones not yet used
    return names


def _dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in doc["templating"]["list"] if "definition" in v]
    return exprs


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_the_dashboard_uses_only_exported_metrics(exported: set[str]) -> None:
    used = {name for expr in _dashboard_exprs() for name in METRIC.findall(expr)}
    assert len(used) >= 15, used  # it shows most of them
    assert used <= exported, f"the dashboard uses metrics the node does not export: " \
        f"{sorted(used - exported)}"


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"] and isinstance(doc["schemaVersion"], int)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
            for target in panel["targets"]:
                assert target["expr"].count("(") == target["expr"].count(")"), target
    assert [i["name"] for i in doc["__inputs"]] == ["DS_PROMETHEUS"]


def test_alert_rules_use_only_exported_metrics_and_cover_the_issue(exported: set[str]) -> None:
    rules = _rules()
    used = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    assert used <= exported, f"alerts.yml uses metrics the node does not export: " \
        f"{sorted(used - exported)}"
    names = {rule["alert"] for rule in rules}
    assert {"ConsortiumNodeBehind", "ConsortiumNoNewBlock", "ConsortiumRefusalSpike",
            "ConsortiumDiskNearlyFull", "ConsortiumLmdbNearMapSize"} <= names
    no_block = next(r for r in rules if r["alert"] == "ConsortiumNoNewBlock")
    assert "> 30" in no_block["expr"]


def test_alert_rules_have_the_shape_prometheus_loads() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    assert set(doc) == {"groups"}
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            assert DURATION.match(rule.get("for", "0s")), rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
    promtool = shutil.which("promtool")
    if promtool is not None:  # the real check, where Prometheus is installed
        for args in (["check", "rules", str(ALERTS)], ["check", "config", str(SCRAPE)],
                     ["test", "rules", str(ALERTS.with_name("alerts_test.yml"))]):
            done = subprocess.run([promtool, *args], capture_output=True, text=True,
                                  timeout=60, cwd=ALERTS.parent)
            assert done.returncode == 0, done.stdout + done.stderr


def test_the_sample_scrape_config_names_the_rules_and_both_endpoints() -> None:
    doc = yaml.safe_load(SCRAPE.read_text())
    assert doc["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert jobs["consortium"]["metrics_path"] == "/metrics"
    assert "cometbft" in jobs
    for job in jobs.values():
        for static in job["static_configs"]:
            assert all(re.fullmatch(r"[\w.-]+:\d+", t) for t in static["targets"])
    # the rules' job label matches the scrape job
    assert any('job="consortium"' in rule["expr"] for rule in _rules())
