"""Issue 16, item 1: one stream's hostile or broken data never stops drift (or estimates) for the others.

The reproductions come first (each failed on the code before the fix): two delta points at scale -10 with bucket
offsets -2**31 and 2**31-1 in adjacent windows, and the same point merged into a live column. Then the memory
bounds of the window store (downscaling, category cap, series caps), fair admission at ``max_streams`` and the
per-stream guard of the evaluation. ``test_fuzzed_points_never_stop_healthy_streams`` is the hypothesis suite.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._windows import StreamKey, WindowConfig, WindowStore

from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from otel_mlmon.sketch import ExponentialHistogram

from ._helpers import FEATURES, Replica, category_request, histogram_request, make_data, sum_request

NOW = time.time()
WINDOW = 300.0


def _kv(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=str(v))) for k, v in attributes.items()]


def _exp_point(metric: Any, *, model: str, feature: str = "amount", time_ns: int, **fields: Any) -> Any:
    """Append an ``ml.feature.distribution`` data point with raw OTLP fields (no consistency enforced)."""
    positive = fields.pop("positive", None)
    negative = fields.pop("negative", None)
    point = metric.exponential_histogram.data_points.add(time_unix_nano=time_ns, **fields)
    if positive is not None:
        point.positive.offset, counts = positive
        point.positive.bucket_counts.extend(counts)
    if negative is not None:
        point.negative.offset, counts = negative
        point.negative.bucket_counts.extend(counts)
    point.attributes.extend(
        _kv({conv.ATTR_MODEL_NAME: model, conv.ATTR_OPERATION: "predict", conv.ATTR_FEATURE_NAME: feature})
    )
    return point


def _request(points: list[dict[str, Any]], temporality: str = "delta") -> OtlpRequest:
    message = ExportMetricsServiceRequest()
    sm = message.resource_metrics.add().scope_metrics.add()
    metric = sm.metrics.add(name=conv.METRIC_FEATURE_DISTRIBUTION)
    metric.exponential_histogram.aggregation_temporality = (
        metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        if temporality == "delta"
        else metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    for fields in points:
        _exp_point(metric, **fields)
    return OtlpRequest("metrics", message.SerializeToString(), message)


def _poison(model: str = "evil") -> list[OtlpRequest]:
    """The issue's 374-byte attack: scale -10, offsets -2**31 and 2**31 - 1, in adjacent windows."""
    first = int((NOW - WINDOW) * 1e9)
    second = int(NOW * 1e9)
    return [
        _request([dict(model=model, time_ns=first, scale=-10, count=1, positive=(-(2**31), [1]))]),
        _request([dict(model=model, time_ns=second, scale=-10, count=1, positive=(2**31 - 1, [1]))]),
    ]


def _reference(directory: Path, model: str = "fraud") -> None:
    rng = np.random.default_rng(7)
    X = make_data(rng, 5_000)
    Profile.from_data(
        X, X[:, 0] > 100, model=model, version="1", feature_names=FEATURES, categorical=["country"]
    ).save(directory / f"{model}.json")


def _engine(directory: Path, **windows: Any) -> DriftProcessor:
    config = DriftConfig(
        references_directory=str(directory),
        evaluation_interval_seconds=0,
        reference_poll_seconds=0,
        windows=WindowConfig(**windows),
    )
    return DriftProcessor(config, lambda request: None)


def _healthy(engine: DriftProcessor, model: str = "fraud", rows: int = 500) -> None:
    replica = Replica("delta", model=model)
    replica.predict(make_data(np.random.default_rng(3), rows))
    engine.process(replica.export())
    replica.shutdown()


def _evaluated_features(engine: DriftProcessor, model: str = "fraud") -> set[Any]:
    stream = engine.evaluate_now().stream(model)
    return {c.name for c in stream.columns if c.target == "feature"}


# ---------------------------------------------------------------------------------------------- reproductions
def test_the_issue_poison_request_does_not_stop_drift_for_other_models(tmp_path: Path) -> None:
    """Before the fix, merging the two windows raised in ``view`` and ``evaluate_now`` failed for every model."""
    _reference(tmp_path)
    engine = _engine(tmp_path)
    _healthy(engine)
    for request in _poison():
        assert len(request.payload) < 400
        engine.process(request)
    assert engine.windows.stats.invalid_points == 2  # refused at ingest: no finite value has those indices
    assert _evaluated_features(engine) == set(FEATURES)
    assert not engine.stream_failures


