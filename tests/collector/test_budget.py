"""The category budget: at most N + 1 stable category series per column reach the exporters, totals stay exact,
cumulative series stay monotonic, and the processors (drift engine) still see every category."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._config_reader import ConfigError
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._service import Collector

from otel_mlmon import conventions as conv

from .conftest import collector_config

N = 10
DELTA, CUMULATIVE = 1, 2
START = 1_700_000_000 * 10**9
STEP = 10 * 10**9


class _Recorder:
    """A processor that records the categories of every request it observes (what the drift engine sees)."""

    name = "recorder"

    def __init__(self) -> None:
        self.categories: dict[tuple[str, str], set[str]] = {}

    def process(self, request: OtlpRequest) -> None:
        for _, metric, column, category, _, _ in _points(request.decoded()):
            self.categories.setdefault((metric, column), set()).add(category)

    def shutdown(self) -> None:
        pass


def _points(
    message: ExportMetricsServiceRequest,
) -> Iterator[tuple[str, str, str, str, int, tuple[int, int]]]:
    """(instance, metric, column, category, value, (start, time)) of every category point."""
    labels = {
        conv.METRIC_FEATURE_CATEGORY_COUNT: conv.ATTR_FEATURE_CATEGORY,
        conv.METRIC_PREDICTION_CLASS_COUNT: conv.ATTR_PREDICTION_CLASS,
    }
    for rm in message.resource_metrics:
        resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name not in labels:
                    continue
                for p in metric.sum.data_points:
                    attrs = {kv.key: kv.value.string_value for kv in p.attributes}
                    column = attrs.get(conv.ATTR_FEATURE_NAME) or attrs.get(conv.ATTR_OUTPUT_NAME, "")
                    yield (
                        resource.get("service.instance.id", ""),
                        metric.name,
                        column,
                        attrs[labels[metric.name]],
                        p.as_int,
                        (p.start_time_unix_nano, p.time_unix_nano),
                    )


def _request(
    columns: dict[tuple[str, str], dict[str, int]],
    temporality: int,
    time_ns: int,
    start_ns: int = START,
    instance: str = "pod-1",
) -> bytes:
    """A metrics request as the SDK sends it: per (metric, column) one point per category."""
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    for key, value in (("service.name", "shop"), ("service.instance.id", instance)):
        rm.resource.attributes.add(key=key).value.string_value = value
    sm = rm.scope_metrics.add()
    sm.scope.name = "otel_mlmon"
    metrics = {}
    for (name, column), counts in columns.items():
        if name not in metrics:
            metrics[name] = sm.metrics.add(name=name, unit="1")
            metrics[name].sum.aggregation_temporality = temporality
            metrics[name].sum.is_monotonic = True
        feature = name == conv.METRIC_FEATURE_CATEGORY_COUNT
        for category, count in counts.items():
            point = metrics[name].sum.data_points.add(
                start_time_unix_nano=start_ns, time_unix_nano=time_ns, as_int=count
            )
            attrs = [
                (conv.ATTR_MODEL_NAME, "m"),
                (conv.ATTR_FEATURE_NAME if feature else conv.ATTR_OUTPUT_NAME, column),
                (conv.ATTR_FEATURE_CATEGORY if feature else conv.ATTR_PREDICTION_CLASS, category),
            ]
            for key, value in attrs:
                point.attributes.add(key=key).value.string_value = value
    return request.SerializeToString()


def _zipf_rows(rng: np.random.Generator, levels: int, rows: int) -> dict[str, int]:
    weights = 1.0 / np.arange(1, levels + 1) ** 1.1
    counts = rng.multinomial(rows, weights / weights.sum())
    return {f"c{i}": int(n) for i, n in enumerate(counts) if n}


def _post(collector: Collector, body: bytes) -> None:
    response = requests.post(
        f"http://{collector.http_endpoint}/v1/metrics",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _forwarded(sink: InMemoryExporter) -> list[list[tuple[str, str, str, str, int, tuple[int, int]]]]:
    return [list(_points(r.decoded())) for r in sink.requests("metrics")]


def _collector(
    make_collector, sink: InMemoryExporter, recorder: _Recorder | None = None, **budgets
) -> Collector:
    config = collector_config(budgets={"categories_per_column": N, **budgets})
    return make_collector(config, exporters={"sink": sink}, processors=[recorder] if recorder else [])


def _drain(collector: Collector, sink: InMemoryExporter, expected: int) -> None:
    for lane in collector.pipeline.lanes:
        lane.queue.join(10)
    assert len(sink.requests("metrics")) == expected


COLUMNS = [(conv.METRIC_FEATURE_CATEGORY_COUNT, "city"), (conv.METRIC_PREDICTION_CLASS_COUNT, "label")]


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA], ids=["cumulative", "delta"])
def test_a_thousand_categories_reach_the_backends_as_n_plus_one_stable_series(
    make_collector, temporality
) -> None:
    """A column of 1 000 categories over many exports forwards at most N + 1 series per column, the same ones every
    time, with the column's exact total, while processors see all 1 000 categories."""
    sink, recorder = InMemoryExporter("sink"), _Recorder()
    collector = _collector(make_collector, sink, recorder)
    rng = np.random.default_rng(11)
    running = {key: {} for key in COLUMNS}
    exports = 25
    for i in range(exports):
        interval = {key: _zipf_rows(rng, 1000, 4000) for key in COLUMNS}
        for key, counts in interval.items():
            for c, n in counts.items():
                running[key][c] = running[key].get(c, 0) + n
        sent = running if temporality == CUMULATIVE else interval
        _post(collector, _request(sent, temporality, START + (i + 1) * STEP))
        expected_totals = {key: sum(counts.values()) for key, counts in sent.items()}
        _drain(collector, sink, i + 1)
        points = _forwarded(sink)[-1]
        for metric, column in COLUMNS:
            mine = [p for p in points if p[1] == metric and p[2] == column]
            assert len(mine) <= N + 1
            assert sum(p[4] for p in mine) == expected_totals[(metric, column)]
    labels = [
        {key: frozenset(p[3] for p in points if (p[1], p[2]) == key) for key in COLUMNS}
        for points in _forwarded(sink)
    ]
    assert all(export == labels[0] for export in labels), "the forwarded category set changed between exports"
    for key in COLUMNS:
        assert len(labels[0][key]) == N + 1 and conv.OTHER_CATEGORY in labels[0][key]
        assert len(recorder.categories[key]) >= 995  # 1 000 Zipf levels, 100 000 rows: nearly all seen
    if temporality == CUMULATIVE:
        _assert_monotonic(_forwarded(sink))


