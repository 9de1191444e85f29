"""Wire-level fuzzing of a real collector process (issue 16): several hundred seeded malformed requests over
OTLP/HTTP and OTLP/gRPC, each answered the OTLP way and in time; afterwards the process is alive, its threads
bounded, ``/health`` 200, its stderr free of tracebacks, and valid data still flows downstream and through drift.

The corpus starts from valid SDK-shaped requests (``ml.feature.distribution`` exponential histograms and
categorical points from a monitored model, ``ml.prediction`` log records, spans) and mutates them: bit flips,
truncations, huge varints, wrong wire types, bad lengths, deep nesting (protobuf and JSON), wrong JSON types, bad
and bomb gzip, wrong or absent Content-Type / Content-Encoding, other paths, methods and HTTP versions, declared
lengths that lie, chunked-encoding junk, header junk; over gRPC mutated messages through a generic raw-bytes call,
compressed ones, odd metadata, unknown methods, and raw bytes on the gRPC port. ``FUZZ_SEED`` picks another corpus
(the default is fixed so that CI is reproducible); a failure names the case, which ``_fuzz_corpus.py`` rebuilds from the seed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from otel_mlmon import conventions as conv
from tests.collector.drift_engine._helpers import FEATURES

from ._fuzz_corpus import (
    GRPC_METHODS,
    HTTP_ANY,
    MAX_REQUEST_BYTES,
    PATHS,
    GrpcCase,
    HttpCase,
    grpc_corpus,
    http_corpus,
    http_request,
    spans,
    valid_seeds,
)
from ._process import CollectorProcess, fraud_references, metric_points
from .conftest import collector_config, wait_until

SEED = int(os.environ.get("FUZZ_SEED", "16"))
TIMEOUT = 10.0  # per request: an answer later than this is a hang
HTTP_WORKERS, GRPC_WORKERS = 2, 2
RESPONSES = {
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
    "traces": ExportTraceServiceResponse,
}

# ------------------------------------------------------------------------------------------- answers


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def _exchange(address: str, raw: bytes) -> list[HttpAnswer]:
    """Send ``raw`` on a new connection, close the write side, read every answer until the server closes."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before taking everything: read what it said
        data = bytearray()
        deadline = time.monotonic() + TIMEOUT
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no end of answer within {TIMEOUT} s")
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            data += piece
    return _parse_answers(bytes(data))


def _parse_answers(data: bytes) -> list[HttpAnswer]:
    answers = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"truncated answer head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if status == "100" else int(headers["content-length"])  # 100 Continue has no body
        answers.append(HttpAnswer(int(status), headers, rest[:length]))
        data = rest[length:]
    return answers


def _check_http(case: HttpCase, answers: list[HttpAnswer], signal: str | None) -> None:
    if not answers:
        assert case.may_close, f"{case.name}: connection closed without an answer"
        return
    answers = [a for a in answers if a.status != 100]
    first = answers[0]
    assert first.status in case.allowed, (
        f"{case.name}: answered {first.status}, allowed {sorted(case.allowed)}"
    )
    for answer in answers:
        assert answer.status in HTTP_ANY, f"{case.name}: answered {answer.status}"
        content_type = answer.headers.get("content-type", "")
        if answer.status == 503:
            assert answer.headers.get("retry-after", "").isdigit(), f"{case.name}: 503 without Retry-After"
        if answer.status == 405:
            assert answer.headers.get("allow") == "POST", f"{case.name}: 405 without Allow"
        if not answer.body:
            assert answer.status == 405 or answer.status == 200, (
                f"{case.name}: {answer.status} without a body"
            )
            continue
        if answer.status == 200:
            if content_type == "application/json":
                assert isinstance(json.loads(answer.body), dict), case.name
            elif signal is not None:
                RESPONSES[signal].FromString(answer.body)
            continue
        # OTLP/HTTP: a failure's body is a google.rpc.Status, in the request's encoding
        if content_type == "application/json":
            status = json.loads(answer.body)
            assert isinstance(status.get("code"), int) and status["code"] != 0 and status.get("message"), (
                case.name
            )
        else:
            assert content_type == "application/x-protobuf", (
                f"{case.name}: error body of type {content_type!r}"
            )
            status = status_pb2.Status.FromString(answer.body)
            assert status.code != 0 and status.message, f"{case.name}: empty google.rpc.Status"
    if case.json_errors and first.status in (400, 413):
        assert first.headers.get("content-type") == "application/json", f"{case.name}: non-JSON error"


def _signal_of(raw: bytes) -> str | None:
    line = raw.split(b"\r\n", 1)[0]
    for signal, path in PATHS.items():
        if f" {path} ".encode() in line or f" {path}?".encode() in line:
            return signal
    return None


