"""The committed Grafana dashboards are what the generator builds, and they hold together as dashboards."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import json
import pkgutil
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.collector.deploy.conftest import DEPLOY, unavailable

GENERATOR = DEPLOY / "dashboards"
DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards"


@cache
def load_generator() -> ModuleType:
    """Import the collector/deploy/dashboards package (a script directory, not part of an installed package)."""
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        unavailable("grafana-foundation-sdk is not installed (pip install -e '.[deploy]')")
    spec = importlib.util.spec_from_file_location(
        "otel_mlmon_deploy_dashboards", GENERATOR / "__init__.py", submodule_search_locations=[str(GENERATOR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _boards(flavour: str = "prometheus") -> dict[str, dict]:
    return {
        path.name: json.loads(path.read_text()) for path in sorted((DASHBOARD_DIR / flavour).glob("*.json"))
    }


def _all_boards() -> dict[str, dict]:
    return {
        str(path.relative_to(DASHBOARD_DIR)): json.loads(path.read_text())
        for path in sorted(DASHBOARD_DIR.rglob("*.json"))
    }


def test_regenerating_gives_the_committed_json(tmp_path: Path) -> None:
    """A fresh build equals the committed files byte for byte, and --check agrees (exit 0)."""
    generator = load_generator()
    built = generator.build_all()
    assert sorted(built) == sorted(str(p.relative_to(DASHBOARD_DIR)) for p in DASHBOARD_DIR.rglob("*.json"))
    for name, text in built.items():
        assert (DASHBOARD_DIR / name).read_text() == text, f"{name} is stale: run {generator.COMMAND}"
    assert generator.main(["--check"]) == 0


def test_the_documented_command_regenerates_and_checks(tmp_path: Path) -> None:
    """The documented command writes and checks the JSON from the repo root; `python -m dashboards` works too."""
    command = [sys.executable, *load_generator().COMMAND.split()[1:]]
    repo = DEPLOY.parents[1]

    def run(*args: str, cwd: Path = repo, argv: list[str] = command) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
        )

    assert run("--check").returncode == 0
    assert run("--check", argv=[sys.executable, "-m", "dashboards"], cwd=DEPLOY).returncode == 0
    stale = run("--check", "--output", str(tmp_path))
    assert stale.returncode == 1 and f"run {load_generator().COMMAND}" in stale.stderr
    assert run("--output", str(tmp_path)).returncode == 0
    assert run("--check", "--output", str(tmp_path)).returncode == 0


def test_check_reports_an_edited_dashboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check exits 1 and names the file when a committed dashboard was edited by hand."""
    generator = load_generator()
    assert generator.main(["--output", str(tmp_path)]) == 0
    path = tmp_path / "prometheus" / "otel-mlmon-drift.json"
    path.write_text(path.read_text().replace("data drift", "hand-edited"))
    (tmp_path / "old.json").write_text("{}")
    assert generator.main(["--check", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "prometheus/otel-mlmon-drift.json" in err and "old.json" in err
    assert generator.main(["--output", str(tmp_path)]) == 0
    assert not (tmp_path / "old.json").exists()
    assert generator.main(["--check", "--output", str(tmp_path)]) == 0


def test_docstring_examples() -> None:
    """The examples in the generator's docstrings (metric names, PromQL pieces) return what they show."""
    package = load_generator()
    attempted = 0
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("__"):
            result = doctest.testmod(importlib.import_module(f"{package.__name__}.{info.name}"))
            assert result.failed == 0, info.name
            attempted += result.attempted
    assert attempted >= 4


@pytest.mark.parametrize(
    ("name", "kind", "unit", "expected"),
    [
        ("ml.inference.duration", "histogram", "s", "ml_inference_duration_seconds"),
        ("ml.inference.predictions", "counter", "{prediction}", "ml_inference_predictions_total"),
        ("ml.inference.batch.size", "histogram", "{row}", "ml_inference_batch_size"),
        ("ml.feature.missing", "counter", "1", "ml_feature_missing_total"),
        ("ml.drift.score", "gauge", "1", "ml_drift_score_ratio"),
        ("ml.model.age", "gauge", "s", "ml_model_age_seconds"),
        ("otel_mlmon.collector.queue.bytes", "gauge", "By", "otel_mlmon_collector_queue_bytes_bytes"),
    ],
)
def test_prometheus_names(name: str, kind: str, unit: str, expected: str) -> None:
    """OTLP names translate as Prometheus-style receivers store them (checked against VictoriaMetrics in e2e)."""
    assert load_generator().prometheus_name(name, kind, unit) == expected


def test_three_dashboards_with_unique_uids_variables_and_a_templated_datasource() -> None:
    """Inference, drift and performance dashboards per flavour; model/version variables; panels use $datasource."""
    boards = _all_boards()
    names = {"otel-mlmon-inference.json", "otel-mlmon-drift.json", "otel-mlmon-performance.json"}
    assert set(boards) == {
        f"{flavour}/{name}" for flavour in ("prometheus", "victoriametrics") for name in names
    }
    assert len({b["uid"] for b in boards.values()}) == 6
    for name, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert {"datasource", "model", "version"} <= set(variables), name
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
            assert panel.get("description"), f"{panel['title']} has no description"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs) and all(refs), panel["title"]
            for target in panel["targets"]:
                assert 'ml_model_name=~"$model"' in target["expr"] or "otel_mlmon" in target["expr"], target
    assert "feature" in {v["name"] for v in boards["prometheus/otel-mlmon-drift.json"]["templating"]["list"]}


def test_flavours_differ_only_in_histogram_queries() -> None:
    """Prometheus and VictoriaMetrics flavours have the same panels; only exponential-histogram queries differ."""
    native, vm = _boards("prometheus"), _boards("victoriametrics")
    for name in native:
        a, b = native[name], vm[name]
        assert [p["title"] for p in a["panels"]] == [p["title"] for p in b["panels"]]
        for pa, pb in zip(a["panels"], b["panels"]):
            for ta, tb in zip(pa.get("targets", []), pb.get("targets", [])):
                if ta["expr"] != tb["expr"]:
                    assert "vmrange" in tb["expr"] and "vmrange" not in ta["expr"], (pa["title"], ta["expr"])


def test_issue_panels_are_present() -> None:
    """The panels the issue asks for exist: errors by error.type, p50/p95/p99, heatmaps, categories, labels."""
    titles = {name: {p["title"] for p in board["panels"]} for name, board in _boards().items()}
    inference = " | ".join(titles["otel-mlmon-inference.json"])
    for part in ("Requests/s", "error.type", "p50 / p95 / p99", "Predictions/s", "Batch size"):
        assert part in inference
    drift = _boards()["otel-mlmon-drift.json"]
    kinds = {p["type"] for p in drift["panels"]}
    assert {"heatmap", "state-timeline", "bargauge"} <= kinds
    performance = " | ".join(titles["otel-mlmon-performance.json"])
    for part in ("realized vs estimated", "Label coverage", "Label delay", "Concept drift"):
        assert part in performance


def test_latency_panels_ask_for_exemplars_and_link_to_traces() -> None:
    """Latency quantile queries request exemplars, and the panel links to the traces data source."""
    board = _boards()["otel-mlmon-inference.json"]
    latency = next(p for p in board["panels"] if p["title"].startswith("Latency p50"))
    assert all(t.get("exemplar") for t in latency["targets"])
    assert len(latency["targets"]) == 3
    uid = load_generator().TRACES_DATASOURCE_UID
    assert any(f'"uid":"{uid}"' in link["url"] for link in latency["links"])
    for board in _all_boards().values():
        variables = {v["name"] for v in board["templating"]["list"]}
        for panel in board["panels"]:
            for link in panel.get("links", []):
                used = set(re.findall(r"\$\{(\w+)\}", link["url"])) - {"__from", "__to"}
                assert used <= variables, (panel["title"], used - variables)


def test_queries_use_only_known_metric_names() -> None:
    """Every metric a panel reads comes from the generator's name table (built from otel_mlmon.conventions)."""
    known = {
        n + suffix for n in load_generator().METRICS.values() for suffix in ("", "_bucket", "_count", "_sum")
    }
    for board in _all_boards().values():
        queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
        queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
        for expr in queries:
            labels = set(re.findall(r"(\w+)\s*(?:=|!=|=~|!~)\s*\"", expr))
            labels |= {
                n.strip()
                for group in re.findall(r"(?:by|on|ignoring) \(([^)]*)\)", expr)
                for n in group.split(",")
            }
            labels |= set(re.findall(r",\s*(\w+)\)$", expr))  # label_values(..., label)
            names = set(re.findall(r"\b((?:ml|otel_mlmon)_[a-z_]+)\b", expr)) - labels
            assert names <= known, (expr, names - known)


def _substituted(expr: str) -> str:
    for name in ("numeric_feature", "feature", "version", "model"):
        expr = expr.replace("$" + name, "(a|b)")
    return expr.replace("$__rate_interval", "1m").replace("$__range", "1h")


@pytest.mark.parametrize("flavour", ["prometheus", "victoriametrics"])
def test_panel_queries_parse_as_promql(flavour: str, promtool: str, tmp_path: Path) -> None:
    """Every panel query is valid PromQL for Prometheus' own parser (promtool), except MetricsQL-only functions."""
    exprs = sorted(
        {
            _substituted(t["expr"])
            for board in _boards(flavour).values()
            for p in board["panels"]
            for t in p.get("targets", [])
        }
    )
    metricsql_only = [e for e in exprs if "prometheus_buckets(" in e]
    assert len(metricsql_only) == (1 if flavour == "victoriametrics" else 0)
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"record": f"panel:query{i}", "expr": e}
                    for i, e in enumerate(exprs)
                    if e not in metricsql_only
                ],
            }
        ]
    }
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs) - len(metricsql_only)} rules found" in result.stdout + result.stderr
