"""Capacity of one otel-mlmon-collector replica for 1, 100 and 1 000 model streams of 50 features.

Run: ``python bench/capacity.py [--streams 1 100 1000] [--quick]``. The requests are the SDK's own: a model
decorated with ``otel_mlmon.monitor`` (50 numeric features, two classes with probabilities, every prediction
recorded) is called and collected through the real OpenTelemetry SDK and encoded with the OTLP encoders; each
model stream gets a copy with its own ``ml.model.name`` (same-length names, so the bytes stay valid protobuf).
Per stream: ``--rounds`` metrics requests (cumulative, growing), one request of 100 ``ml.prediction`` records and
one of 100 ``ml.ground_truth`` records.

For each stream count, one collector (drift engine and label join on, evaluation off, exporter dropping):

- ``req/s``: metrics requests per second (wall clock) through ``Pipeline.accept`` (decode, count, queue,
  processors), the collector's own cost per request without a transport; ``req/CPU-s``, ``pts/CPU-s``: the same
  per second of this process's CPU time (what one core sustains; far less sensitive to other load than wall time);
- ``labels/CPU-s``: prediction + label records per CPU second through the same path (the label join writes them
  to its SQLite store);
- ``RSS``: the process's resident memory after all streams' traffic, minus before the collector was built;
  ``state``: minus after one warm-up stream instead (what the N streams' windows and joins add);
- where a request's time goes (CPU time of this process: client, server and collector threads), as multiples of
  **protobuf decode of the same request, measured in the same run**:
  ``pipeline`` (decode + count + queue, no processors), ``processors`` (drift windows + label join: accept with
  processors minus ``pipeline``), ``http`` / ``grpc`` (the real receivers over loopback, one request at a time,
  client in this process: transport + handler + everything above). These run on separate probe streams, warmed
  with one export, interleaved request by request so that the machine's load weighs on every path alike.
  ``--profile`` also prints the accept path's top functions (cProfile).

The HTTP receiver is measured as it is on main (other work changes its concurrency and authentication): rerun
after those land. ``--quick``: 2 metrics requests per stream, at most 100 probe streams per path, 40 requests.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

import grpc
import numpy as np
import requests
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from otel_mlmon_collector._config import RetryConfig, parse_config
from otel_mlmon_collector._exporters import ExportResult
from otel_mlmon_collector._otlp import OtlpRequest, count_items, decode_protobuf, spec_for
from otel_mlmon_collector._pipeline import ExportLane, Pipeline
from otel_mlmon_collector._queue import BoundedQueue
from otel_mlmon_collector._selfmetrics import SelfMetrics
from otel_mlmon_collector._service import Collector

import otel_mlmon
from otel_mlmon.testing import InMemoryTelemetry

FEATURES = 50
ROWS = 100
MIN_SAMPLE = 100  # requests per per-request timing
TEMPLATE = "m00000"
PROBE_ID = 90_000  # the breakdown's streams: m90000... (never one of the measured streams)  # every stream's name has this length: replacing bytes keeps the protobuf valid


class _Drop:
    name = "drop"

    def export(self, request: OtlpRequest) -> ExportResult:
        return ExportResult.success()

    def shutdown(self) -> None:
        pass


def sdk_requests(rounds: int) -> tuple[list[bytes], bytes, bytes]:
    """The SDK's encoded requests for one model: ``rounds`` cumulative metrics exports, predictions, labels."""
    telemetry = InMemoryTelemetry()
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(FEATURES)]

    @otel_mlmon.monitor(
        model=TEMPLATE,
        version="1",
        feature_names=names,
        classes=["no", "yes"],
        record_predictions=1.0,
        trace=False,
        **telemetry.providers,
    )
    def predict_proba(X):
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.column_stack([1 - p, p])

    metrics = []
    for _ in range(rounds):
        predict_proba(rng.normal(size=(ROWS, FEATURES)))
        metrics.append(encode_metrics(telemetry.collect()).SerializeToString())
    ids = list(otel_mlmon.last_prediction_ids())
    otel_mlmon.flush()
    predictions = encode_logs(telemetry.log_exporter.get_finished_logs()[-ROWS:]).SerializeToString()
    telemetry.log_exporter.clear()
    otel_mlmon.record_ground_truth(
        model=TEMPLATE, version="1", prediction_id=ids, value=["yes"] * ROWS, **_logger(telemetry)
    )
    labels = encode_logs(telemetry.log_exporter.get_finished_logs()).SerializeToString()
    telemetry.shutdown()
    return metrics, predictions, labels