def _call(channel: grpc.Channel, case: GrpcCase) -> grpc.StatusCode | None:
    """The call's status code; None when the client itself refused to send it (e.g. metadata it rejects)."""
    call = channel.unary_unary(case.method)  # no (de)serialiser: raw bytes both ways
    try:
        call(case.payload, timeout=TIMEOUT, metadata=case.metadata or None, compression=case.compression)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()  # type: ignore[attr-defined, no-any-return]
    except (ValueError, TypeError):
        return None


# ------------------------------------------------------------------------------------------- the test


def _run_all(items: list[Any], fn: Callable[[Any], Any], workers: int) -> Iterator[tuple[Any, Any, float]]:
    """Run ``fn`` over ``items`` on a few threads (the receivers see concurrent clients); yield results in order."""

    def timed(item: Any) -> tuple[Any, float]:
        start = time.monotonic()
        try:
            return fn(item), time.monotonic() - start
        except Exception as e:  # noqa: BLE001 - reported with the case below
            return e, time.monotonic() - start

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for item, (result, took) in zip(items, pool.map(timed, items)):
            yield item, result, took


@pytest.fixture
def references(tmp_path: Path) -> Path:
    return fraud_references(tmp_path, 2_000)


def _drift_scores_for_fraud(sink: InMemoryExporter) -> int:
    points = metric_points(sink, conv.METRIC_DRIFT_SCORE)
    return sum(attrs.get(conv.ATTR_MODEL_NAME) == "fraud" for attrs, _ in points)


def _span_names(sink: InMemoryExporter) -> set[str]:
    names = set()
    for request in sink.requests("traces"):
        message = ExportTraceServiceRequest.FromString(request.payload)
        names |= {s.name for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans}
    return names


def test_fuzzed_requests_over_http_and_grpc_against_a_collector_process(
    tmp_path: Path, references: Path, make_collector: Any
) -> None:
    """Every fuzzed request gets an OTLP answer in time; the collector survives, bounded, and keeps working."""
    started = time.monotonic()
    sink = InMemoryExporter("sink")
    downstream = make_collector(
        collector_config(receivers={"grpc": {"enabled": False}, "http": {"endpoint": "127.0.0.1:0"}}),
        exporters={"sink": sink},
    )
    downstream_http = next(r.endpoint for r in downstream.receivers if r.name == "otlp_http")
    process = CollectorProcess(
        tmp_path,
        {
            "receivers": {
                "http": {"max_workers": HTTP_WORKERS},
                "grpc": {"max_workers": GRPC_WORKERS},
                "max_request_bytes": MAX_REQUEST_BYTES,
            },
            "self_metrics": {"enabled": False},
            "exporters": [
                {"name": "downstream", "endpoint": f"http://{downstream_http}", "timeout_seconds": 5}
            ],
            "drift": {
                "evaluation_interval_seconds": 0.5,
                "references": {"directory": str(references), "poll_interval_seconds": 0.5},
            },
            "ground_truth": {"path": str(tmp_path / "ground-truth.db")},
        },
        grpc=True,
    )
    http_endpoint, grpc_endpoint = process.http, process.grpc
    seeds = valid_seeds(SEED)
    http_cases = http_corpus(SEED, seeds)
    grpc_cases = grpc_corpus(SEED, seeds)
    channel = None
    try:
        process.wait_serving()
        idle_threads = process.proc_status("Threads")
        failures: list[str] = []
        slowest = 0.0
        answered = 0

        def http_case(case: HttpCase) -> list[HttpAnswer]:
            return _exchange(http_endpoint, case.raw)

        for case, result, took in _run_all(http_cases, http_case, 4):
            slowest = max(slowest, took)
            try:
                if isinstance(result, Exception):
                    raise AssertionError(f"{case.name}: {type(result).__name__}: {result}")
                _check_http(case, result, _signal_of(case.raw))
                answered += bool(result)
            except AssertionError as e:
                failures.append(str(e))
        channel = grpc.insecure_channel(
            grpc_endpoint, options=[("grpc.max_send_message_length", -1), ("grpc.enable_retries", 0)]
        )
        sent = 0
        for case, code, took in _run_all(grpc_cases, lambda c: _call(channel, c), 4):
            slowest = max(slowest, took)
            if isinstance(code, Exception):
                failures.append(f"{case.name}: {type(code).__name__}: {code}")
            elif code is not None:
                sent += 1
                if code not in case.allowed:
                    failures.append(f"{case.name}: {code}, allowed {sorted(c.name for c in case.allowed)}")
        for junk in _raw_grpc_junk(
            random.Random(SEED + 2)
        ):  # bytes that are not HTTP/2 at all, or broken HTTP/2
            with socket.create_connection(tuple(grpc_endpoint.split(":")), timeout=1.0) as sock:  # type: ignore[arg-type]
                sock.sendall(junk)
                with contextlib.suppress(OSError):
                    sock.recv(4096)
        assert not failures, f"{len(failures)} of {len(http_cases) + len(grpc_cases)} cases:\n" + "\n".join(
            failures[:40]
        )
        assert slowest < TIMEOUT
        assert answered >= len(http_cases) - 25 and sent >= len(grpc_cases) - 8

        # after the storm: alive, threads bounded, healthy, and valid data still goes through
        assert process.popen.poll() is None, process.log()
        threads = process.proc_status("Threads")
        assert threads <= idle_threads + HTTP_WORKERS + GRPC_WORKERS + 2, (idle_threads, threads)
        assert process.get_health()[0] == 200
        scores_before = _drift_scores_for_fraud(sink)
        assert process.post("/v1/metrics", seeds["metrics"][0])[0] == 200
        assert process.post("/v1/traces", spans("after the storm over HTTP"))[0] == 200
        channel.unary_unary(GRPC_METHODS["traces"])(spans("after the storm over gRPC"), timeout=TIMEOUT)
        wait_until(lambda: {"after the storm over HTTP", "after the storm over gRPC"} <= _span_names(sink), 20,
                   what="the valid spans sent after the storm, downstream")  # fmt: skip
        wait_until(
            lambda: _drift_scores_for_fraud(sink) > scores_before,
            20,
            what="drift scores of the healthy model",
        )
        models = process.get_health()[1].get("drift", {}).get("models", [])
        assert any(m["model"] == "fraud" and m["features_checked"] == len(FEATURES) for m in models), models
    finally:
        if channel is not None:
            channel.close()
        code = process.stop()
    log = process.log()
    assert "Traceback" not in log and "unexpected error" not in log, log[-5000:]
    assert code == 0, log[-3000:]
    print(
        f"fuzz: {len(http_cases)} HTTP + {len(grpc_cases)} gRPC cases, seed {SEED}, "
        f"{time.monotonic() - started:.1f} s including the collector's start and stop"
    )


