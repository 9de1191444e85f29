"""Shared helpers for the drift engine tests: monitored replicas and hand-built OTLP metrics requests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otel_mlmon_collector._otlp import OtlpRequest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.testing import InMemoryTelemetry

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "Replica",
    "category_request",
    "collected_request",
    "events",
    "gauges",
    "histogram_request",
    "make_data",
    "sum_request",
]

FEATURES = ["amount", "age", "score", "country"]
CATEGORICAL = ["country"]
_SHARES = [0.5, 0.3, 0.15, 0.05]


def collected_request(telemetry: InMemoryTelemetry) -> OtlpRequest:
    """What the SDK has recorded so far, as the OTLP metrics request an exporter would send."""
    message = encode_metrics(telemetry.collect())
    return OtlpRequest("metrics", message.SerializeToString(), message)


def make_data(
    rng: np.random.Generator, n: int, shift: float = 0.0, swap: bool = False, missing: float = 0.0
) -> np.ndarray:
    """Rows of the test model's features: three normals (``shift`` added to ``amount``) and a category code."""
    X = rng.normal(size=(n, 4))
    X[:, 0] = X[:, 0] * 10 + 100 + shift * 10
    X[:, 1] = X[:, 1] * 5 + 40
    shares = list(reversed(_SHARES)) if swap else _SHARES
    X[:, 3] = rng.choice(len(shares), size=n, p=shares)
    if missing:
        X[rng.random(n) < missing, 2] = np.nan
    return X


class Replica:
    """One monitored inference process: a decorated model and its in-memory OTel SDK."""

    def __init__(
        self,
        temporality: str = "cumulative",
        model: str = "fraud",
        version: str | None = "1",
        resource: Mapping[str, str] | None = None,
        features: Sequence[str] = FEATURES,
        categorical: Sequence[str] = CATEGORICAL,
    ) -> None:
        self.telemetry = InMemoryTelemetry(temporality)
        self.resource = dict(resource) if resource is not None else None

        @otel_mlmon.monitor(
            model=model,
            version=version,
            feature_names=list(features),
            categorical=list(categorical),
            max_rows=None,
            trace=False,
            **self.telemetry.providers,
        )
        def predict(X: Any) -> np.ndarray:
            return np.asarray(X)[:, 0] > 100

        self.predict: Callable[[Any], np.ndarray] = predict

    def export(self, shift_seconds: float = 0.0) -> OtlpRequest:
        """Collect as a periodic export would and encode it as the OTLP exporter does.

        ``shift_seconds`` moves every point's timestamps, as if the export happened that much later.
        """
        message = encode_metrics(self.telemetry.collect())
        if shift_seconds:
            _shift(message, int(shift_seconds * 1e9))
        if self.resource is not None:
            for rm in message.resource_metrics:
                del rm.resource.attributes[:]
                rm.resource.attributes.extend(_kv(self.resource))
        return OtlpRequest("metrics", message.SerializeToString(), message)

    def shutdown(self) -> None:
        """Shut the SDK providers down."""
        self.telemetry.shutdown()


def _shift(message: ExportMetricsServiceRequest, shift_ns: int) -> None:
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in getattr(metric, metric.WhichOneof("data")).data_points:
                    point.time_unix_nano += shift_ns
                    if point.start_time_unix_nano:
                        point.start_time_unix_nano += shift_ns


def gauges(requests: Sequence[OtlpRequest], name: str) -> list[tuple[dict[str, Any], float]]:
    """``(attributes, value)`` of every gauge point named ``name`` in the metrics requests."""
    found = []
    for request in requests:
        if request.signal != "metrics":
            continue
        for rm in request.message.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for point in metric.gauge.data_points:
                            found.append((_attributes(point.attributes), point.as_double))
    return found


def events(requests: Sequence[OtlpRequest]) -> list[tuple[str, dict[str, Any], str]]:
    """``(event_name, attributes, body)`` of every log record in the logs requests."""
    found = []
    for request in requests:
        if request.signal != "logs":
            continue
        for rl in request.message.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    found.append(
                        (record.event_name, _attributes(record.attributes), record.body.string_value)
                    )
    return found


def _attributes(attributes: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in attributes}


def _kv(attributes: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=str(v))) for k, v in attributes.items()]


def _metric(message: ExportMetricsServiceRequest, resource: Mapping[str, str]) -> Any:
    rm = message.resource_metrics.add()
    rm.resource.attributes.extend(_kv(resource))
    return rm.scope_metrics.add()


def _temporality(kind: str) -> int:
    return (
        metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        if kind == "cumulative"
        else metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    )


def histogram_request(
    hist: ExponentialHistogram,
    start_ns: int,
    time_ns: int,
    temporality: str = "delta",
    model: str = "fraud",
    feature: str = "amount",
    resource: Mapping[str, str] | None = None,
) -> OtlpRequest:
    """A request with one ``ml.feature.distribution`` point holding ``hist``."""
    message = ExportMetricsServiceRequest()
    sm = _metric(message, resource or {"service.instance.id": "a"})
    metric = sm.metrics.add(name=conv.METRIC_FEATURE_DISTRIBUTION)
    metric.exponential_histogram.aggregation_temporality = _temporality(temporality)
    point = metric.exponential_histogram.data_points.add(
        start_time_unix_nano=start_ns,
        time_unix_nano=time_ns,
        count=hist.count,
        sum=hist.sum,
        scale=hist.scale,
        zero_count=hist.zero_count,
        min=hist.min,
        max=hist.max,
    )
    point.positive.offset = hist.positive_offset
    point.positive.bucket_counts.extend(hist.positive_counts.tolist())
    point.negative.offset = hist.negative_offset
    point.negative.bucket_counts.extend(hist.negative_counts.tolist())
    point.attributes.extend(
        _kv({conv.ATTR_MODEL_NAME: model, conv.ATTR_OPERATION: "predict", conv.ATTR_FEATURE_NAME: feature})
    )
    return OtlpRequest("metrics", message.SerializeToString(), message)


def sum_request(
    name: str,
    values: Mapping[str, int],
    start_ns: int,
    time_ns: int,
    temporality: str = "cumulative",
    label: str | None = None,
    model: str = "fraud",
    extra: Mapping[str, str] | None = None,
    resource: Mapping[str, str] | None = None,
) -> OtlpRequest:
    """A request with one sum metric; ``values`` maps the ``label`` attribute's value to the point's value."""
    message = ExportMetricsServiceRequest()
    sm = _metric(message, resource or {"service.instance.id": "a"})
    metric = sm.metrics.add(name=name)
    metric.sum.aggregation_temporality = _temporality(temporality)
    metric.sum.is_monotonic = True
    for key, value in values.items():
        attrs = {conv.ATTR_MODEL_NAME: model, conv.ATTR_OPERATION: "predict", **(extra or {})}
        if label is not None:
            attrs[label] = key
        point = metric.sum.data_points.add(
            start_time_unix_nano=start_ns, time_unix_nano=time_ns, as_int=value
        )
        point.attributes.extend(_kv(attrs))
    return OtlpRequest("metrics", message.SerializeToString(), message)


def category_request(
    counts: Mapping[str, int], start_ns: int, time_ns: int, temporality: str = "cumulative"
) -> OtlpRequest:
    """A request with the ``ml.feature.category.count`` points of feature ``country``."""
    return sum_request(
        conv.METRIC_FEATURE_CATEGORY_COUNT,
        counts,
        start_ns,
        time_ns,
        temporality,
        label=conv.ATTR_FEATURE_CATEGORY,
        extra={conv.ATTR_FEATURE_NAME: "country"},
    )
