"""Throughput of otel-mlmon-collector on feature-histogram payloads, as a ratio to protobuf decoding alone.

Run: ``python bench/collector.py [--features 50 500] [--seconds 3]``. For each payload size (one OTLP metrics
request holding F exponential-histogram data points, one per feature, as the SDK sends them) it measures in the
same run, on the same payloads:

- ``decode``: ``ExportMetricsServiceRequest.FromString`` alone (the reference, 1.0×);
  (the payload is shaped as the OTel SDK sends it: one ``ml.feature.distribution`` metric, one point per feature);
- ``admit``: what a receiver does per request after reading the body: decode, count items, run processors (none),
  queue it, and a worker hands it to an exporter that drops it (the collector's own cost, no network);
- ``http`` / ``grpc``: the same through the real receivers over loopback, client in this process, one request at
  a time (so it includes the client's cost and the network stack: a lower bound for the server).

and the memory held per queued request (tracemalloc; the decoded message is not kept in the queue). ``decode`` and
``admit`` are rates per CPU second of this process (the export worker's time included), measured in alternating
blocks of requests so that other load on the machine weighs on both alike; ``http`` and ``grpc`` are wall-clock
rates.
Target (issue 4): ``admit`` ≥ 0.3× ``decode`` data points per second.

With ``--categories C`` (issue 11), a second table measures ``admit`` on cumulative ``ml.feature.category.count``
requests of F columns × C categories, the only requests the category budget re-encodes: with the budget off
(``categories_per_column: 0``, forwarded byte for byte) and on (the default 10), as a ratio to ``decode``.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator

import grpc
import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._budget import BudgetConfig, CategoryBudget
from otel_mlmon_collector._config import RetryConfig, parse_config
from otel_mlmon_collector._exporters import ExportResult
from otel_mlmon_collector._otlp import OtlpRequest, count_items, decode_protobuf, spec_for
from otel_mlmon_collector._pipeline import ExportLane, Pipeline
from otel_mlmon_collector._queue import BoundedQueue
from otel_mlmon_collector._selfmetrics import SelfMetrics
from otel_mlmon_collector._service import Collector

BLOCK = 10  # calls per block when paths are measured in turn


class _Drop:
    name = "drop"

    def export(self, request: OtlpRequest) -> ExportResult:
        return ExportResult.success()

    def shutdown(self) -> None:
        pass


def payload(features: int, buckets: int = 64, seed: int = 0) -> bytes:
    """One metrics request with ``features`` exponential-histogram points (``buckets`` counts each)."""
    rng = random.Random(seed)
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    for key, value in (("service.name", "fraud-api"), ("service.instance.id", "pod-1")):
        kv = rm.resource.attributes.add(key=key)
        kv.value.string_value = value
    sm = rm.scope_metrics.add()
    sm.scope.name = "otel_mlmon"
    now = time.time_ns()
    # as the SDK sends them: one metric per instrument, one data point per feature (attribute set)
    hist = sm.metrics.add(name="ml.feature.distribution", unit="1").exponential_histogram
    hist.aggregation_temporality = 1
    for f in range(features):
        point = hist.data_points.add(
            start_time_unix_nano=now - 60 * 10**9, time_unix_nano=now, count=10_000, sum=rng.uniform(1, 1e4),
            scale=rng.choice([3, 4, 5]), zero_count=rng.randrange(10), min=0.0, max=rng.uniform(10, 100),
        )  # fmt: skip
        point.positive.offset = rng.randrange(-20, 20)
        point.positive.bucket_counts.extend(rng.randrange(0, 500) for _ in range(buckets))
        for key, value in (
            ("ml.model.name", "fraud"),
            ("ml.model.version", "3"),
            ("ml.feature.name", f"f{f}"),
        ):
            kv = point.attributes.add(key=key)
            kv.value.string_value = value
    return request.SerializeToString()


def category_payload(columns: int, categories: int, step: int, seed: int = 0) -> bytes:
    """A cumulative category request as the SDK sends it: ``columns`` × ``categories`` points (export ``step``)."""
    rng = random.Random(seed)
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "fraud-api"
    sm = rm.scope_metrics.add()
    sm.scope.name = "otel_mlmon"
    metric = sm.metrics.add(name="ml.feature.category.count", unit="1")
    metric.sum.aggregation_temporality = 2
    metric.sum.is_monotonic = True
    start = 1_700_000_000 * 10**9
    for f in range(columns):
        for c in range(categories):
            point = metric.sum.data_points.add(
                start_time_unix_nano=start,
                time_unix_nano=start + step * 10**10,
                as_int=step * rng.randrange(1, 100),
            )
            for key, value in (
                ("ml.model.name", "fraud"),
                ("ml.feature.name", f"f{f}"),
                ("ml.feature.category", f"c{c}"),
            ):
                point.attributes.add(key=key).value.string_value = value
    return request.SerializeToString()


def measure_categories(columns: int, categories: int, seconds: float) -> dict[str, float]:
    """``admit`` on category requests with the budget off and on, in points per second (``decode`` alike)."""
    bodies = [category_payload(columns, categories, step) for step in range(1, 65)]
    points = columns * categories
    paths: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "decode": (lambda: ExportMetricsServiceRequest.FromString(bodies[0]), _nothing)
    }
    pipelines = []
    for label, per_column in (("off", 0), ("on", 10)):
        metrics = SelfMetrics()
        lane = ExportLane(_Drop(), BoundedQueue(10_000, 1 << 34), ["metrics"], RetryConfig(), metrics)
        budget = CategoryBudget(BudgetConfig(categories_per_column=per_column))
        pipeline = Pipeline([lane], metrics=metrics, budget=budget)
        pipeline.start()
        step = iter(range(1 << 62))

        def admit(pipeline: Pipeline = pipeline, step: Iterator[int] = step) -> None:
            body = bodies[next(step) % len(bodies)]  # growing cumulative counts, as successive exports send
            message = decode_protobuf("metrics", body)
            request = OtlpRequest("metrics", body, message, count_items("metrics", message), "bench")
            while pipeline.accept(request, "bench").value != "accepted":
                time.sleep(0.0001)

        paths[label] = (admit, lambda lane=lane: lane.queue.join(30))
        pipelines.append(pipeline)
    results = {name: rate * points for name, rate in _cpu_rates(paths, seconds).items()}
    for pipeline in pipelines:
        pipeline.shutdown(10)
    return results


def _rate(fn: Callable[[], None], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after a short warm-up)."""
    for _ in range(3):
        fn()
    n, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        fn()
        n += 1
    return n / elapsed


