"""The ground-truth example runs end to end through a real collector: scored now, labelled later, joined."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._service import Collector

from .conftest import collector_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ground_truth"


@pytest.mark.e2e
def test_example_service_and_reporter_give_performance(tmp_path: Path) -> None:
    """predict_service.py then report_outcomes.py (separate processes) → accuracy and ~80 % label coverage."""
    captured = InMemoryExporter("captured")
    config = collector_config(
        ground_truth={"path": str(tmp_path / "gt.sqlite"), "evaluation_interval_seconds": 0}
    )
    collector = Collector(config, exporters={"captured": captured})
    collector.start()
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{collector.http_endpoint}"}
    predictions = tmp_path / "predictions.csv"
    try:
        for script in ("predict_service.py", "report_outcomes.py"):
            done = subprocess.run(
                [sys.executable, str(EXAMPLES / script), str(predictions)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
        assert collector.performance is not None
        collector.performance.evaluate_now()
        collector.pipeline.shutdown(10)
    finally:
        collector.shutdown(5)
    gauges: dict[str, float] = {}
    for request in captured.requests("metrics"):
        for rm in request.decoded().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.gauge.data_points:
                        attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                        if not attrs.get("ml.prediction.class"):
                            gauges[metric.name] = point.as_double
    assert 0.6 < gauges["ml.performance.accuracy"] < 0.95
    assert gauges["ml.label.coverage"] == pytest.approx(0.8, abs=0.06)
    assert "ml.performance.roc_auc" in gauges


def test_example_collector_config_is_valid() -> None:
    """The example's collector configuration loads and enables the label join."""
    from otel_mlmon_collector._config import load_config

    config = load_config(EXAMPLES / "collector.yaml", env={})
    assert config.ground_truth is not None and config.ground_truth.evaluation_interval_seconds == 5


@pytest.mark.parametrize("section", ["drift", "ground_truth"])
def test_analysis_sections_are_validated(section: str) -> None:
    """An unknown key or a non-boolean enabled in an analysis section is a ConfigError naming its full key path."""
    from otel_mlmon_collector._config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=rf"^{section}\.bogus: unknown"):
        parse_config({section: {"bogus": 1}}, env={})
    with pytest.raises(ConfigError, match=f"{section}.enabled"):
        parse_config({section: {"enabled": "yes"}}, env={})
    assert getattr(parse_config({section: {"enabled": False}}, env={}), section) is None
    assert getattr(parse_config({}, env={}), section) is None