def _assert_monotonic(exports: list[list[tuple[str, str, str, str, int, tuple[int, int]]]]) -> None:
    last: dict[tuple[str, str, str, str, int], int] = {}
    for points in exports:
        for instance, metric, column, category, value, (start, _) in points:
            key = (instance, metric, column, category, start)
            assert value >= last.get(key, 0), f"{key} decreased: a reset to Prometheus"
            last[key] = value


def test_a_new_dominant_category_enters_without_lowering_other(make_collector) -> None:
    """When a category overtakes a kept one by more than the margin it enters, counted from that export (its start
    time says so), the one it replaced moves to __other__, and __other__ never decreases."""
    sink = InMemoryExporter("sink")
    collector = _collector(make_collector, sink, category_margin=2.0)
    key = COLUMNS[0]
    running = {f"c{i}": 0 for i in range(30)}
    for i in range(12):
        for k in range(30):
            running[f"c{k}"] += 100 - 3 * k  # c0 largest ... c29 smallest
        # in __other__ first (50 < c9's 73 per export), then far above the weakest kept one
        running["new"] = running.get("new", 0) + (1000 if i >= 4 else 50)
        _post(collector, _request({key: running}, CUMULATIVE, START + (i + 1) * STEP))
    _drain(collector, sink, 12)
    exports = _forwarded(sink)
    _assert_monotonic(exports)
    before, after = ({p[3] for p in exports[j]} for j in (3, -1))
    assert before == {f"c{i}" for i in range(N)} | {conv.OTHER_CATEGORY}
    assert "new" in after and "c9" not in after and len(after) == N + 1
    entered = next(j for j, points in enumerate(exports) if any(p[3] == "new" for p in points))
    new_point = next(p for p in exports[entered] if p[3] == "new")
    assert (
        new_point[5][0] == START + entered * STEP
    )  # counted from the previous export: the rows it gained since
    for j, points in enumerate(exports):
        new_rows = 50 * (j + 1) if j < 4 else 200 + 1000 * (j - 3)
        assert sum(p[4] for p in points) == (j + 1) * sum(100 - 3 * k for k in range(30)) + new_rows
    assert new_point[4] == 1000 and entered == 4  # the 200 rows it had in __other__ stay there


