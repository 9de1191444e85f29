"""Windows rebuilt from OTLP points: equal to the SDK's summaries, merged across replicas, reset-safe, bounded."""

from __future__ import annotations

import math

import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._points import read_points
from otel_mlmon_collector._windows import StreamKey, WindowConfig, WindowStats, WindowStore

from otel_mlmon import conventions as conv
from otel_mlmon.adapters import read_features
from otel_mlmon.sketch import ExponentialHistogram
from otel_mlmon.summary import Summary

from ._helpers import (
    CATEGORICAL,
    FEATURES,
    Replica,
    category_request,
    histogram_request,
    make_data,
    sum_request,
)

KEY = StreamKey("fraud", "1", "predict")
NOW = 1_800_000_000.0  # a multiple of 300 s: window boundaries fall on it
NS = 1_000_000_000


def _expected(batches: list[np.ndarray]) -> Summary:
    summary = Summary()
    for X in batches:
        summary.add_features(read_features(X, names=FEATURES, categorical=CATEGORICAL))
    return summary


def _assert_same_histogram(rebuilt: ExponentialHistogram, expected: ExponentialHistogram) -> None:
    assert rebuilt.scale == expected.scale
    assert rebuilt.count == expected.count and rebuilt.zero_count == expected.zero_count
    assert rebuilt.positive_offset == expected.positive_offset
    assert np.array_equal(rebuilt.positive_counts, expected.positive_counts)
    assert rebuilt.negative_offset == expected.negative_offset
    assert np.array_equal(rebuilt.negative_counts, expected.negative_counts)
    assert rebuilt.min == expected.min and rebuilt.max == expected.max
    assert math.isclose(rebuilt.sum, expected.sum, rel_tol=1e-12)


def _assert_same_summary(view: Summary, expected: Summary) -> None:
    assert view.rows == expected.rows
    assert set(view.features) == set(expected.features)
    for name, column in expected.features.items():
        got = view.features[name]
        assert got.kind == column.kind, name
        assert (got.missing, got.infinite, got.count) == (column.missing, column.infinite, column.count), name
        if column.numeric is not None:
            _assert_same_histogram(got.numeric, column.numeric)
        else:
            assert got.categorical.top() == column.categorical.top()
            assert got.categorical.other_count == column.categorical.other_count


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_rebuilt_sketches_equal_the_sdk_summaries(temporality: str) -> None:
    """Three exports of a monitored model rebuild exactly the summary of all rows it saw (numeric, categorical, missing)."""
    rng = np.random.default_rng(1)
    replica = Replica(temporality)
    store = WindowStore()
    batches = []
    for _ in range(3):
        X = make_data(rng, 700, missing=0.05)
        X[:3, 0] = np.inf
        batches.append(X)
        replica.predict(X)
        assert store.ingest(replica.export().message) > 0
    _assert_same_summary(store.view(KEY), _expected(batches))
    outputs = store.view(KEY).outputs["prediction"].categorical
    assert outputs.count == sum(len(X) for X in batches)
    replica.shutdown()


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_two_replicas_merge_into_one_stream(temporality: str) -> None:
    """Points of two replicas of the same model merge into one window holding the rows of both."""
    rng = np.random.default_rng(2)
    replicas = [Replica(temporality), Replica(temporality)]
    store = WindowStore()
    batches = []
    for _ in range(2):
        for replica in replicas:
            X = make_data(rng, 400)
            batches.append(X)
            replica.predict(X)
            store.ingest(replica.export().message)
    assert store.streams() == [KEY]
    _assert_same_summary(store.view(KEY), _expected(batches))
    for replica in replicas:
        replica.shutdown()


def test_restarted_replica_does_not_double_count() -> None:
    """A replica restarted under the same resource (new start time, counts from zero) adds only its new rows."""
    rng = np.random.default_rng(3)
    resource = {"service.name": "scorer", "service.instance.id": "pod-1"}
    first = Replica("cumulative", resource=resource)
    store = WindowStore()
    batches = []
    for n in (300, 500):
        X = make_data(rng, n)
        batches.append(X)
        first.predict(X)
        store.ingest(first.export().message)
    first.shutdown()
    second = Replica("cumulative", resource=resource)
    for n in (200, 100):
        X = make_data(rng, n)
        batches.append(X)
        second.predict(X)
        store.ingest(second.export().message)
    view = store.view(KEY)
    assert view.rows == 1100
    _assert_same_summary(view, _expected(batches))
    second.shutdown()


