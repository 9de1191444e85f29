"""Self-metrics: counters and gauges encoded as a valid OTLP metrics request."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._selfmetrics import FORWARDED, QUEUE_SIZE, RECEIVED, SCOPE_NAME, SelfMetrics


def test_counters_accumulate_per_attribute_set() -> None:
    """add() accumulates per distinct attribute set; total() sums those that match."""
    m = SelfMetrics()
    m.add(RECEIVED, 1, signal="traces", transport="grpc")
    m.add(RECEIVED, 2, transport="grpc", signal="traces")
    m.add(RECEIVED, 5, signal="logs", transport="http")
    assert m.value(RECEIVED, signal="traces", transport="grpc") == 3
    assert m.total(RECEIVED) == 8
    assert m.total(RECEIVED, transport="http") == 5
    assert m.value(FORWARDED, signal="x") == 0


def test_request_encodes_cumulative_sums_and_gauges() -> None:
    """to_request() yields cumulative monotonic sums and gauges with attributes, resource and scope."""
    clock = iter([100.0, 160.0])
    m = SelfMetrics(resource={"service.name": "c"}, _clock=lambda: next(clock))
    m.add(RECEIVED, 4, signal="metrics", transport="http")
    m.gauge(QUEUE_SIZE, lambda: [({"exporter": "vm"}, 7), ({"exporter": "ph"}, 0.5)])
    request = m.to_request()
    assert request.signal == "metrics" and request.items == 3
    message = ExportMetricsServiceRequest.FromString(request.payload)
    rm = message.resource_metrics[0]
    assert rm.resource.attributes[0].key == "service.name"
    sm = rm.scope_metrics[0]
    assert sm.scope.name == SCOPE_NAME
    by_name = {metric.name: metric for metric in sm.metrics}
    received = by_name[RECEIVED]
    assert received.unit == "{request}"
    assert received.sum.is_monotonic and received.sum.aggregation_temporality == 2
    point = received.sum.data_points[0]
    assert (point.as_int, point.start_time_unix_nano, point.time_unix_nano) == (4, 100 * 10**9, 160 * 10**9)
    assert {kv.key: kv.value.string_value for kv in point.attributes} == {
        "signal": "metrics",
        "transport": "http",
    }
    gauge_points = by_name[QUEUE_SIZE].gauge.data_points
    assert [(p.attributes[0].value.string_value, p.WhichOneof("value")) for p in gauge_points] == [
        ("vm", "as_int"),
        ("ph", "as_double"),
    ]


def test_default_resource_names_the_service_and_instance() -> None:
    """Without a resource the collector is service.name=otel-mlmon-collector with a unique instance id."""
    a, b = SelfMetrics(), SelfMetrics()
    assert a.resource["service.name"] == "otel-mlmon-collector"
    assert a.resource["service.instance.id"] != b.resource["service.instance.id"]


def test_bound_counter_shares_the_series_and_is_thread_safe() -> None:
    """A bound counter adds to the same series as add(); concurrent adds from threads are all counted."""
    import threading

    m = SelfMetrics()
    bound = m.bound(RECEIVED, transport="grpc", signal="logs")
    m.add(RECEIVED, 5, signal="logs", transport="grpc")
    threads = [threading.Thread(target=lambda: [bound.add(1) for _ in range(10_000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.value(RECEIVED, signal="logs", transport="grpc") == 40_005


def test_counters_bound_together_add_to_their_own_series() -> None:
    """``bound_each`` adds each value to its counter's series for the bound attributes, under one lock."""
    import threading

    from otel_mlmon_collector._selfmetrics import ITEMS_RECEIVED

    m = SelfMetrics()
    both = m.bound_each((RECEIVED, ITEMS_RECEIVED), signal="metrics", transport="http")
    m.add(ITEMS_RECEIVED, 2, transport="http", signal="metrics")
    threads = [threading.Thread(target=lambda: [both.add(1, 7) for _ in range(5_000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.value(RECEIVED, signal="metrics", transport="http") == 20_000
    assert m.value(ITEMS_RECEIVED, signal="metrics", transport="http") == 140_002
    assert m.value(RECEIVED, signal="metrics", transport="grpc") == 0