def test_the_issue_point_merged_into_a_live_column_leaves_it_consistent() -> None:
    """Before the fix, ``merge`` raised after ``count`` was incremented: count and buckets disagreed."""
    live = ExponentialHistogram.from_buckets(scale=-10, zero_count=0, count=3, positive_counts=[3])
    hostile = ExponentialHistogram.from_buckets(
        scale=-10, zero_count=0, count=1, positive_offset=2**31 - 1, positive_counts=[1]
    )
    before = live.copy()
    with pytest.raises(ValueError, match="below -10"):
        live.merge(hostile)
    assert live == before
    assert live.count == live.zero_count + int(live.positive_counts.sum()) + int(live.negative_counts.sum())
    # and through the window store: the hostile point never reaches the live column
    store = WindowStore(WindowConfig(), clock=lambda: NOW)
    t = int(NOW * 1e9)
    store.ingest(_request([dict(model="m", time_ns=t, scale=-10, count=3, positive=(0, [3]))]).message)
    store.ingest(
        _request([dict(model="m", time_ns=t, scale=-10, count=1, positive=(2**31 - 1, [1]))]).message
    )
    column = store.view(StreamKey("m", None, "predict")).features["amount"].numeric
    assert column.count == 3 == int(column.positive_counts.sum())


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (dict(scale=-11, count=1, positive=(0, [1])), "scale below -10"),
        (dict(scale=21, count=1, positive=(0, [1])), "scale above 20"),
        (dict(scale=0, count=1, positive=(5000, [1])), "index above the largest double's"),
        (dict(scale=0, count=1, negative=(-5000, [1])), "index below the smallest subnormal's"),
        (dict(scale=3, count=2, positive=(0, [1])), "counts that do not add up"),
        (dict(scale=3, count=2**62, positive=(0, [2**62])), "a count over the bound"),
        (dict(scale=3, count=1, positive=(0, [1]), min=float("-inf"), max=2.0), "a non-finite min"),
        (dict(scale=3, count=1, positive=(0, [1]), min=3.0, max=2.0), "min above max"),
        (dict(scale=3, count=20000, positive=(0, [1] * 20000)), "more buckets than any SDK sends"),
    ],
)
def test_hostile_points_are_refused_at_ingest(fields: dict[str, Any], why: str) -> None:
    store = WindowStore(WindowConfig(), clock=lambda: NOW)
    used = store.ingest(_request([dict(model="m", time_ns=int(NOW * 1e9), **fields)]).message)
    assert used == 0, why
    assert store.stats.invalid_points == 1, why
    assert store.streams() == [], why


def test_a_point_wider_than_max_size_is_downscaled_not_kept_at_its_size() -> None:
    """Before, ``max_size`` was raised to what the point carried: 16 384 buckets per column and window."""
    store = WindowStore(WindowConfig(max_size=160), clock=lambda: NOW)
    counts = [1] * 16384
    request = _request([dict(model="m", time_ns=int(NOW * 1e9), scale=20, count=16384, positive=(0, counts))])
    assert store.ingest(request.message) == 1
    hist = store.view(StreamKey("m", None, "predict")).features["amount"].numeric
    assert hist.count == 16384 and hist.positive_counts.size <= 160 and hist.max_size == 160


def test_non_finite_counts_are_invalid_and_the_rest_of_the_request_is_used() -> None:
    """Before, ``round(nan)`` raised and the points after it in the request were skipped."""
    message = ExportMetricsServiceRequest()
    sm = message.resource_metrics.add().scope_metrics.add()
    metric = sm.metrics.add(name=conv.METRIC_FEATURE_MISSING)
    metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    t = int(NOW * 1e9)
    for i, value in enumerate([math.nan, math.inf, -math.inf, 5.0]):
        point = metric.sum.data_points.add(time_unix_nano=t, as_double=value)
        point.attributes.extend(_kv({conv.ATTR_MODEL_NAME: "m", conv.ATTR_FEATURE_NAME: f"f{i}"}))
    store = WindowStore(WindowConfig(), clock=lambda: NOW)
    assert store.ingest(message) == 1
    assert store.stats.invalid_points == 3
    assert store.view(StreamKey("m", None, "")).features["f3"].missing == 5