def _cpu_rates(
    paths: dict[str, tuple[Callable[[], None], Callable[[], None]]], seconds: float
) -> dict[str, float]:
    """Calls per CPU second of this process for each ``(call, settle)`` path, run in alternating blocks of
    ``BLOCK`` calls for about ``seconds`` each, so that the machine's load weighs on every path alike; ``settle``
    ends a block (waits for the export worker), so the worker's CPU time counts in its own block."""
    for call, settle in paths.values():
        for _ in range(3):
            call()
        settle()
    cpu, calls = dict.fromkeys(paths, 0.0), dict.fromkeys(paths, 0)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds * len(paths):
        for name, (call, settle) in paths.items():
            begin = time.process_time()
            for _ in range(BLOCK):
                call()
            settle()
            cpu[name] += time.process_time() - begin
            calls[name] += BLOCK
    return {name: calls[name] / cpu[name] for name in paths}


def _nothing() -> None:
    pass


def measure(features: int, seconds: float) -> dict[str, float]:
    body = payload(features)
    points = count_items("metrics", decode_protobuf("metrics", body))
    results = {"bytes": len(body), "points": points}
    metrics = SelfMetrics()
    lane = ExportLane(_Drop(), BoundedQueue(10_000, 1 << 34), ["metrics"], RetryConfig(), metrics, workers=1)
    pipeline = Pipeline([lane], metrics=metrics)
    pipeline.start()

    def admit() -> None:
        message = decode_protobuf("metrics", body)
        request = OtlpRequest("metrics", body, message, count_items("metrics", message), "bench")
        while pipeline.accept(request, "bench").value != "accepted":
            time.sleep(0.0001)

    rates = _cpu_rates(
        {
            "decode": (lambda: ExportMetricsServiceRequest.FromString(body), _nothing),
            "admit": (admit, lambda: lane.queue.join(30)),
        },
        seconds,
    )
    results.update({name: rate * points for name, rate in rates.items()})
    pipeline.shutdown(10)

    config = parse_config(
        {
            "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "queue": {"max_requests": 100_000, "max_bytes": 1 << 34},
        },
        env={},
    )
    collector = Collector(config, exporters={"drop": _Drop()})
    collector.start()
    try:
        session = requests.Session()
        url = f"http://{collector.http_endpoint}/v1/metrics"
        headers = {"Content-Type": "application/x-protobuf"}

        def http_post() -> None:
            assert session.post(url, data=body, headers=headers, timeout=30).status_code == 200

        results["http"] = _rate(http_post, seconds) * points
        session.close()
        with grpc.insecure_channel(collector.grpc_endpoint) as channel:
            spec = spec_for("metrics")
            call = channel.unary_unary(spec.grpc_method, request_serializer=None, response_deserializer=None)
            results["grpc"] = _rate(lambda: call(body, timeout=30), seconds) * points
    finally:
        collector.shutdown(30)

    results["queued_bytes_per_request"] = _memory_per_queued_request(body)
    return results


