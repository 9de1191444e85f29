"""Issue 16, item 4, against a collector process: slow clients cost no thread, are cut in time, allocate nothing.

Before, the HTTP receiver ran a thread per connection (1 000 slow-loris connections → 1 014 threads, legitimate
requests timing out at the fd limit), read a body with one ``read(Content-Length)`` (200 × 60 MiB declared →
14.6 GiB virtual), and gRPC had no concurrency limit.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otel_mlmon_collector._receivers.otlp_grpc import RETRY_INFO_TRAILER

from .._process import CollectorProcess
from ..conftest import wait_until

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
BODY = ExportTraceServiceRequest().SerializeToString()


def _export(c: CollectorProcess, timeout: float = 10) -> tuple[int, float, str | None]:
    """A legitimate protobuf export: its status, how long it took, and its ``Retry-After``."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(c.http, timeout=timeout)
    try:
        headers = {"Content-Type": "application/x-protobuf"}
        connection.request("POST", "/v1/traces", body=BODY, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started, response.getheader("Retry-After")
    finally:
        connection.close()


def _process(tmp_path: Path, receivers: dict[str, Any]) -> Iterator[CollectorProcess]:
    """A process with the given ``receivers:`` settings, both receivers on; no traceback in its stderr."""
    config = {"receivers": receivers, "queue": {"max_bytes": 1 << 34}}
    with CollectorProcess(tmp_path, config, grpc=True) as process:
        yield process
    assert "Traceback" not in process.log(), process.log()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One process for most tests (starting one takes seconds on a loaded machine): long header timeout,
    2 s body timeout, room for 400 connections, 40 gRPC calls, two worker threads per receiver."""
    receivers = {
        "http": {"max_connections": 400, "max_workers": 2},
        "grpc": {"max_concurrent_rpcs": 40, "max_workers": 2},
        "header_timeout_seconds": 30,
        "body_timeout_seconds": 2.0,
        "retry_after_seconds": 3,
    }
    yield from _process(tmp_path_factory.mktemp("slow"), receivers)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """A process that takes 20 connections and cuts headers after 1.5 s."""
    receivers = {"http": {"max_connections": 20}, "header_timeout_seconds": 1.5, "retry_after_seconds": 2}
    yield from _process(tmp_path_factory.mktemp("small"), receivers)


def _connect(address: str, n: int, head: bytes) -> list[socket.socket]:
    host, port = address.rsplit(":", 1)
    sockets = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(head)
        sockets.append(s)
    return sockets


def _dribble(sockets: list[socket.socket], stop: threading.Event, data: bytes = b"X") -> threading.Thread:
    """Send one more byte on every connection every 0.2 s until ``stop`` (a slow-loris attack)."""

    def run() -> None:
        while not stop.wait(0.2):
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.sendall(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_slow_loris_connections_cost_no_thread_and_a_legitimate_request_gets_through(
    c: CollectorProcess,
) -> None:
    """300 connections sending their headers a byte at a time add no thread; a legitimate request still takes
    well under a second, and threads stay within the bound (idle threads + ``receivers.http.max_workers``)."""
    assert _export(c)[0] == 200
    idle = c.proc_status("Threads")
    stop = threading.Event()
    sockets = _connect(c.http, 300, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        _dribble(sockets, stop)
        time.sleep(1.0)
        during = c.proc_status("Threads")
        timings = [_export(c) for _ in range(5)]
        assert [t[0] for t in timings] == [200] * 5
        assert max(t[1] for t in timings) < 1.0, timings
        assert during <= idle + 2, (idle, during)  # the old receiver: one thread per connection (+300)
    finally:
        stop.set()
        for s in sockets:
            s.close()


def test_connections_beyond_the_limit_are_refused_fast_and_slow_headers_are_cut(
    small: CollectorProcess,
) -> None:
    """With ``max_connections`` held by slow-loris clients, one more gets 503 + Retry-After at once; the slow
    clients are answered 408 and closed at the header timeout, after which requests are served again."""
    c = small
    sockets = _connect(c.http, 20, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    stop = threading.Event()
    try:
        _dribble(sockets, stop)
        time.sleep(0.3)
        status, seconds, retry_after = _export(c)
        assert (status, retry_after) == (503, "2") and seconds < 0.5
        started = time.monotonic()
        answers = [
            s.recv(200) for s in sockets
        ]  # each is cut at 1.5 s from its connection, byte by byte or not
        cut_after = time.monotonic() - started
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
        assert cut_after < 3.0
    finally:
        stop.set()
        for s in sockets:
            s.close()
    wait_until(lambda: _export(c)[0] == 200, 5, 0.1, what="a request served once the slow clients were cut")
    assert "max_connections reached" in c.log()  # the operator is told


def test_a_slow_body_is_cut_at_the_body_timeout(c: CollectorProcess) -> None:
    """A body sent a byte at a time is answered 408 and its connection closed when the body timeout passes."""
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n"
    (s,) = _connect(c.http, 1, head)
    stop = threading.Event()
    started = time.monotonic()
    _dribble([s], stop, b"\n")
    try:
        answer = s.recv(200)
        took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer, answer
        assert 1.9 < took < 4.0, took
    finally:
        stop.set()
        s.close()
    assert _export(c)[0] == 200


def test_a_huge_declared_length_with_a_tiny_body_allocates_nothing(c: CollectorProcess) -> None:
    """50 requests each declaring 60 MiB and sending 1 KiB: memory stays flat (before: 60 MiB reserved per
    request by ``read(Content-Length)``, 3 GiB of address space here), and each is cut at the body timeout."""
    assert _export(c)[0] == 200
    rss, size = c.proc_status("VmRSS"), c.proc_status("VmSize")
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 62914560\r\n\r\n" + b"\0" * 1024
    )
    sockets = _connect(c.http, 50, head)
    try:
        time.sleep(0.5)
        rss_growth, size_growth = c.proc_status("VmRSS") - rss, c.proc_status("VmSize") - size
        assert _export(c)[0] == 200  # still serving
        assert rss_growth < 30 << 20, rss_growth
        assert size_growth < 500 << 20, size_growth  # 50 x 60 MiB = 2.9 GiB if the length were allocated
        assert all(s.recv(200).startswith(b"HTTP/1.1 408") for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_grpc_calls_beyond_the_limit_get_resource_exhausted_with_a_retry_hint(c: CollectorProcess) -> None:
    """With ``max_concurrent_rpcs`` calls whose message has not arrived, one more gets RESOURCE_EXHAUSTED with
    RetryInfo at once (retryable per OTLP); the held calls cost no thread and are cut at the body timeout
    (DEADLINE_EXCEEDED); then calls succeed again."""
    release = threading.Event()

    def never_sends() -> Iterator[bytes]:
        release.wait(20)
        return
        yield b""  # a generator that sends nothing until released

    with grpc.insecure_channel(c.grpc) as channel:
        unary = channel.unary_unary(TRACES)
        assert unary(BODY, timeout=5) == b""
        idle = c.proc_status("Threads")
        held = [channel.stream_unary(TRACES).future(never_sends(), timeout=10) for _ in range(40)]
        try:
            time.sleep(0.8)
            during = c.proc_status("Threads")
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                unary(BODY, timeout=5)
            assert time.monotonic() - started < 0.5
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            hint = error_details_pb2.RetryInfo.FromString(
                dict(info.value.trailing_metadata())[RETRY_INFO_TRAILER]
            )
            assert hint.retry_delay.seconds == 3
            assert during <= idle + 2, (idle, during)
            codes = {f.exception(timeout=10).code() for f in held}  # type: ignore[union-attr]
            assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED}
        finally:
            release.set()
        assert unary(BODY, timeout=5) == b""


def test_expect_continue_oversized_headers_and_http2_get_their_answers(c: CollectorProcess) -> None:
    """``Expect: 100-continue`` gets 100 before the body is sent; 64 KiB of headers get 431; HTTP/2.0 gets 505."""
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="predict")
    body = request.SerializeToString()
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    (s,) = _connect(c.http, 1, head)
    with s:
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(200).startswith(b"HTTP/1.1 200")
    (s,) = _connect(c.http, 1, b"POST /v1/traces HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    with s:
        assert s.recv(200).startswith(b"HTTP/1.1 431")
    (s,) = _connect(c.http, 1, b"POST /v1/traces HTTP/2.0\r\nHost: x\r\n\r\n")
    with s:
        assert s.recv(200).startswith(b"HTTP/1.1 505")


def test_receive_path_settings_are_parsed_and_validated() -> None:
    """The receive-path bounds are read from ``receivers:``; bad values name their key."""
    from otel_mlmon_collector._config import ConfigError, parse_config

    config = parse_config(
        {
            "receivers": {
                "header_timeout_seconds": 2.5,
                "body_timeout_seconds": "7",
                "http": {"max_connections": 10, "max_workers": 1, "idle_timeout_seconds": 3},
                "grpc": {"max_concurrent_rpcs": 5},
            }
        },
        env={},
    )
    rcv = config.receivers
    assert (rcv.header_timeout_seconds, rcv.body_timeout_seconds) == (2.5, 7.0)
    assert (rcv.http.max_connections, rcv.http.max_workers, rcv.http.idle_timeout_seconds) == (10, 1, 3.0)
    assert rcv.grpc.max_concurrent_rpcs == 5
    for bad, key in (
        ({"http": {"max_connections": 0}}, "receivers.http.max_connections"),
        ({"grpc": {"max_concurrent_rpcs": 0}}, "receivers.grpc.max_concurrent_rpcs"),
        ({"body_timeout_seconds": 0}, "receivers.body_timeout_seconds"),
        ({"header_timeout_seconds": "soon"}, "receivers.header_timeout_seconds"),
    ):
        with pytest.raises(ConfigError, match=key):
            parse_config({"receivers": bad}, env={})