def test_categories_beyond_max_point_categories_are_counted_as_other() -> None:
    """Before, a sketch kept every category a column sent (100 000 categories: +264 MiB)."""
    store = WindowStore(WindowConfig(max_categories=4, max_point_categories=8), clock=lambda: NOW)
    t = int(NOW * 1e9)
    counts = {f"c{i}": 1000 - i for i in range(500)}
    store.ingest(category_request(counts, t - 10**9, t, "delta").message)
    sketch = store.view(StreamKey("fraud", None, "predict")).features["country"].categorical
    assert len(sketch.top()) <= 8
    assert sketch.count == sum(counts.values())


def test_cumulative_series_are_capped_per_stream_and_overall() -> None:
    """Before, every new cumulative series was remembered (100 000 series: +221 MiB)."""
    store = WindowStore(WindowConfig(max_series=30, max_series_per_stream=10), clock=lambda: NOW)
    t = int(NOW * 1e9)
    for model in ("a", "b", "c", "d"):
        for replica in range(15):
            request = sum_request(
                conv.METRIC_SUMMARY_ROWS, {"": 5}, t - 10**9, t, "cumulative", model=model,
                resource={"service.instance.id": f"r{replica}"},
            )  # fmt: skip
            store.ingest(request.message)
    assert len(store._series) == 30
    assert all(len(owned) <= 10 for owned in store._series_of.values())
    assert store.stats.dropped_series == 4 * 15 - 30


def test_cells_and_categories_are_bounded_over_all_streams_and_released_on_expiry() -> None:
    """``max_cells`` bounds the columns of all windows; ``max_categories_total`` the categories of all sketches."""
    clock = [NOW]
    store = WindowStore(
        WindowConfig(max_cells=5, max_categories_total=50, evaluation_windows=2, window_seconds=60),
        clock=lambda: clock[0],
    )
    t = int(NOW * 1e9)
    for model in ("a", "b", "c"):
        for feature in ("x", "y"):
            request = sum_request(
                conv.METRIC_FEATURE_MISSING, {"": 1}, t - 10**9, t, "delta", model=model,
                extra={conv.ATTR_FEATURE_NAME: feature},
            )  # fmt: skip
            store.ingest(request.message)
    assert store._cells == 5 and store.stats.dropped_cells == 1
    categories = WindowStore(WindowConfig(max_categories_total=50), clock=lambda: clock[0])
    for store_ in (store, categories):
        store_.ingest(category_request({f"c{i}": 1 for i in range(20)}, t - 10**9, t, "cumulative").message)
        store_.ingest(category_request({f"d{i}": 1 for i in range(20)}, t - 10**9, t, "cumulative").message)
    assert categories.stats.dropped_categories == 20  # the second point (20 OTLP points): 20 + 2 x 20 > 50
    assert categories._categories == 40  # the first one's series and its column
    clock[0] = NOW + 7200 * 2  # everything expires: the bounds are free again
    store.expire()
    assert (store._cells, store._categories, len(store._series)) == (0, 0, 0)


# ---------------------------------------------------------------------------------------------- admission
def test_a_flood_of_made_up_models_does_not_lock_out_a_model_with_a_reference(tmp_path: Path) -> None:
    """Before, 1 000 made-up model names filled ``max_streams`` and real new models were refused for 2 h."""
    _reference(tmp_path)
    engine = _engine(tmp_path, max_streams=50)
    engine.evaluate_now()  # references are loaded by the evaluation, as in a running collector
    t = int(NOW * 1e9)
    message = ExportMetricsServiceRequest()
    for i in range(1000):
        request = sum_request(conv.METRIC_SUMMARY_ROWS, {"": 1}, t - 10**9, t, "delta", model=f"junk{i}")
        message.MergeFrom(request.message)
    engine.process(OtlpRequest("metrics", message.SerializeToString(), message))
    assert len(engine.windows) == 50
    _healthy(engine)  # a newcomer with a reference takes the place of the least recently active junk stream
    assert StreamKey("fraud", "1", "predict") in engine.windows.streams()
    assert engine.windows.stats.evicted_streams == 1
    assert _evaluated_features(engine) == set(FEATURES)
    # a newcomer without a reference does not push out streams active in this window
    engine.process(sum_request(conv.METRIC_SUMMARY_ROWS, {"": 1}, t - 10**9, t, "delta", model="more junk"))
    assert StreamKey("more junk", None, "predict") not in engine.windows.streams()