def _raw_grpc_junk(rng: random.Random) -> list[bytes]:
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    return [
        rng.randbytes(200),
        b"POST /v1/metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        preface + rng.randbytes(100),
        preface
        + settings
        + b"\x00\x00\x10\x01\x05\x00\x00\x00\x01"
        + rng.randbytes(16),  # HEADERS, bad HPACK
        preface + settings + b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",  # a frame longer than allowed
        preface[:10],
    ]


# ------------------------------------------------------------------------------------------- what the fuzzer found


@pytest.mark.parametrize("length", ["\u00b2", "\u00b9\u00b2\u00b3", "12\u00b3"])
def test_regression_a_non_ascii_digit_content_length_is_answered_400(
    make_collector: Any, caplog: pytest.LogCaptureFixture, length: str
) -> None:
    """Found by this fuzzer: ``"²".isdigit()`` is true but ``int("²")`` raises, so a Content-Length of latin-1
    superscript digits closed the connection with no answer and logged a traceback ("unexpected error serving a
    connection"). Now it is a malformed length: 400, and the connection's server keeps serving."""
    collector = make_collector(
        collector_config(receivers={"grpc": {"enabled": False}}), exporters={"mem": InMemoryExporter("mem")}
    )
    raw = http_request(PATHS["traces"], spans("x"), {"Content-Length": length})
    answers = _exchange(collector.http_endpoint, raw)
    assert [a.status for a in answers] == [400]
    assert status_pb2.Status.FromString(answers[0].body).code == 3  # INVALID_ARGUMENT
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert [
        a.status for a in _exchange(collector.http_endpoint, http_request(PATHS["traces"], spans("y")))
    ] == [200]


@pytest.mark.parametrize(
    ("size", "status"),
    [("0x{:x}", 400), ("+{:x}", 400), ("{:x}_", 400), ("0_{:x}", 400), (" {:x} ", 200), ("{:X}", 200)],
)
def test_regression_chunk_sizes_are_hex_digits_only(make_collector: Any, size: str, status: int) -> None:
    """Found while fixing the above: chunk sizes went through ``int(..., 16)``, which also takes ``0x``, ``_``
    and signs; RFC 9112 allows hex digits only (surrounding blanks are tolerated), anything else is 400."""
    collector = make_collector(
        collector_config(receivers={"grpc": {"enabled": False}}), exporters={"mem": InMemoryExporter("mem")}
    )
    body = spans("chunked")
    raw = http_request(PATHS["traces"], size.format(len(body)).encode() + b"\r\n" + body + b"\r\n0\r\n\r\n",
                   {"Content-Length": None, "Transfer-Encoding": "chunked"})  # fmt: skip
    assert [a.status for a in _exchange(collector.http_endpoint, raw)] == [status]