def _logger(telemetry: InMemoryTelemetry) -> dict:
    return {"logger_provider": telemetry.providers["logger_provider"]}


def for_stream(body: bytes, i: int) -> bytes:
    return body.replace(TEMPLATE.encode(), f"m{i:05d}".encode())


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _request(signal: str, body: bytes) -> OtlpRequest:
    message = decode_protobuf(signal, body)
    return OtlpRequest(signal, body, message, count_items(signal, message), "bench")


def _accept_all(pipeline: Pipeline, signal: str, bodies: Iterable[bytes]) -> float:
    """Seconds to admit every body (decode, count, queue, processors)."""
    started = time.perf_counter()
    for body in bodies:
        while pipeline.accept(_request(signal, body), "bench").value != "accepted":
            time.sleep(0.0001)
    return time.perf_counter() - started


def measure(
    streams: int,
    rounds: int,
    wire_streams: int,
    directory: str,
    min_sample: int = MIN_SAMPLE,
    profile: bool = False,
) -> dict[str, float]:
    # The breakdown's paths (accept, HTTP, gRPC) each get their own `wire_streams` probe streams (ids from
    # PROBE_ID), warmed with one export and then fed in order, round by round: steady-state cumulative traffic.
    per_path = -(-min_sample // wire_streams)
    template_metrics, template_predictions, template_labels = sdk_requests(rounds + 1 + per_path)
    # Each stream's requests are made as they are sent (not stored), so the RSS measured after the traffic is the
    # collector's own: drift windows, label store, queues.
    metrics = (for_stream(body, i) for body in template_metrics[:rounds] for i in range(streams))
    logs = (for_stream(body, i) for body in (template_predictions, template_labels) for i in range(streams))
    points = count_items("metrics", decode_protobuf("metrics", template_metrics[0]))
    records = streams * sum(
        count_items("logs", decode_protobuf("logs", body)) for body in (template_predictions, template_labels)
    )
    gc.collect()
    before = rss_bytes()

    config = parse_config(
        {
            "receivers": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "queue": {"max_requests": 1_000_000, "max_bytes": 1 << 36},
            "drift": {"evaluation_interval_seconds": 0},
            "ground_truth": {
                "path": os.path.join(directory, f"gt-{streams}.sqlite"),
                "evaluation_interval_seconds": 0,
            },
        },
        env={},
    )
    collector = Collector(config, exporters={"drop": _Drop()})
    collector.start()
    result: dict[str, float] = {"streams": streams, "points_per_request": points}
    try:
        # One extra stream first: lazy imports, thread stacks and the store's fixed cost land in `rss`, not `state`.
        warm_id = PROBE_ID + 3000
        _accept_all(collector.pipeline, "metrics", [for_stream(template_metrics[0], warm_id)])
        _accept_all(collector.pipeline, "logs", [for_stream(template_predictions, warm_id)])
        _accept_all(collector.pipeline, "logs", [for_stream(template_labels, warm_id)])
        collector.pipeline.lanes[0].queue.join(60)
        gc.collect()
        warmed = rss_bytes()
        cpu = time.process_time()
        seconds = _accept_all(collector.pipeline, "metrics", metrics)
        cpu = time.process_time() - cpu
        result["req/s"] = rounds * streams / seconds
        result["req/cpu"] = rounds * streams / cpu
        result["points/cpu"] = rounds * streams * points / cpu
        cpu = time.process_time()
        _accept_all(collector.pipeline, "logs", logs)
        result["labels/cpu"] = records / (time.process_time() - cpu)
        collector.pipeline.lanes[0].queue.join(60)
        gc.collect()
        after = rss_bytes()
        result["rss"] = after - before
        result["state"] = after - warmed

        probe_ids = [[PROBE_ID + 1000 * k + i for i in range(wire_streams)] for k in range(3)]
        warm = [for_stream(template_metrics[rounds], i) for ids in probe_ids for i in ids]
        probes = [
            [for_stream(body, i) for body in template_metrics[rounds + 1 :] for i in ids] for ids in probe_ids
        ]

        # Where a request's time goes, on new data for every path, interleaved request by request so that the
        # machine's load drifts over all paths alike: decode alone, the pipeline without processors, accept
        # (with processors), the HTTP and the gRPC receiver.
        bare = SelfMetrics()
        lane = ExportLane(_Drop(), BoundedQueue(1_000_000, 1 << 36), ["metrics"], RetryConfig(), bare)
        pipeline = Pipeline([lane], metrics=bare)
        pipeline.start()
        session = requests.Session()
        url = f"http://{collector.http_endpoint}/v1/metrics"
        headers = {"Content-Type": "application/x-protobuf"}
        channel = grpc.insecure_channel(collector.grpc_endpoint)
        call = channel.unary_unary(spec_for("metrics").grpc_method)
        profiler = cProfile.Profile() if profile else None
        totals = dict.fromkeys(("decode", "pipeline", "accept", "http", "grpc"), 0.0)

        def timed(path: str, fn: Callable[..., object], *args: object) -> None:
            started = time.process_time()
            fn(*args)
            totals[path] += time.process_time() - started

        def post(body: bytes) -> None:
            assert session.post(url, data=body, headers=headers, timeout=60).status_code == 200

        _accept_all(collector.pipeline, "metrics", warm)
        for body, over_http, over_grpc in zip(*probes):
            timed("decode", ExportMetricsServiceRequest.FromString, body)
            timed("pipeline", _accept_all, pipeline, "metrics", [body])
            if profiler is not None:
                profiler.enable()
            timed("accept", _accept_all, collector.pipeline, "metrics", [body])
            if profiler is not None:
                profiler.disable()
            timed("http", post, over_http)
            timed("grpc", call, over_grpc)
        result.update({path: total / len(probes[0]) for path, total in totals.items()})
        session.close()
        channel.close()
        lane.queue.join(60)
        pipeline.shutdown(10)
        if (
            profiler is not None
        ):  # where accept's time goes, by function (cProfile adds overhead: shares only)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    finally:
        collector.shutdown(60)
    return result


def _header(rounds: int) -> None:
    print(
        f"{FEATURES} features per stream, {rounds} metrics requests per stream, {ROWS} predictions + labels"
    )
    print(
        f"{'streams':>7} {'pts/req':>7} {'req/s':>7} {'req/CPU-s':>9} {'pts/CPU-s':>9} {'labels/CPU-s':>12} "
        f"{'RSS MiB':>8} {'state MiB':>9} "
        f"{'decode µs':>9} {'pipeline':>9} {'processors':>10} {'http':>7} {'grpc':>7}   (× decode of the request)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument(
        "--rounds", type=int, default=None, help="metrics exports per stream (default 4; quick 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds, at most 100 probe streams, 40 requests"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print the accept path's top functions (cProfile)"
    )
    parser.add_argument("--row-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 4)
    wire = 100 if args.quick else 1000
    if not args.row_only:
        _header(rounds)
    for streams in args.streams:
        if len(args.streams) > 1:  # each stream count in its own process: RSS starts from the same point
            command = [
                sys.executable,
                __file__,
                "--streams",
                str(streams),
                "--rounds",
                str(rounds),
                "--row-only",
            ]
            subprocess.run(command + ["--quick"] * args.quick + ["--profile"] * args.profile, check=True)
            continue
        with tempfile.TemporaryDirectory() as directory:
            r = measure(
                streams, rounds, min(streams, wire), directory, 40 if args.quick else MIN_SAMPLE, args.profile
            )
        d = r["decode"]
        print(
            f"{streams:>7} {r['points_per_request']:>7} {r['req/s']:>7,.0f} {r['req/cpu']:>9,.0f} "
            f"{r['points/cpu']:>9,.0f} {r['labels/cpu']:>12,.0f} {r['rss'] / 2**20:>8.0f} {r['state'] / 2**20:>9.1f} {d * 1e6:>9.0f} {r['pipeline'] / d:>8.1f}× "
            f"{(r['accept'] - r['pipeline']) / d:>9.1f}× {r['http'] / d:>6.1f}× {r['grpc'] / d:>6.1f}×",
            flush=True,
        )


if __name__ == "__main__":
    main()
