"""Data drift end to end: decorated model → SDK → OTLP → collector with a drift: section → VictoriaMetrics."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from otel_mlmon_collector._service import Collector

import otel_mlmon
from otel_mlmon.profile import Profile
from tests.collector.conftest import VictoriaMetrics, collector_config, wait_until

NAMES = ["amount", "age", "score", "tenure"]


@pytest.mark.e2e
def test_drift_gauges_for_the_shifted_features_reach_victoria_metrics(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    """The collector configured from YAML-like config computes drift and its gauges are queryable in PromQL."""
    rng = np.random.default_rng(11)
    model = f"churn-{uuid.uuid4().hex[:8]}"
    references = tmp_path / "profiles"
    Profile.from_data(rng.normal(size=(20_000, 4)), model=model, version="1", feature_names=NAMES).save(
        references / f"{model}.json.gz"
    )
    exporter = {
        "name": "victoria-metrics",
        "signals": ["metrics"],
        "metrics_endpoint": victoria_metrics.otlp_metrics_url,
    }
    config = collector_config(
        exporters=[exporter],
        drift={"references": {"directory": str(references)}, "evaluation_interval_seconds": 0},
    )
    collector = Collector(config)
    collector.start()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "drift-e2e"}),
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"http://{collector.http_endpoint}/v1/metrics"),
                export_interval_millis=3_600_000,
            )
        ],
    )
    try:
        predict = otel_mlmon.monitor(
            model=model, version="1", feature_names=NAMES, trace=False, meter_provider=provider
        )(lambda X: X[:, 0])
        for _ in range(10):
            X = rng.normal(size=(500, 4))
            X[:, 0] += 1.0  # amount shifts by one standard deviation
            X[:, 2] *= 2.0  # score spreads out
            predict(X)
        assert provider.force_flush()
        assert collector.drift is not None
        evaluation = collector.drift.evaluate_now()
        assert sorted(evaluation.stream(model).drifted("feature")) == ["amount", "score"]
    finally:
        provider.shutdown()
        collector.shutdown(10)

    def series(name: str, want: int) -> list[dict]:
        """This run's series of ``name`` (labels keep OTel's dotted names, so filter them here)."""

        def ours() -> list[dict]:
            victoria_metrics.force_flush()
            found = [
                s
                for s in victoria_metrics.query(f'{{__name__="{name}"}}')
                if s["metric"].get("ml.model.name") == model
            ]
            return found if len(found) >= want else []

        return wait_until(ours, 30.0, 0.5, f"{name} series of {model}")

    state = {}
    for s in series("ml.drift.detected", 4):
        labels = s["metric"]
        if labels.get("ml.drift.target") == "feature" and labels.get("ml.drift.method") not in (
            "missing_rate",
            "out_of_range",
            "unseen",
        ):
            state[labels["ml.feature.name"]] = float(s["value"][1])
    assert state == {"amount": 1.0, "age": 0.0, "score": 1.0, "tenure": 0.0}
    scores = [s for s in series("ml.drift.score", 4) if s["metric"].get("ml.feature.name") == "amount"]
    assert any(float(s["value"][1]) > 0 for s in scores)
    (share,) = series("ml.drift.share", 1)
    assert float(share["value"][1]) == pytest.approx(0.5)
