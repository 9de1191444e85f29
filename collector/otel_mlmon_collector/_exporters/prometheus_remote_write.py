"""Remote-write OTLP metrics to Prometheus, for Prometheus 2.x users who have no OTLP receiver.

Translation (the one ``prometheus_name`` in ``collector/deploy/dashboards/names.py`` assumes, so the dashboards and
rules work unchanged):

* names: dots and other invalid characters become ``_``; a unit suffix is added (``s`` → ``_seconds``, ``By`` →
  ``_bytes``, ``1`` → ``_ratio`` on gauges only, units in braces add nothing, any other unit is appended as it is);
  monotonic sums get ``_total``. Attribute keys become label names the same way (``ml.model.name`` →
  ``ml_model_name``); ``service.name`` (with ``service.namespace``) becomes ``job``, ``service.instance.id``
  ``instance``, and the other resource attributes go on a ``target_info`` series.
* gauges and non-monotonic sums → gauges; monotonic sums → counters; explicit histograms → ``_bucket{le}``
  (cumulative), ``_sum``, ``_count``; summaries → ``{quantile}``, ``_sum``, ``_count``; exponential histograms →
  native histograms (OTel scale = schema, downscaled to 8 when finer; bucket index = OTel index + 1; a scale
  below −4 cannot be represented and the point is dropped).
* temporality: cumulative only. Delta sums and histograms are dropped and counted as rejected items (set the SDK's
  ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative``, its default): turning deltas into totals needs
  every delta of a stream, in order, in one process, which a collector behind a load balancer does not see.
* a point flagged "no recorded value" becomes a Prometheus stale marker. Exemplars are not sent.

Prometheus refuses a whole request when one sample is older than what it already holds for that series, so each
export runs alone and samples not newer than the last one delivered for their series are skipped (counted).
"""

from __future__ import annotations

import math
import re
import struct
import threading
from collections.abc import Iterable
from typing import Any

import cramjam
import numpy as np
import requests

from otel_mlmon.sketch import downscale_buckets

from .._config import ExporterConfig
from .._otlp import OtlpRequest
from . import ExportResult
from ._prompb import NativeHistogram, Sample, TimeSeries, encode_write_request

__all__ = ["PrometheusRemoteWriteExporter", "metric_name", "translate"]

_UNIT_SUFFIXES = {"s": "seconds", "By": "bytes", "1": "ratio"}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
_NO_RECORDED_VALUE = 1
_CUMULATIVE = 2
_MAX_SCHEMA, _MIN_SCHEMA = 8, -4
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_MAX_TRACKED_SERIES = 1_000_000
_MAX_MESSAGE_CHARS = 500
_RESOURCE_LABELS = ("service.name", "service.namespace", "service.instance.id")


def metric_name(name: str, kind: str, unit: str = "") -> str:
    """The Prometheus name of an OTLP metric (``kind``: ``counter``, ``gauge``, ``histogram`` or ``summary``).

    >>> metric_name("ml.inference.duration", "histogram", "s"), metric_name("ml.drift.score", "gauge", "1")
    ('ml_inference_duration_seconds', 'ml_drift_score_ratio')
    >>> metric_name("ml.feature.missing", "counter", "1"), metric_name("ml.inference.predictions", "counter", "{row}")
    ('ml_feature_missing_total', 'ml_inference_predictions_total')
    """
    base = _INVALID.sub("_", name)
    if base[:1].isdigit():
        base = "_" + base
    suffix = "" if unit.startswith("{") else _INVALID.sub("_", _UNIT_SUFFIXES.get(unit, unit))
    if suffix == "ratio" and kind != "gauge":
        suffix = ""
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    if kind == "counter" and not base.endswith("_total"):
        base += "_total"
    return base