def test_count_going_down_within_a_series_is_a_reset() -> None:
    """A cumulative series whose total drops without a new start time is counted afresh, never negative."""
    store = WindowStore(clock=lambda: NOW)
    start = int((NOW - 100) * NS)
    for total, at in ((100, 10), (150, 20), (30, 30)):
        store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": total}, start, start + at * NS).message)
    assert store.view(StreamKey("fraud", None, "predict")).rows == 150 + 30
    assert store.stats.resets == 1


def test_long_running_series_first_point_is_only_a_baseline() -> None:
    """The first cumulative point of a series that started long before the collector counts nothing; later growth does."""
    store = WindowStore(clock=lambda: NOW)
    start = int((NOW - 86_400) * NS)
    store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": 10_000}, start, int((NOW - 60) * NS)).message)
    store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": 10_250}, start, int((NOW - 1) * NS)).message)
    assert store.view(StreamKey("fraud", None, "predict")).rows == 250
    assert store.stats.baseline_points == 1


def test_cumulative_histogram_difference_at_the_newer_scale() -> None:
    """Subtracting cumulative histograms downscales the older one and yields the histogram of the new values only."""
    rng = np.random.default_rng(4)
    early, late = rng.normal(100, 1, 500), rng.lognormal(3, 2, 500)
    cumulative = ExponentialHistogram()
    cumulative.update(early)
    store = WindowStore(clock=lambda: NOW)
    start = int((NOW - 120) * NS)
    store.ingest(histogram_request(cumulative.copy(), start, start + 10 * NS, "cumulative").message)
    cumulative.update(late)
    store.ingest(histogram_request(cumulative, start, start + 20 * NS, "cumulative").message)
    rebuilt = store.view(StreamKey("fraud", None, "predict")).features["amount"].numeric
    assert rebuilt.count == 1000 and rebuilt.scale == cumulative.scale
    assert np.array_equal(rebuilt.positive_counts, cumulative.positive_counts)
    assert rebuilt.min == cumulative.min and rebuilt.max == cumulative.max


def test_categorical_cumulative_counts_that_shrink_are_not_a_reset() -> None:
    """A top-K count lowered by pruning is not a reset: the increase of the total is what gets counted."""
    store = WindowStore(clock=lambda: NOW)
    start = int((NOW - 100) * NS)
    store.ingest(category_request({"a": 60, "b": 40}, start, start + 10 * NS).message)
    store.ingest(category_request({"a": 70, "b": 35, "__other__": 20}, start, start + 20 * NS).message)
    sketch = store.view(StreamKey("fraud", None, "predict")).features["country"].categorical
    assert sketch.count == 125
    assert dict(sketch.top())["a"] == 70
    assert store.stats.resets == 0


def test_points_fall_into_clock_aligned_windows_and_expire() -> None:
    """Windows are aligned to multiples of their length; the view covers the last N; older windows expire."""
    clock = [NOW + 10]
    config = WindowConfig(window_seconds=60, evaluation_windows=3, stream_ttl_seconds=10_000)
    store = WindowStore(config, clock=lambda: clock[0])
    key = StreamKey("fraud", None, "predict")
    for minutes_ago, rows in ((0, 1), (1, 10), (2, 100), (3, 1000)):
        t = int((NOW + 5 - 60 * minutes_ago) * NS)
        store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": rows}, t - NS, t, "delta").message)
    assert store.stats.late_points == 1  # four minutes' worth does not fit three windows
    assert store.view(key).rows == 111
    assert store.view(key, windows=1).rows == 1
    assert store.window_bounds() == (NOW - 120, NOW + 60)
    clock[0] += 120
    store.expire()
    assert store.view(key).rows == 1


def test_a_view_at_a_given_time_ignores_a_window_boundary_passing_since() -> None:
    """An evaluation reads every stream's view at its one ``now``: the clock moving on does not empty later views."""
    clock = [NOW + 10]
    config = WindowConfig(window_seconds=60, evaluation_windows=1, stream_ttl_seconds=10_000)
    store = WindowStore(config, clock=lambda: clock[0])
    key = StreamKey("fraud", None, "predict")
    t = int((NOW + 5) * NS)
    store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": 7}, t - NS, t, "delta").message)
    evaluation_now = clock[0]
    clock[0] += 60  # the next window opens while the evaluation runs
    assert store.view(key) is None
    assert store.view(key, now=evaluation_now).rows == 7