def test_a_challenger_within_the_margin_does_not_flip_the_kept_set(make_collector) -> None:
    """Categories whose shares swap back and forth around the weakest kept one do not enter and leave in turn."""
    sink = InMemoryExporter("sink")
    collector = _collector(make_collector, sink)
    key = COLUMNS[0]
    for i in range(10):
        counts = {f"c{j}": 1000 - 10 * j for j in range(N)}
        counts["c9"], counts["x"] = (500, 600) if i % 2 else (600, 500)
        _post(collector, _request({key: counts}, DELTA, START + (i + 1) * STEP, start_ns=START + i * STEP))
    _drain(collector, sink, 10)
    labels = {frozenset(p[3] for p in points) for points in _forwarded(sink)}
    assert len(labels) == 1 and "x" not in next(iter(labels))


def test_replicas_share_the_kept_set_and_keep_their_own_series(make_collector) -> None:
    """Two instances of a service forward the same categories, each with its own exact, monotonic series."""
    sink = InMemoryExporter("sink")
    collector = _collector(make_collector, sink)
    key = COLUMNS[0]
    rng = np.random.default_rng(3)
    running = {"pod-1": {}, "pod-2": {}}
    for i in range(6):
        for instance, counts in running.items():
            for c, n in _zipf_rows(rng, 200, 2000).items():
                counts[c] = counts.get(c, 0) + n
            _post(collector, _request({key: counts}, CUMULATIVE, START + (i + 1) * STEP, instance=instance))
    _drain(collector, sink, 12)
    exports = _forwarded(sink)
    _assert_monotonic(exports)
    for points in exports[2:]:
        instance = points[0][0]
        assert {p[3] for p in points} == {p[3] for p in exports[-1]}
        assert sum(p[4] for p in points) <= sum(running[instance].values())
    for instance, counts in running.items():
        last = [points for points in exports if points[0][0] == instance][-1]
        assert sum(p[4] for p in last) == sum(counts.values())


def test_an_sdk_restart_starts_its_series_over(make_collector) -> None:
    """A cumulative series whose start time changes (the SDK restarted) is forwarded from its new counts."""
    sink = InMemoryExporter("sink")
    collector = _collector(make_collector, sink)
    key = COLUMNS[0]
    counts = {f"c{i}": 100 + i for i in range(20)}
    _post(collector, _request({key: counts}, CUMULATIVE, START + STEP))
    restarted = {f"c{i}": 1 for i in range(20)}
    _post(collector, _request({key: restarted}, CUMULATIVE, START + 3 * STEP, start_ns=START + 2 * STEP))
    _drain(collector, sink, 2)
    last = _forwarded(sink)[-1]
    assert sum(p[4] for p in last) == 20 and all(p[5][0] == START + 2 * STEP for p in last)


def test_requests_without_category_metrics_are_forwarded_byte_for_byte(make_collector) -> None:
    """Requests holding no category metric reach the exporters exactly as received."""
    sink = InMemoryExporter("sink")
    collector = _collector(make_collector, sink)
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="ml.feature.missing")
    metric.sum.aggregation_temporality = CUMULATIVE
    metric.sum.data_points.add(as_int=3, time_unix_nano=START)
    body = request.SerializeToString()
    _post(collector, body)
    _drain(collector, sink, 1)
    assert sink.requests("metrics")[0].payload == body


def test_a_budget_of_zero_forwards_every_category(make_collector) -> None:
    """``budgets.categories_per_column: 0`` turns the budget off: the request is forwarded as received."""
    sink = InMemoryExporter("sink")
    collector = make_collector(
        collector_config(budgets={"categories_per_column": 0}), exporters={"sink": sink}
    )
    body = _request({COLUMNS[0]: {f"c{i}": i + 1 for i in range(50)}}, CUMULATIVE, START + STEP)
    _post(collector, body)
    _drain(collector, sink, 1)
    assert sink.requests("metrics")[0].payload == body


def test_budget_configuration_is_checked() -> None:
    """Budget keys are validated and unknown ones are refused with their path."""
    assert collector_config().budgets.categories_per_column == 10
    config = collector_config(budgets={"categories_per_column": 3, "category_margin": 1.5})
    assert (config.budgets.categories_per_column, config.budgets.category_margin) == (3, 1.5)
    with pytest.raises(ConfigError, match=r"budgets\.categories_per_column"):
        collector_config(budgets={"categories_per_column": -1})
    with pytest.raises(ConfigError, match=r"budgets\.category_margin"):
        collector_config(budgets={"category_margin": 0.5})
    with pytest.raises(ConfigError, match="categories"):
        collector_config(budgets={"categories": 3})