def test_a_stream_with_a_reference_is_never_evicted_for_another(tmp_path: Path) -> None:
    _reference(tmp_path, "fraud")
    _reference(tmp_path, "churn")
    engine = _engine(tmp_path, max_streams=1)
    engine.evaluate_now()
    _healthy(engine, "fraud")
    _healthy(engine, "churn")
    assert engine.windows.streams() == [StreamKey("fraud", "1", "predict")]
    assert engine.windows.stats.dropped_streams > 0


def test_a_quiet_stream_without_reference_makes_room_for_any_newcomer() -> None:
    clock = [NOW]
    store = WindowStore(WindowConfig(max_streams=1, window_seconds=60), clock=lambda: clock[0])
    for model, at in (("old", NOW), ("new", NOW + 120)):
        clock[0] = at
        t = int(at * 1e9)
        store.ingest(
            sum_request(conv.METRIC_SUMMARY_ROWS, {"": 1}, t - 10**9, t, "delta", model=model).message
        )
    assert [k.model for k in store.streams()] == ["new"]


# ---------------------------------------------------------------------------------------------- guards
def test_a_stream_that_fails_is_counted_and_logged_with_its_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever breaks one stream's view (a bug the ingest checks missed), the others are evaluated."""
    _reference(tmp_path, "fraud")
    _reference(tmp_path, "churn")
    engine = _engine(tmp_path)
    _healthy(engine, "fraud")
    _healthy(engine, "churn")
    real_view = engine.windows.view

    def view(key: StreamKey, *args: Any, **kwargs: Any) -> Any:
        if key.model == "churn":
            raise ValueError("by must be in [0, 0] at scale -10")
        return real_view(key, *args, **kwargs)

    monkeypatch.setattr(engine.windows, "view", view)
    with caplog.at_level(logging.ERROR, logger="otel_mlmon_collector._drift_engine"):
        evaluation = engine.evaluate_now()
    assert [s.key.model for s in evaluation.streams] == ["fraud"]
    assert engine.stream_failures == {("churn", "1", "view"): 1}
    assert any("'churn'" in r.getMessage() and "view failed" in r.getMessage() for r in caplog.records)


def test_a_failing_merge_point_is_counted_and_the_request_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    store = WindowStore(WindowConfig(), clock=lambda: NOW)
    t = int(NOW * 1e9)
    hist = ExponentialHistogram()
    hist.update([1.0, 2.0])
    store.ingest(histogram_request(hist, t - 10**9, t, model="m").message)

    def broken(self: ExponentialHistogram, other: ExponentialHistogram) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(ExponentialHistogram, "merge", broken)
    message = histogram_request(hist, t - 10**9, t, model="m").message
    message.MergeFrom(
        sum_request(conv.METRIC_SUMMARY_ROWS, {"": 7}, t - 10**9, t, "delta", model="m").message
    )
    assert store.ingest(message) == 1  # the rows point after the failing one
    assert store.stats.failed_points == 1
    monkeypatch.undo()
    assert store.view(StreamKey("m", None, "predict")).features["amount"].numeric.count == 2