def _memory_per_queued_request(body: bytes, n: int = 200) -> float:
    """Bytes of memory held per request waiting in a queue (payload included)."""
    metrics = SelfMetrics()
    lane = ExportLane(_Drop(), BoundedQueue(n, 1 << 34), ["metrics"], RetryConfig(), metrics)
    pipeline = Pipeline([lane], metrics=metrics)  # never started: requests stay queued
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        # each request arrives as its own bytes object, as a receiver reads it from the socket
        own = bytes(bytearray(body))
        message = decode_protobuf("metrics", own)
        pipeline.accept(
            OtlpRequest("metrics", own, message, count_items("metrics", message), "bench"), "bench"
        )
        del message
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(lane.queue) == n
    return (after - before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--categories", type=int, default=0, help="also measure category requests (0: skip)")
    args = parser.parse_args()
    print(
        f"{'features':>8} {'bytes':>9} {'decode pts/s':>13} {'admit':>18} {'http':>18} {'grpc':>18} {'queued B/req':>13}"
    )
    for features in args.features:
        r = measure(features, args.seconds)
        cells = [f"{r[k]:>9,.0f} ({r[k] / r['decode']:.2f}×)" for k in ("admit", "http", "grpc")]
        print(
            f"{features:>8} {r['bytes']:>9,} {r['decode']:>13,.0f} {cells[0]:>18} {cells[1]:>18} {cells[2]:>18} "
            f"{r['queued_bytes_per_request']:>9,.0f} ({r['queued_bytes_per_request'] / r['bytes']:.2f}× payload)"
        )

    if args.categories:
        print(
            f"\n{'columns':>8} {'categories':>10} {'decode pts/s':>13} {'budget off':>18} {'budget on':>18}"
        )
        for columns in args.features:
            r = measure_categories(columns, args.categories, args.seconds)
            cells = [f"{r[k]:>9,.0f} ({r[k] / r['decode']:.2f}×)" for k in ("off", "on")]
            print(f"{columns:>8} {args.categories:>10} {r['decode']:>13,.0f} {cells[0]:>18} {cells[1]:>18}")


if __name__ == "__main__":
    main()
