"""Feature and prediction summaries: what sampled calls contribute, how it is exported, and what it never breaks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults
from otel_mlmon.summary import SummaryConfig
from otel_mlmon.testing import InMemoryTelemetry
from tests.sdk.sketch._oracle import sdk_aggregate


def _feature(telemetry, metric, feature, data=None):
    return telemetry.points(metric, {conv.ATTR_FEATURE_NAME: feature}, data=data)


def test_numeric_features_export_as_exponential_histograms_equal_to_the_sdk(telemetry):
    """Each numeric feature becomes one ml.feature.distribution point, bucket for bucket what the SDK would make."""
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=[0, 100], scale=[1, 30], size=(20, 2)) for _ in range(5)]

    @otel_mlmon.monitor(model="m", feature_names=["signed", "amount"], **telemetry.providers)
    def predict(X):
        return X[:, 0] > 0

    for X in batches:
        predict(X)
    data = telemetry.collect()
    for j, name in enumerate(["signed", "amount"]):
        (point,) = _feature(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, name, data)
        oracle = sdk_aggregate(np.concatenate(batches)[:, j])
        assert (point.count, point.scale, point.zero_count) == (oracle.count, oracle.scale, oracle.zero_count)
        assert (point.positive.offset, tuple(point.positive.bucket_counts)) == (
            oracle.positive_offset,
            oracle.positive_counts,
        )
        if oracle.negative_counts:
            assert (point.negative.offset, tuple(point.negative.bucket_counts)) == (
                oracle.negative_offset,
                oracle.negative_counts,
            )
        assert point.min == oracle.min and point.max == oracle.max
        assert point.sum == pytest.approx(oracle.sum)
    assert _feature(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "signed", data)[0].negative.bucket_counts


def test_missing_infinite_and_categories_are_counted(telemetry):
    """None/NaN count as missing, ±inf apart, categorical strings as top-K categories with __other__ (declared,
    since four values are too few for the kind rule to decide on)."""
    rows = [
        {"amount": 10.0, "country": "FR", "age": None},
        {"amount": float("inf"), "country": "DE", "age": 30},
        {"amount": float("nan"), "country": "FR", "age": 41},
        {"amount": 3.0, "country": None, "age": 52},
    ]

    @otel_mlmon.monitor(model="m", categorical=["country"], **telemetry.providers)
    def predict(records):
        return ["ok"] * len(records)

    predict(rows)
    data = telemetry.collect()
    missing = {
        p.attributes[conv.ATTR_FEATURE_NAME]: p.value
        for p in telemetry.points(conv.METRIC_FEATURE_MISSING, data=data)
    }
    assert missing == {"amount": 1, "country": 1, "age": 1}
    (inf,) = _feature(telemetry, conv.METRIC_FEATURE_INFINITE, "amount", data)
    assert inf.value == 1
    assert _feature(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "amount", data)[0].count == 2
    categories = {
        p.attributes[conv.ATTR_FEATURE_CATEGORY]: p.value
        for p in _feature(telemetry, conv.METRIC_FEATURE_CATEGORY_COUNT, "country", data)
    }
    assert categories == {"FR": 2, "DE": 1}
    (classes,) = telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT, data=data)
    assert (classes.attributes[conv.ATTR_PREDICTION_CLASS], classes.value) == ("ok", 4)


def test_probabilities_give_classes_and_confidence(telemetry):
    """A predict_proba matrix gives predicted class counts (via classes_) and a confidence histogram per class."""

    class Model:
        classes_ = np.array(["cat", "dog"])
        feature_names_in_ = np.array(["weight", "height"])

        @otel_mlmon.monitor(model="pets", **telemetry.providers)
        def predict_proba(self, X):
            p = np.clip(X[:, 0] / 10, 0, 1)
            return np.column_stack([1 - p, p])

    Model().predict_proba(np.array([[1.0, 5.0], [9.0, 5.0], [8.0, 1.0]]))
    data = telemetry.collect()
    classes = {
        p.attributes[conv.ATTR_PREDICTION_CLASS]: p.value
        for p in telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT, data=data)
    }
    assert classes == {"cat": 1, "dog": 2}
    confidence = {
        p.attributes[conv.ATTR_PREDICTION_CLASS]: p
        for p in telemetry.points(conv.METRIC_PREDICTION_CONFIDENCE, data=data)
    }
    assert set(confidence) == {"cat", "dog"}
    assert (confidence["cat"].count, confidence["cat"].sum) == (1, pytest.approx(0.9))
    assert (confidence["dog"].count, confidence["dog"].sum) == (2, pytest.approx(1.7))  # 0.9 + 0.8
    names = {
        p.attributes[conv.ATTR_FEATURE_NAME]
        for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, data=data)
    }
    assert names == {"weight", "height"}


def test_single_row_calls_are_stacked_and_equal_one_batch():
    """Many one-row calls give the same summaries as one call with all the rows."""
    rng = np.random.default_rng(2)
    X = rng.lognormal(size=(300, 3))
    one_by_one, batched = InMemoryTelemetry(), InMemoryTelemetry()

    def model(x):
        return np.atleast_2d(x)[:, 0] * 2

    single = otel_mlmon.monitor(model="m", **one_by_one.providers)(model)
    batch = otel_mlmon.monitor(model="m", **batched.providers)(model)
    for row in X:
        single(row)
    batch(X)
    for metric in (conv.METRIC_FEATURE_DISTRIBUTION, conv.METRIC_PREDICTION_DISTRIBUTION):
        a = sorted(one_by_one.points(metric), key=lambda p: sorted(p.attributes.items()))
        b = sorted(batched.points(metric), key=lambda p: sorted(p.attributes.items()))
        assert len(a) == len(b) > 0
        for pa, pb in zip(a, b):
            assert (pa.count, pa.scale, list(pa.positive.bucket_counts)) == (
                pb.count,
                pb.scale,
                list(pb.positive.bucket_counts),
            )


def test_sample_rate_follows_trace_ids_and_counts_honestly(telemetry):
    """With sample_rate, summaries hold about that share of calls; inference metrics still count every call."""

    @otel_mlmon.monitor(model="m", sample_rate=0.25, **telemetry.providers)
    def predict(X):
        return X

    for _ in range(2000):
        predict([[1.0]])
    data = telemetry.collect()
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS, data=data)
    assert 400 <= rows.value <= 600  # binomial(2000, 0.25): mean 500, sd 19
    assert telemetry.points(conv.METRIC_PREDICTIONS, data=data)[0].value == 2000
    # the rule is the TraceIdRatioBased one: a summarised call's trace would be kept by a 0.25 ratio sampler
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    sampler = TraceIdRatioBased(0.25)
    kept = [s for s in telemetry.spans() if (s.context.trace_id & (2**64 - 1)) < sampler.bound]
    assert len(kept) == rows.value


def test_max_rows_caps_rows_per_call(telemetry):
    """A huge batch contributes at most max_rows rows, chosen at random."""

    @otel_mlmon.monitor(model="m", max_rows=100, **telemetry.providers)
    def predict(X):
        return X[:, 0]

    predict(np.arange(10_000, dtype=float).reshape(-1, 1))
    data = telemetry.collect()
    (dist,) = telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION, data=data)
    assert dist.count == 100
    assert dist.max - dist.min > 5000  # spread over the whole batch, not the first rows
    (pred,) = telemetry.points(conv.METRIC_PREDICTION_DISTRIBUTION, data=data)
    assert pred.count == 100


def test_unreadable_input_is_a_fault_not_an_error(telemetry):
    """An input no adapter reads leaves the call's result alone and counts a 'features' fault."""
    before = faults.counts().get("features", 0)

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return 42

    assert predict(np.zeros((2, 2, 2))) == 42  # 3-D arrays are not a feature table
    telemetry.collect()
    assert faults.counts()["features"] == before + 1


