"""Cost of one OTLP/HTTP request at the collector's receiver, as a ratio to protobuf decoding of the same request.

Run: ``python bench/receiver.py [--spans 1 100] [--connections 1 8] [--seconds 3]``. For each request size (an
``ExportTraceServiceRequest`` of S spans) it measures in the same run:

- ``decode``: requests/s of the collector's own decoding of the body alone (the reference, 1.0×);
- ``http ×C``: requests/s answered 200 by a real collector (this process; exporter drops everything) over loopback,
  from C keep-alive connections driven by a client in another process with raw sockets (so the client's cost
  does not share this process's interpreter), and the collector process's peak thread count (``t=``).

A receiver whose per-request cost is small next to decoding shows a ratio near 1 for large requests; for tiny
requests the ratio is the receiver's fixed cost per request (parsing, scheduling, answering).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import threading
import time
from pathlib import Path
from typing import Any

# the client runs in a spawned process that re-imports this module: the collector is imported in main() only


class _Drop:
    name = "drop"

    def export(self, request: Any) -> Any:
        from otel_mlmon_collector._exporters import ExportResult

        return ExportResult.success()

    def shutdown(self) -> None:
        pass


def payload(spans: int) -> bytes:
    """A traces request with ``spans`` spans of 8 attributes each, as an instrumented service sends them."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = scope.spans.add(
            name="predict fraud", trace_id=bytes(16 * [i % 255 + 1]), span_id=bytes(8 * [1])
        )
        span.start_time_unix_nano, span.end_time_unix_nano = (
            1_700_000_000_000_000_000,
            1_700_000_000_002_000_000,
        )
        for k in range(8):
            kv = span.attributes.add(key=f"ml.attribute.{k}")
            kv.value.string_value = f"value-{k}"
    return request.SerializeToString()


def _client(address: tuple[str, int], body: bytes, connections: int, seconds: float, out: object) -> None:
    """In a child process: ``connections`` threads each send the request on one keep-alive socket, as fast as
    answers come back; puts (requests answered 200, seconds) on the queue ``out``."""
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    counts = [0] * connections
    deadline = time.perf_counter() + seconds

    def run(i: int) -> None:
        with socket.create_connection(address) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = b""
            while time.perf_counter() < deadline:
                s.sendall(request)
                while b"\r\n\r\n" not in buffer:
                    buffer += s.recv(65536)
                header, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(header.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                while len(buffer) < length:
                    buffer += s.recv(65536)
                buffer = buffer[length:]
                if header.startswith(b"HTTP/1.1 200"):
                    counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((sum(counts), time.perf_counter() - started))  # type: ignore[attr-defined]


def _threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _sample_threads(peak: list[int], done: threading.Event) -> None:
    """Keep the highest thread count of this process (the sampler itself not counted) until ``done``."""
    while not done.wait(0.05):
        peak[0] = max(peak[0], _threads() - 1)


def _decode_rate(body: bytes, seconds: float) -> float:
    from otel_mlmon_collector._otlp import decode_protobuf

    n, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        decode_protobuf("traces", body)
        n += 1
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    from otel_mlmon_collector._config import parse_config
    from otel_mlmon_collector._service import Collector

    config = parse_config(
        {
            "receivers": {"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}},
            "health": {"enabled": False},
            "self_metrics": {"enabled": False},
            "queue": {"max_requests": 1_000_000, "max_bytes": 1 << 34},
        },
        env={},
    )
    collector = Collector(config, exporters={"drop": _Drop()})
    collector.start()
    host, port = collector.http_endpoint.rsplit(":", 1)
    context = multiprocessing.get_context("spawn")
    print(
        f"{'spans':>6} {'bytes':>7} {'decode req/s':>13}",
        *(f"{f'http x{c} req/s':>22}" for c in args.connections),
    )
    try:
        for spans in args.spans:
            body = payload(spans)
            decode = _decode_rate(body, args.seconds)
            cells = []
            for connections in args.connections:
                out = context.Queue()
                child = context.Process(
                    target=_client, args=((host, int(port)), body, connections, args.seconds, out)
                )
                peak = [_threads()]
                child.start()
                done = threading.Event()
                sampler = threading.Thread(target=_sample_threads, args=(peak, done))
                sampler.start()
                answered, elapsed = out.get(timeout=args.seconds + 120)
                done.set()
                sampler.join()
                child.join()
                threads = peak[0]
                rate = answered / elapsed
                cells.append(f"{rate:>8,.0f} ({rate / decode:.3f}×) t={threads}")
            print(f"{spans:>6} {len(body):>7} {decode:>13,.0f}", *(f"{c:>22}" for c in cells))
    finally:
        collector.shutdown(10)


if __name__ == "__main__":
    main()