def translate(message: Any) -> tuple[list[TimeSeries], list[tuple[str, str, str, str]], int, str]:
    """Turn a decoded ``ExportMetricsServiceRequest`` into remote-write series and metadata.

    Returns:
        ``(series, metadata, dropped points, reason for the first drop)``.
    """
    series: dict[tuple[tuple[str, str], ...], TimeSeries] = {}
    metadata: dict[str, tuple[str, str, str, str]] = {}
    dropped, reason = 0, ""

    def add(labels: dict[str, str], sample: Sample | NativeHistogram) -> None:
        key = tuple(sorted(labels.items()))
        ts = series.get(key)
        if ts is None:
            ts = series[key] = TimeSeries(key)
        (ts.histograms if isinstance(sample, NativeHistogram) else ts.samples).append(sample)

    for rm in message.resource_metrics:
        resource = _attributes(rm.resource.attributes)
        base = _resource_labels(resource)
        info = {k: v for k, v in _labels(rm.resource.attributes).items() if k not in _RESOURCE_KEYS_SANITISED}
        latest_ms = 0
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                if kind in ("sum", "histogram", "exponential_histogram") and (
                    data.aggregation_temporality != _CUMULATIVE
                ):
                    dropped += len(data.data_points)
                    reason = reason or f"{metric.name}: delta temporality is not sent to Prometheus"
                    continue
                prom_kind = {
                    "gauge": "gauge",
                    "sum": "counter" if kind == "sum" and data.is_monotonic else "gauge",
                    "histogram": "histogram",
                    "exponential_histogram": "histogram",
                    "summary": "summary",
                }[kind]
                name = metric_name(metric.name, prom_kind, metric.unit)
                metadata.setdefault(name, (name, prom_kind, metric.description, metric.unit))
                for point in data.data_points:
                    ms = point.time_unix_nano // 1_000_000
                    latest_ms = max(latest_ms, ms)
                    labels = {**base, **_labels(point.attributes)}
                    stale = bool(point.flags & _NO_RECORDED_VALUE)
                    if kind in ("gauge", "sum"):
                        value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                        add({**labels, "__name__": name}, Sample(_STALE_NAN if stale else float(value), ms))
                    elif kind == "histogram":
                        _explicit(add, name, labels, point, ms, stale)
                    elif kind == "summary":
                        _summary(add, name, labels, point, ms, stale)
                    elif stale:
                        add({**labels, "__name__": name}, Sample(_STALE_NAN, ms))
                    else:
                        native = _native(point, ms)
                        if native is None:
                            dropped += 1
                            reason = reason or f"{metric.name}: scale {point.scale} is below Prometheus' −4"
                        else:
                            add({**labels, "__name__": name}, native)
        if info and latest_ms:
            add({**base, **info, "__name__": "target_info"}, Sample(1.0, latest_ms))
    return list(series.values()), list(metadata.values()), dropped, reason