def test_features_argument_by_name_and_outputs_by_key(telemetry):
    """features= picks a named argument, outputs= a key of a dict result."""

    @otel_mlmon.monitor(model="m", features="rows", outputs="scores", **telemetry.providers)
    def predict(request_id, rows, threshold=0.5):
        return {"id": request_id, "scores": [r["x"] * 2 for r in rows]}

    predict("req-1", [{"x": 1.0}, {"x": 2.0}])
    predict("req-2", rows=[{"x": 3.0}])
    data = telemetry.collect()
    assert _feature(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "x", data)[0].count == 3
    (scores,) = telemetry.points(conv.METRIC_PREDICTION_DISTRIBUTION, data=data)
    assert (scores.count, scores.max) == (3, 6.0)


def test_features_name_must_exist():
    """features= naming an argument the function lacks fails at decoration."""
    with pytest.raises(ValueError, match="no such argument"):

        @otel_mlmon.monitor(model="m", features="inputs")
        def predict(X):
            return X


def test_delta_readers_get_each_interval_once(delta_telemetry):
    """With delta temporality, each collection holds only the rows since the previous one."""

    @otel_mlmon.monitor(model="m", **delta_telemetry.providers)
    def predict(X):
        return X[:, 0]

    predict(np.ones((5, 1)))
    first = delta_telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)
    predict(np.ones((3, 1)))
    second = delta_telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)
    assert [p.count for p in first] == [5] and [p.count for p in second] == [3]
    assert delta_telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION) == []


