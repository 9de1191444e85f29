"""Requests per second through the persistent queue (``queue.directory``) as a ratio to the in-memory queue.

Run: ``python bench/export_queue.py [--sizes 1024 65536] [--requests 3000] [--directory DIR]``. For each payload size, in
the same run: a ``Pipeline`` with one export lane (2 workers, an exporter that drops what it gets) admits
``--requests`` requests from 4 threads (as receivers do) and waits until every one was exported and acknowledged,
with

- ``memory``: the in-memory ``BoundedQueue`` (the reference, 1.0×);
- ``disk never`` / ``disk interval`` / ``disk always``: ``DiskQueue`` with that ``queue.fsync`` policy (``interval``
  at the default 1000 ms; ``always`` fsyncs before each request is acknowledged, grouped across threads).

and the same variants end to end (``--http N``, default 500 requests, best of ``--rounds 3``): a ``Collector`` with its real HTTP receiver
on loopback, one client posting OTLP/HTTP traces requests of the same size one after another, each answered only
once queued (and, with ``always``, fsynced).

The directory defaults to a temporary one; pass ``--directory`` to measure the disk a deployment would use (fsync
costs depend on it: tmpfs makes them free).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otel_mlmon_collector._config import RetryConfig, parse_config
from otel_mlmon_collector._disk_queue import DiskQueue
from otel_mlmon_collector._exporters import ExportResult
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector._pipeline import Admission, ExportLane, Pipeline
from otel_mlmon_collector._queue import BoundedQueue, ExportQueue
from otel_mlmon_collector._selfmetrics import SelfMetrics
from otel_mlmon_collector._service import Collector

SIGNALS = ("traces", "metrics", "logs")


class _Drop:
    name = "drop"

    def export(self, request: OtlpRequest) -> ExportResult:
        return ExportResult.success()

    def shutdown(self) -> None:
        pass


def run(make_queue: Callable[[], ExportQueue], size: int, requests: int, threads: int = 4) -> float:
    """Admit ``requests`` payloads of ``size`` bytes from ``threads`` threads; return requests per second."""
    lane = ExportLane(_Drop(), make_queue(), SIGNALS, RetryConfig(), SelfMetrics(), workers=2)
    pipeline = Pipeline([lane])
    pipeline.start()
    payload = bytes(size)
    per_thread = requests // threads

    def send() -> None:
        for _ in range(per_thread):
            request = OtlpRequest("traces", payload, None, 1)
            while pipeline.accept(request, "bench") is not Admission.ACCEPTED:
                time.sleep(0.001)  # back-pressure: retry as a client would

    workers = [threading.Thread(target=send) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert lane.queue.join(timeout=120), "queue did not drain"
    elapsed = time.perf_counter() - started
    pipeline.shutdown(5.0)
    return per_thread * threads / elapsed


def traces_body(size: int) -> bytes:
    """An OTLP traces request of about ``size`` bytes (one span carrying a string attribute)."""
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="predict")
    span.trace_id, span.span_id = bytes(range(16)), bytes(range(8))
    span.attributes.add(key="payload").value.string_value = "x" * max(0, size - 60)
    return request.SerializeToString()


def run_http(queue: dict[str, object], size: int, n: int) -> float:
    """Post ``n`` traces requests to a collector's HTTP receiver; return requests per second."""
    config = parse_config(
        {
            "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "queue": {"max_requests": 100_000, "max_bytes": 1 << 34, **queue},
        },
        env={},
    )
    collector = Collector(config, exporters={"drop": _Drop()})
    collector.start()
    body = traces_body(size)
    try:
        with requests.Session() as session:
            url = f"http://{collector.http_endpoint}/v1/traces"
            headers = {"Content-Type": "application/x-protobuf"}
            started = time.perf_counter()
            for _ in range(n):
                assert session.post(url, data=body, headers=headers, timeout=30).status_code == 200
            return n / (time.perf_counter() - started)
    finally:
        collector.shutdown(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 65536])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--directory", help="where the disk queues go (default: a temporary directory)")
    parser.add_argument("--http", type=int, default=500, metavar="N", help="requests end to end (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="end-to-end rounds (the best is kept)")
    args = parser.parse_args()
    base = args.directory or tempfile.mkdtemp(prefix="otel-mlmon-queue-bench-")
    counter = iter(range(1_000_000))

    def disk(policy: str) -> Callable[[], ExportQueue]:
        return lambda: DiskQueue(f"{base}/{policy}-{next(counter)}", 1000, 256 << 20, policy)

    variants: list[tuple[str, Callable[[], ExportQueue]]] = [
        ("memory", lambda: BoundedQueue(1000, 256 << 20)),
        ("disk never", disk("never")),
        ("disk interval", disk("interval")),
        ("disk always", disk("always")),
    ]
    print(f"queue directory: {base}")
    print(f"{'payload':>9} {'queue':>14} {'requests/s':>11} {'MB/s':>8} {'ratio':>6}")
    for size in args.sizes:
        reference = None
        for name, make in variants:
            run(make, size, max(200, args.requests // 10))  # warm-up
            rate = run(make, size, args.requests)
            reference = reference or rate
            print(f"{size:>9} {name:>14} {rate:>11.0f} {rate * size / 1e6:>8.1f} {rate / reference:>5.2f}×")
    if not args.http:
        return
    policies = ("memory", "never", "interval", "always")
    print(
        f"\nend to end over HTTP ({args.http} requests, one client, best of {args.rounds} interleaved rounds):"
    )
    print(f"{'payload':>9} {'queue':>14} {'requests/s':>11} {'ratio':>6}")
    for size in args.sizes:
        best = dict.fromkeys(policies, 0.0)
        for _ in range(args.rounds):  # interleaved, so load from other processes hits every variant alike
            for policy in policies:
                queue = (
                    {}
                    if policy == "memory"
                    else {"directory": f"{base}/http-{next(counter)}", "fsync": policy}
                )
                best[policy] = max(best[policy], run_http(queue, size, args.http))
        for policy in policies:
            name = policy if policy == "memory" else f"disk {policy}"
            print(f"{size:>9} {name:>14} {best[policy]:>11.0f} {best[policy] / best['memory']:>5.2f}×")


if __name__ == "__main__":
    main()