class PrometheusRemoteWriteExporter:
    """Sends the metrics of each request to a Prometheus remote-write endpoint (``…/api/v1/write``).

    Traces and logs are not Prometheus data: they are acknowledged and ignored (configure the exporter with
    ``signals: [metrics]``, the default for this type).

    Usage::

        exporter = PrometheusRemoteWriteExporter(
            ExporterConfig("prometheus", type="prometheus_remote_write", endpoint="http://127.0.0.1:9090/api/v1/write")
        )
    """

    def __init__(self, config: ExporterConfig) -> None:
        self.config = config
        self.name = config.name
        self.endpoint = config.endpoint
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
                **dict(config.headers),
            }
        )
        self._verify: bool | str = config.certificate_file or True
        self._cert = (
            (config.client_certificate_file, config.client_key_file)
            if config.client_certificate_file and config.client_key_file
            else config.client_certificate_file
        )
        self._lock = threading.Lock()
        self._last_ms: dict[tuple[tuple[str, str], ...], int] = {}

    def export(self, request: OtlpRequest) -> ExportResult:
        """Translate, drop what Prometheus would refuse, snappy-compress and POST; never raises.

        Dropped points and skipped samples are reported as ``rejected_items`` (the pipeline counts and logs them).
        """
        if request.signal != "metrics":
            return ExportResult.success()
        try:
            series, metadata, dropped, reason = translate(request.decoded())
        except Exception as e:  # noqa: BLE001 - a request we cannot translate must not stop the collector
            return ExportResult.failed(f"cannot translate metrics for Prometheus: {type(e).__name__}: {e}")
        with self._lock:
            fresh, stale = self._newer_only(series)
            if stale:
                dropped += stale
                reason = reason or f"{stale} samples not newer than what this Prometheus already holds"
            if not fresh:
                return ExportResult.success(dropped, reason)
            body = bytes(cramjam.snappy.compress_raw(encode_write_request(fresh, metadata)))
            try:
                response = self._session.post(
                    self.endpoint,
                    data=body,
                    timeout=self.config.timeout_seconds,
                    verify=self._verify,
                    cert=self._cert or None,
                )
            except requests.RequestException as e:
                return ExportResult.retryable(f"POST {self.endpoint}: {type(e).__name__}: {e}")
            if 200 <= response.status_code < 300:
                self._remember(fresh)
                return ExportResult.success(dropped, reason)
        text = (response.text or response.reason or "").strip()[:_MAX_MESSAGE_CHARS]
        message = f"POST {self.endpoint}: HTTP {response.status_code}: {text}"
        if response.status_code in _RETRYABLE_HTTP:
            retry_after = response.headers.get("Retry-After", "")
            return ExportResult.retryable(message, float(retry_after) if retry_after.isdigit() else None)
        return ExportResult.failed(message)

    def shutdown(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def _newer_only(self, series: list[TimeSeries]) -> tuple[list[TimeSeries], int]:
        fresh, skipped = [], 0
        for ts in series:
            last = self._last_ms.get(ts.labels, -1)
            samples = sorted((s for s in ts.samples if s.timestamp_ms > last), key=lambda s: s.timestamp_ms)
            hists = sorted((h for h in ts.histograms if h.timestamp_ms > last), key=lambda h: h.timestamp_ms)
            samples, hists = _unique_times(samples), _unique_times(hists)
            skipped += len(ts.samples) + len(ts.histograms) - len(samples) - len(hists)
            if samples or hists:
                fresh.append(TimeSeries(ts.labels, samples, hists))
        return fresh, skipped

    def _remember(self, series: list[TimeSeries]) -> None:
        if len(self._last_ms) > _MAX_TRACKED_SERIES:
            self._last_ms.clear()  # bounded memory; at worst one later out-of-order request is refused
        for ts in series:
            times = [s.timestamp_ms for s in ts.samples] + [h.timestamp_ms for h in ts.histograms]
            self._last_ms[ts.labels] = max(times)


# ----------------------------------------------------------------------------------------------------------
# private helpers

_RESOURCE_KEYS_SANITISED = frozenset(_INVALID.sub("_", k) for k in _RESOURCE_LABELS)


def _unique_times(samples: list[Any]) -> list[Any]:
    """Keep the last sample of each timestamp (Prometheus refuses two values at one time)."""
    out: list[Any] = []
    for s in samples:
        if out and out[-1].timestamp_ms == s.timestamp_ms:
            out[-1] = s
        else:
            out.append(s)
    return out


def _value_text(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "array_value":
        return "[" + ",".join(_value_text(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        return "{" + ",".join(f"{kv.key}:{_value_text(kv.value)}" for kv in value.kvlist_value.values) + "}"
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return str(getattr(value, kind))


def _attributes(attributes: Iterable[Any]) -> dict[str, str]:
    return {kv.key: _value_text(kv.value) for kv in attributes}


def _labels(attributes: Iterable[Any]) -> dict[str, str]:
    """Attribute keys as label names; keys that collide after sanitising join their values with ``;``."""
    labels: dict[str, str] = {}
    for key, value in sorted(_attributes(attributes).items()):
        name = _INVALID.sub("_", key)
        if name[:1].isdigit():
            name = "key_" + name
        if not name or name.startswith("__"):
            name = "key" + name
        labels[name] = f"{labels[name]};{value}" if name in labels else value
    return labels


def _resource_labels(resource: dict[str, str]) -> dict[str, str]:
    labels = {}
    service = resource.get("service.name", "")
    namespace = resource.get("service.namespace", "")
    job = f"{namespace}/{service}" if namespace and service else service
    if job:
        labels["job"] = job
    if resource.get("service.instance.id"):
        labels["instance"] = resource["service.instance.id"]
    return labels


def _explicit(add: Any, name: str, labels: dict[str, str], point: Any, ms: int, stale: bool) -> None:
    bounds = [*point.explicit_bounds, math.inf]
    counts = list(point.bucket_counts) or [0] * len(bounds)
    cumulative = 0
    for bound, count in zip(bounds, counts):
        cumulative += count
        value = _STALE_NAN if stale else float(cumulative)
        add({**labels, "__name__": f"{name}_bucket", "le": _float_text(bound)}, Sample(value, ms))
    add({**labels, "__name__": f"{name}_count"}, Sample(_STALE_NAN if stale else float(point.count), ms))
    if point.HasField("sum"):
        add({**labels, "__name__": f"{name}_sum"}, Sample(_STALE_NAN if stale else point.sum, ms))


def _summary(add: Any, name: str, labels: dict[str, str], point: Any, ms: int, stale: bool) -> None:
    for q in point.quantile_values:
        value = _STALE_NAN if stale else q.value
        add({**labels, "__name__": name, "quantile": _float_text(q.quantile)}, Sample(value, ms))
    add({**labels, "__name__": f"{name}_count"}, Sample(_STALE_NAN if stale else float(point.count), ms))
    add({**labels, "__name__": f"{name}_sum"}, Sample(_STALE_NAN if stale else point.sum, ms))


def _native(point: Any, ms: int) -> NativeHistogram | None:
    """OTel exponential point → Prometheus native histogram; None when the scale is below −4."""
    scale = point.scale
    if scale < _MIN_SCHEMA:
        return None
    by = max(0, scale - _MAX_SCHEMA)
    pos_offset, pos = _downscale(point.positive.offset, list(point.positive.bucket_counts), by)
    neg_offset, neg = _downscale(point.negative.offset, list(point.negative.bucket_counts), by)
    return NativeHistogram(
        count=point.count,
        sum=point.sum if point.HasField("sum") else math.nan,
        schema=scale - by,
        zero_threshold=point.zero_threshold,
        zero_count=point.zero_count,
        positive_offset=pos_offset + 1,
        positive_counts=pos,
        negative_offset=neg_offset + 1,
        negative_counts=neg,
        timestamp_ms=ms,
    )


def _downscale(offset: int, counts: list[int], by: int) -> tuple[int, list[int]]:
    """Merge buckets ``2**by`` at a time: OTel index ``i`` becomes ``i >> by`` (floor, negatives included)."""
    if by == 0 or not counts:
        return offset, counts
    first, merged = downscale_buckets(offset, np.asarray(counts, dtype=np.uint64), by)
    return first, merged.tolist()


def _float_text(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