def test_summaries_off(telemetry):
    """summaries=False emits inference metrics only."""

    @otel_mlmon.monitor(model="m", summaries=False, **telemetry.providers)
    def predict(X):
        return X

    predict(np.ones((2, 2)))
    assert telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION) == []
    assert telemetry.points(conv.METRIC_PREDICTIONS)[0].value == 2


def test_prometheus_reader_keeps_every_other_metric(monkeypatch):
    """A Prometheus reader beside ours still serves its page: exponential histograms are kept away from it."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client import core as prometheus_core

    registry = CollectorRegistry()
    monkeypatch.setattr(prometheus_core, "REGISTRY", registry)
    import opentelemetry.exporter.prometheus as prometheus_module

    monkeypatch.setattr(prometheus_module, "REGISTRY", registry, raising=False)
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registry.register(reader._collector)

    @otel_mlmon.monitor(model="m", trace=False, meter_provider=provider)
    def predict(X):
        return X[:, 0]

    predict(np.random.default_rng(0).normal(size=(50, 3)))
    page = generate_latest(registry).decode()
    assert "ml_inference_duration_seconds_bucket" in page
    assert "ml_feature_missing" in page
    assert "ml_feature_distribution" not in page

    # Without the guard the exporter fails the whole page (the fault this protects users from).
    from otel_mlmon import _bridge

    monkeypatch.setattr(_bridge, "_accepts_exponential", lambda reader: True)
    predict(np.ones((2, 3)))
    with pytest.raises(Exception):  # noqa: B017 - whatever the exporter raises, the page is lost
        generate_latest(registry)
    provider.shutdown()


def test_single_row_call_with_probability_vector(telemetry):
    """A one-row call returning a 1-D probability vector counts one predicted class, not k rows."""

    @otel_mlmon.monitor(model="m", classes=["a", "b", "c"], **telemetry.providers)
    def predict_proba(x):
        return np.array([0.2, 0.7, 0.1])

    predict_proba(np.array([1.0, 2.0]))
    data = telemetry.collect()
    (point,) = telemetry.points(conv.METRIC_PREDICTION_CLASS_COUNT, data=data)
    assert (point.attributes[conv.ATTR_PREDICTION_CLASS], point.value) == ("b", 1)
    assert telemetry.points(conv.METRIC_PREDICTION_CONFIDENCE, data=data)[0].max == pytest.approx(0.7)


def test_collection_waits_for_a_fold_in_flight():
    """Rows handed to the background folder just before a collection are in that collection, never lost."""
    from otel_mlmon._summarize import SummaryStream

    for _ in range(10):
        telemetry = InMemoryTelemetry()

        @otel_mlmon.monitor(model="m", trace=False, **telemetry.providers)
        def predict(X):
            return X[:, 0]

        for _ in range(SummaryStream.FOLD_AT):  # the last call wakes the folder thread
            predict(np.ones((1, 2)))
        (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
        assert rows.value == SummaryStream.FOLD_AT
        telemetry.shutdown()


def test_a_waiting_collection_folds_the_buffer_in_one_step_not_behind_the_folder():
    """While a collection waits for the gate, the folder's steps leave the buffer to it: the collection folds every
    call in one step (cheaper than several) and does not wait for further folder steps."""
    from otel_mlmon._lifecycle import folder
    from otel_mlmon._summarize import SummaryStream

    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(), max_rows=None)
    for _ in range(5):
        stream.offer(np.ones((10, 3)), np.zeros(10))
    folder.gate.acquire()  # a fold in flight holds the gate
    try:
        collecting = threading.Thread(target=lambda: result.append(stream.swap()))
        result: list = []
        collecting.start()
        deadline = time.monotonic() + 10
        while not stream._collecting and time.monotonic() < deadline:
            time.sleep(0.001)
        assert stream._collecting == 1
        assert stream.fold(2) == 0  # the folder's next step: nothing folded, nothing said to be left
        assert len(stream._buffer) == 5
    finally:
        folder.gate.release()
    collecting.join(10)
    assert result[0].rows == 50
    assert stream._collecting == 0 and not stream._buffer
    stream.offer(np.ones((10, 3)), np.zeros(10))
    assert stream.fold(2) == 0 and not stream._buffer  # with no collection waiting, folder steps fold
    assert stream.swap().rows == 10


def test_large_numpy_input_is_sampled_before_it_is_copied():
    """A call with far more rows than max_rows buffers a copy of max_rows rows only (and their outputs), so a
    large batch costs the summaries a bounded amount of memory."""
    from otel_mlmon._summarize import SummaryStream
    from otel_mlmon.summary import SummaryConfig

    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(), max_rows=1000, seed=1)
    X = np.arange(200_000 * 10, dtype=np.float64).reshape(200_000, 10)  # 16 MB
    y = X[:, 0].copy()
    stream.offer(X, y)
    assert stream.buffered_bytes < 1000 * 11 * 8 + 1024  # 1 000 rows of 10 features + 1 output, not 16 MB
    ((features, outputs, _),) = stream._buffer
    assert features.shape == (1000, 10) and not np.shares_memory(features, X)
    np.testing.assert_array_equal(outputs, features[:, 0])  # each kept row keeps its own output
    X[:] = -1  # the caller reuses its buffer: the summaries keep what was passed
    summary = stream.swap()
    assert summary.rows == 1000
    assert summary.features["f0"].numeric.min >= 0


def test_buffer_is_bounded_in_bytes_and_overflow_is_counted():
    """Calls that would take the buffer beyond max_buffer_bytes are left out and counted as summaries_overflow,
    and the buffer never holds more than the bound."""
    from otel_mlmon._summarize import SummaryStream
    from otel_mlmon.summary import SummaryConfig

    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(max_buffer_bytes=200_000), max_rows=None)
    before = faults.counts().get("summaries_overflow", 0)
    for _ in range(5):
        stream.offer(np.ones((1000, 10)), None)  # 80 kB each
    assert stream.buffered_bytes <= 200_000
    assert len(stream._buffer) == 2
    assert faults.counts().get("summaries_overflow", 0) - before == 3
    assert stream.swap().rows == 2000
    assert stream.buffered_bytes == 0


def test_max_buffer_bytes_must_be_positive():
    """A buffer bound that is not a positive int is refused at construction, naming the parameter."""
    from otel_mlmon.summary import SummaryConfig

    with pytest.raises(ValueError, match="max_buffer_bytes"):
        SummaryConfig(max_buffer_bytes=0)


def test_scalar_tight_loop_loses_no_call():
    """A tight loop of scalar calls, faster than the folder folds them, keeps every call in the summaries: the
    buffer holds them (bounded in bytes) until the folder or the next collection catches up."""
    telemetry = InMemoryTelemetry()

    @otel_mlmon.monitor(model="m", trace=False, **telemetry.providers)
    def predict(x):
        return x

    before = faults.counts().get("summaries_overflow", 0)
    for i in range(20_000):  # more than the 8 192 calls the old count bound allowed
        predict(i % 7)
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 20_000
    assert faults.counts().get("summaries_overflow", 0) == before
    telemetry.shutdown()


def test_large_tensor_batch_is_cut_to_max_rows_on_its_device():
    """A tensor batch of more than max_rows rows is buffered as a row sample taken by indexing the tensor (a
    gather on its device), with each kept row's output: no host copy in the predict call, and the buffer holds
    max_rows rows, not the batch."""
    from otel_mlmon._summarize import SummaryStream
    from otel_mlmon.summary import SummaryConfig
    from tests.sdk.adapters.test_tensor import DeviceTensor

    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(), max_rows=100, seed=3)
    data = np.arange(50_000 * 4, dtype=np.float64).reshape(50_000, 4)
    DeviceTensor.conversions = 0
    stream.offer(DeviceTensor(data), DeviceTensor(data[:, 0].copy()))
    ((features, outputs, _),) = stream._buffer
    assert DeviceTensor.conversions == 0  # sampled on the device, nothing copied to the host yet
    assert features.shape == (100, 4) and outputs.shape == (100,)
    np.testing.assert_array_equal(outputs._data, features._data[:, 0])  # rows keep their own outputs
    assert stream.buffered_bytes < 100 * 5 * 8 + 1024
    summary = stream.swap()
    assert summary.rows == 100 and summary.outputs["prediction"].count == 100
    small = DeviceTensor(data[:10])
    stream.offer(small, None)
    assert stream._buffer[0][0] is small  # at most max_rows rows: kept as it is


def _approx_equal(a, b, path="summary"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, a, b)
        for k in a:
            _approx_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _approx_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, nan_ok=True), path  # sums in another order
    else:
        assert a == b, (path, a, b)


def test_reads_held_across_fold_steps_summarise_like_each_call_alone():
    """Reads with the same columns are held and added to the sketches together (across fold steps, up to the
    next collection); the result equals adding every call on its own, also when the columns change midway."""
    pd = pytest.importorskip("pandas")

    from otel_mlmon._summarize import SummaryStream
    from otel_mlmon.adapters import read_features, read_outputs
    from otel_mlmon.summary import Summary, SummaryConfig

    rng = np.random.default_rng(5)
    calls = []
    for i in range(300):
        row = {"a": float(rng.normal()), "b": int(rng.integers(0, 5)), "c": ["x", "y", "z"][i % 3]}
        if i < 120:
            calls.append((row, float(rng.normal())))
        elif i < 200:
            calls.append((pd.DataFrame([row]), np.array([rng.random()])))
        elif i < 210:
            calls.append((np.array([[row["a"], row["b"]]]), np.array([[0.2, 0.8]])))  # other columns
        else:
            calls.append((row, float(rng.normal())))
    stream = SummaryStream({"ml.model.name": "m"}, SummaryConfig(), max_rows=None)
    stream.PENDING_ROWS = 64  # several additions of held reads, and reads held across steps
    for features, outputs in calls:
        stream.offer(features, outputs)
    while stream.fold(max_entries=17):
        pass
    folded = stream.swap()

    alone = Summary(SummaryConfig())
    for features, outputs in calls:
        if type(outputs) is np.ndarray and outputs.ndim == 1 and outputs.shape[0] > 1:
            outputs = outputs.reshape(1, -1)
        alone.add_features(read_features(features))
        alone.add_outputs(read_outputs(outputs))
    assert folded.rows == alone.rows == 300
    _approx_equal(alone.to_dict(), folded.to_dict())