# ---------------------------------------------------------------------------------------------- fuzz
_INT64 = st.integers(-(2**63), 2**63 - 1)
_UINT64 = st.one_of(st.integers(0, 10), st.integers(0, 2**64 - 1))
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none())
_hostile_point = st.fixed_dictionaries(
    {
        "scale": st.one_of(st.integers(-12, 22), st.integers(-(2**31), 2**31 - 1)),
        "zero_count": _UINT64,
        "count": _UINT64,
        "positive": st.tuples(
            st.one_of(st.integers(-3000, 3000), st.integers(-(2**31), 2**31 - 1)),
            st.lists(_UINT64, max_size=40),
        ),
        "negative": st.tuples(
            st.one_of(st.integers(-3000, 3000), st.integers(-(2**31), 2**31 - 1)),
            st.lists(_UINT64, max_size=40),
        ),
        "sum": _FLOATS,
        "min": _FLOATS,
        "max": _FLOATS,
        "window": st.integers(0, 13),
        "model": st.sampled_from(["evil", "fraud"]),
        "cumulative": st.booleans(),
        "consistent": st.booleans(),
    }
)
_hostile_count = st.fixed_dictionaries(
    {
        "value": st.one_of(st.floats(allow_nan=True, allow_infinity=True), _INT64),
        "metric": st.sampled_from(
            [conv.METRIC_FEATURE_MISSING, conv.METRIC_SUMMARY_ROWS, conv.METRIC_FEATURE_CATEGORY_COUNT]
        ),
        "window": st.integers(0, 13),
    }
)


def _fuzz_request(points: list[dict[str, Any]], counts: list[dict[str, Any]]) -> ExportMetricsServiceRequest:
    message = ExportMetricsServiceRequest()
    sm = message.resource_metrics.add().scope_metrics.add()
    for cumulative in (False, True):
        metric = sm.metrics.add(name=conv.METRIC_FEATURE_DISTRIBUTION)
        metric.exponential_histogram.aggregation_temporality = (
            metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            if cumulative
            else metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        )
        for p in (p for p in points if p["cumulative"] == cumulative):
            fields = {k: p[k] for k in ("scale", "zero_count", "count", "positive", "negative")}
            if p["consistent"]:  # counts that add up, so the deeper checks are reached
                fields["count"] = (p["zero_count"] + sum(p["positive"][1]) + sum(p["negative"][1])) % 2**64
            for name in ("sum", "min", "max"):
                if p[name] is not None:
                    fields[name] = p[name]
            t = int((NOW - p["window"] * WINDOW) * 1e9)
            _exp_point(metric, model=p["model"], time_ns=t, start_time_unix_nano=t - 10**9, **fields)
    for c in counts:
        metric = sm.metrics.add(name=c["metric"])
        metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        t = int((NOW - c["window"] * WINDOW) * 1e9)
        point = metric.sum.data_points.add(time_unix_nano=t, start_time_unix_nano=t - 10**9)
        if isinstance(c["value"], float):
            point.as_double = c["value"]
        else:
            point.as_int = c["value"]
        attrs = {
            conv.ATTR_MODEL_NAME: "evil",
            conv.ATTR_FEATURE_NAME: "amount",
            conv.ATTR_FEATURE_CATEGORY: "x",
        }
        point.attributes.extend(_kv(attrs))
    return message


@pytest.fixture(scope="module")
def fuzz_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz-references")
    _reference(directory)
    return directory


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=st.lists(_hostile_point, max_size=6), counts=st.lists(_hostile_count, max_size=4))
def test_fuzzed_points_never_stop_healthy_streams(
    fuzz_directory: Path, points: list[dict[str, Any]], counts: list[dict[str, Any]]
) -> None:
    """Any OTLP points, merged into live columns of a healthy model too: its drift is still evaluated."""
    engine = _engine(fuzz_directory)
    engine.windows.clock = lambda: NOW
    _healthy(engine, rows=300)
    message = _fuzz_request(points, counts)
    engine.process(OtlpRequest("metrics", message.SerializeToString(), message))
    engine.process(OtlpRequest("metrics", message.SerializeToString(), message))  # again: merged into itself
    _healthy(engine, rows=300)
    evaluation = engine.evaluate_now()
    assert not engine.stream_failures
    assert engine.windows.stats.failed_points == engine.windows.stats.failed_columns == 0
    stream = evaluation.stream("fraud")
    assert stream.rows >= 600
    assert {c.name for c in stream.columns if c.target == "feature"} >= {"age", "score", "country"}