def test_the_sdk_sends_every_category_and_the_backends_get_the_budget(make_collector) -> None:
    """A monitored model with a column of 1 000 categories, exported by the SDK over OTLP/HTTP many times, reaches
    the exporters as N + 1 stable, monotonic series with the exact row total; the processors see every category."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    import otel_mlmon
    from otel_mlmon.summary import SummaryConfig

    sink, recorder = InMemoryExporter("sink"), _Recorder()
    config = collector_config(budgets={"categories_per_column": N}, drift={"evaluation_interval_seconds": 0})
    collector = make_collector(config, exporters={"sink": sink}, processors=[recorder])
    exporter = OTLPMetricExporter(endpoint=f"http://{collector.http_endpoint}/v1/metrics")
    meters = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)]
    )
    try:

        @otel_mlmon.monitor(
            model="m",
            categorical=["city"],
            max_rows=None,
            trace=False,
            summary_config=SummaryConfig(max_categories=2048),
            meter_provider=meters,
        )
        def predict(records):
            return ["ok"] * len(records)

        rng = np.random.default_rng(5)
        rows = 0
        exports = 8
        for _ in range(exports):
            counts = _zipf_rows(rng, 1000, 5000)
            predict([{"city": city} for city, n in counts.items() for _ in range(n)])
            rows += 5000
            assert meters.force_flush(10_000)
        for lane in collector.pipeline.lanes:
            lane.queue.join(10)
        exports_seen = [
            [p for p in points if p[1] == conv.METRIC_FEATURE_CATEGORY_COUNT] for points in _forwarded(sink)
        ]
        exports_seen = [points for points in exports_seen if points]
        assert len(exports_seen) == exports
        _assert_monotonic(exports_seen)
        labels = {frozenset(p[3] for p in points) for points in exports_seen}
        assert len(labels) == 1 and len(next(iter(labels))) == N + 1
        assert sum(p[4] for p in exports_seen[-1]) == rows
        assert len(recorder.categories[(conv.METRIC_FEATURE_CATEGORY_COUNT, "city")]) >= 990
        # the drift engine was fed the full request, not the forwarded N + 1 (it keeps as many as its sketches hold)
        (stream,) = collector.drift.windows.streams()
        assert len(collector.drift.windows.view(stream).features["city"].categorical.top()) > N + 1
    finally:
        meters.shutdown()


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA], ids=["cumulative", "delta"])
def test_spliced_requests_equal_the_whole_request_encoded_again(monkeypatch, temporality) -> None:
    """The budget re-encodes only the metrics it changes and splices them into the payload as received: the result
    decodes to what encoding the whole budgeted message gives (the fallback), with the same item count."""
    from otel_mlmon_collector import _budget
    from otel_mlmon_collector._otlp import count_items, decode_protobuf
    from otel_mlmon_collector._wire import WireError

    def refuse(*args, **kwargs):
        raise WireError("forced fallback")

    spliced, whole = (_budget.CategoryBudget(_budget.BudgetConfig(categories_per_column=3)) for _ in range(2))
    rng = np.random.default_rng(5)
    running = {key: {} for key in COLUMNS}
    changed = 0
    for i in range(8):
        levels = 2 if i < 2 else 40  # first within the budget (forwarded as received), then over it
        interval = {key: _zipf_rows(rng, levels, 500) for key in COLUMNS}
        for key, counts in interval.items():
            for c, n in counts.items():
                running[key][c] = running[key].get(c, 0) + n
        sent = running if temporality == CUMULATIVE else interval
        request = ExportMetricsServiceRequest.FromString(_request(sent, temporality, START + (i + 1) * STEP))
        other = request.resource_metrics[0].scope_metrics[0].metrics.add(name="ml.feature.missing")
        other.sum.data_points.add(as_int=i, time_unix_nano=START)
        if i % 3 == 2:
            request.resource_metrics.add().CopyFrom(request.resource_metrics[0])  # a second resource
            request.resource_metrics[1].resource.attributes[1].value.string_value = "pod-2"
        body = request.SerializeToString()
        message = decode_protobuf("metrics", body)
        incoming = OtlpRequest("metrics", body, message, count_items("metrics", message), "http")
        fast = spliced.apply(incoming)
        with monkeypatch.context() as patch:
            patch.setattr(_budget, "replace_metrics", refuse)
            slow = whole.apply(incoming)
        assert decode_protobuf("metrics", fast.payload) == decode_protobuf("metrics", slow.payload)
        assert fast.items == slow.items == count_items("metrics", decode_protobuf("metrics", fast.payload))
        assert decode_protobuf("metrics", body) == message, "the processors' message was modified"
        if levels == 2 and temporality == CUMULATIVE:
            assert fast is incoming  # nothing to cut: the request itself, bytes as received
        changed += fast is not incoming
    assert changed >= 6