def test_quiet_streams_expire_and_the_stream_cap_holds() -> None:
    """Streams beyond max_streams are dropped and counted; a stream quiet for longer than the TTL disappears."""
    clock = [NOW]
    config = WindowConfig(max_streams=2, stream_ttl_seconds=600)
    store = WindowStore(config, clock=lambda: clock[0])
    t = int(NOW * NS)
    for model in ("a", "b", "c"):
        store.ingest(sum_request(conv.METRIC_SUMMARY_ROWS, {"": 5}, t - NS, t, "delta", model=model).message)
    assert sorted(k.model for k in store.streams()) == ["a", "b"]
    assert store.stats.dropped_streams == 1
    clock[0] += 601
    store.expire()
    assert store.streams() == []
    assert store.stats.expired_streams == 2


def test_points_without_a_model_or_with_bad_buckets_are_invalid() -> None:
    """A point without ml.model.name, or whose bucket counts do not add up to its count, is counted as invalid."""
    store = WindowStore(clock=lambda: NOW)
    t = int(NOW * NS)
    request = sum_request(conv.METRIC_SUMMARY_ROWS, {"": 5}, t - NS, t, "delta", model="")
    assert store.ingest(request.message) == 0
    hist = ExponentialHistogram()
    hist.update([1.0, 2.0, 3.0])
    bad = histogram_request(hist, t - NS, t)
    point = bad.message.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0]
    point.count = 7
    assert store.ingest(bad.message) == 0
    assert store.stats.invalid_points == 2


def test_config_rejects_bad_values() -> None:
    """Bad window settings raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match="window_seconds"):
        WindowConfig(window_seconds=0)
    with pytest.raises(ValueError, match="evaluation_windows"):
        WindowConfig(evaluation_windows=0)


def test_a_zeros_only_point_does_not_coarsen_its_window() -> None:
    """A feature that was all zeros in one export keeps its fine buckets when values follow in the same window."""
    rng = np.random.default_rng(8)
    zeros, values = ExponentialHistogram(), ExponentialHistogram()
    zeros.update(np.zeros(10))
    values.update(rng.lognormal(size=1000))
    store = WindowStore(clock=lambda: NOW)
    start = int((NOW - 100) * NS)
    store.ingest(histogram_request(zeros, start, start + 10 * NS, "delta").message)
    store.ingest(histogram_request(values, start + 10 * NS, start + 20 * NS, "delta").message)
    rebuilt = store.view(StreamKey("fraud", None, "predict")).features["amount"].numeric
    expected = zeros.copy()
    expected.merge(values)
    assert rebuilt.scale == values.scale and rebuilt.zero_count == 10
    _assert_same_histogram(rebuilt, expected)


def test_read_points_reads_every_summary_metric_by_the_conventions_table() -> None:
    """Each summary metric an SDK export holds is read back as its table entry says; a mistyped one is invalid."""
    replica = Replica("delta")
    replica.predict(make_data(np.random.default_rng(9), 200, missing=0.1))
    message = replica.export().message
    replica.shutdown()
    exported = {m.name for rm in message.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    counters = WindowStats()
    points = list(read_points(message, admit=lambda attrs: True, counters=counters))
    assert {p.series[1] for p in points} == exported & set(conv.SUMMARY_METRICS)
    assert {(p.series[1], p.section, p.kind) for p in points} == {
        (name, entry[0], entry[2]) for name, entry in conv.SUMMARY_METRICS.items() if name in exported
    }
    assert counters.invalid_points == 0 and counters.points == sum(p.points for p in points)
    bad = ExportMetricsServiceRequest()
    metric = bad.resource_metrics.add().scope_metrics.add().metrics.add(name=conv.METRIC_SUMMARY_ROWS)
    metric.gauge.data_points.add(as_int=1)
    assert list(read_points(bad, admit=lambda attrs: True, counters=counters)) == []
    assert counters.invalid_points == 1
