"""Wire-level fuzzing of a real collector process (issue 16): several hundred seeded malformed requests over
OTLP/HTTP and OTLP/gRPC, each answered the OTLP way and in time; afterwards the process is alive, its threads
bounded, ``/health`` 200, its stderr free of tracebacks, and valid data still flows downstream and through drift.

The corpus starts from valid SDK-shaped requests (``ml.feature.distribution`` exponential histograms and
categorical points from a monitored model, ``ml.prediction`` log records, spans) and mutates them: bit flips,
truncations, huge varints, wrong wire types, bad lengths, deep nesting (protobuf and JSON), wrong JSON types, bad
and bomb gzip, wrong or absent Content-Type / Content-Encoding, other paths, methods and HTTP versions, declared
lengths that lie, chunked-encoding junk, header junk; over gRPC mutated messages through a generic raw-bytes call,
compressed ones, odd metadata, unknown methods, and raw bytes on the gRPC port. ``FUZZ_SEED`` picks another corpus
(the default is fixed so that CI is reproducible); a failure names the case, which :func:`_http_corpus` or
:func:`_grpc_corpus` rebuilds from the seed.
"""

from __future__ import annotations

import base64
import concurrent.futures
import gzip
import json
import os
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otel_mlmon_collector._exporters.in_memory import InMemoryExporter

from otel_mlmon import Profile
from otel_mlmon import conventions as conv
from tests.collector.drift_engine._helpers import FEATURES, Replica, make_data
from tests.collector.ground_truth._helpers import label_log, log_record, prediction_log

from .conftest import collector_config, free_port, wait_until
from .test_hardening import CollectorProcess

SEED = int(os.environ.get("FUZZ_SEED", "16"))
MAX_REQUEST_BYTES = 256 * 1024  # small, so that the "too large" cases cost little
TIMEOUT = 10.0  # per request: an answer later than this is a hang
HTTP_WORKERS, GRPC_WORKERS = 2, 2
PATHS = {"metrics": "/v1/metrics", "logs": "/v1/logs", "traces": "/v1/traces"}
RESPONSES = {
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
    "traces": ExportTraceServiceResponse,
}
GRPC_METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}
#: Every answer an OTLP/HTTP receiver may give a malformed request (never 500).
HTTP_ANY = frozenset({200, 400, 401, 404, 405, 408, 411, 413, 415, 431, 503, 505})
OK_OR_BAD = frozenset({200, 400})
#: gRPC codes the OTLP specification allows for an export call (never UNKNOWN, INTERNAL or a deadline).
GRPC_ANY = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


# ------------------------------------------------------------------------------------------- valid seeds


def _ids_to_hex(node: Any) -> Any:
    """proto3 JSON writes bytes as base64; OTLP/JSON wants trace and span ids in hex."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else _ids_to_hex(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_hex(v) for v in node]
    return node


def _otlp_json(message: Any) -> dict[str, Any]:
    return _ids_to_hex(json_format.MessageToDict(message, use_integers_for_enums=True))


def _seeds() -> dict[str, list[bytes]]:
    """Valid protobuf requests per signal, shaped as the SDK sends them."""
    replica = Replica("delta", model="fraud")
    replica.predict(make_data(np.random.default_rng(SEED), 200))
    metrics = replica.export().payload
    replica.shutdown()
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    records.extend(
        [
            prediction_log("p1", 0.75),
            prediction_log("p2", "yes"),
            label_log("p1", 1.0),
            log_record("app.event", {"k": [1, 2.5, "x", True]}, 5, trace_id=b"\x01" * 16, span_id=b"\x02" * 8),
        ]
    )
    return {"metrics": [metrics], "logs": [logs.SerializeToString()], "traces": [_spans("seed")]}


def _spans(name: str) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(
        name=name, trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=b"\x03" * 8, kind=2
    )
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2
    span.attributes.add(key="http.route", value={"string_value": "/predict"})
    return request.SerializeToString()


_CLASSES = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}


# ------------------------------------------------------------------------------------------- mutations


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_protobuf(depth: int) -> bytes:
    """AnyValue.kvlist_value → KeyValue.value → AnyValue ... ``depth`` times, as a resource attribute."""
    value = b""
    for _ in range(depth):
        value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))  # kvlist{values[{key, value}]}
    attribute = _field(1, b"k") + _field(2, value)
    return _field(1, _field(1, _field(1, attribute)))  # request.resource_*[0].resource.attributes[0]


def _mutate_protobuf(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = rng.choice(
        ["flip", "flip", "truncate", "insert", "delete", "varint", "length", "wiretype", "garbage", "splice"]
    )
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[: rng.randrange(len(b))]
    elif kind == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 16))
    elif kind == "delete":
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 16)]
    elif kind == "varint":  # an over-long or 64-bit-overflowing varint in place of a field's value
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.choice([b"\x08" + b"\xff" * 10 + b"\x01", b"\x08" + b"\xff" * 9 + b"\x7f", b"\x08\x80" * 6])
    elif kind == "length":  # a length-delimited field declaring far more bytes than follow
        i = rng.randrange(len(b) + 1)
        b[i:i] = b"\x0a" + _varint(rng.choice([2**31, 2**32 + 5, 2**63, len(b) + 1]))
    elif kind == "wiretype":  # a tag keeps its number but changes its wire type (groups 3/4 included)
        i = rng.randrange(len(b))
        b[i] = (b[i] & 0xF8) | rng.randrange(8)
    elif kind == "garbage":
        b = bytearray(rng.randbytes(rng.randint(0, 512)))
    else:  # two valid messages concatenated merge into one: still valid
        b = b + b
    return kind, bytes(b)


def _mutate_json(rng: random.Random, document: dict[str, Any]) -> tuple[str, bytes]:
    kind = rng.choice(["type", "type", "text", "truncate", "deep", "number", "encoding", "shape", "id"])
    if kind == "type":  # a value replaced by one of another type
        doc = json.loads(json.dumps(document))
        slots: list[tuple[Any, Any]] = []

        def walk(node: Any) -> None:
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in list(items):
                slots.append((node, k))
                if isinstance(v, (dict, list)):
                    walk(v)

        walk(doc)
        parent, key = rng.choice(slots)
        parent[key] = rng.choice(
            [None, True, -1, 2**70, 1.5, "x", "NaN", "-Infinity", [], [1, "a"], {}, {"a": [None]}, "9" * 40]
        )
        return kind, json.dumps(doc).encode()
    text = json.dumps(document).encode()
    if kind == "text":
        b = bytearray(text)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.choice(b'{}[]",:0\\ \x00\xff')
        return kind, bytes(b)
    if kind == "truncate":
        return kind, text[: rng.randrange(len(text))]
    if kind == "deep":
        depth = rng.choice([1_000, 20_000])  # both within MAX_REQUEST_BYTES
        opening, closing = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return kind, b'{"resourceMetrics": ' + opening * depth + b"1" + closing * depth + b"}"
    if kind == "number":
        return kind, text.replace(b'"1"', rng.choice([b"1e999", b"-0.0e-999", b"1" * 5000, b"1.5", b"NaN"]), 1)
    if kind == "encoding":
        return kind, rng.choice(
            [b"\xef\xbb\xbf" + text, text.decode().encode("utf-16"), text + b"\xff\xfe", b'{"a": "\\ud800"}']
        )
    if kind == "shape":
        return kind, rng.choice([b"[]", b"null", b'"x"', b"1", b"{}", b'{"resourceMetrics": {}}', b""])
    return kind, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "%s"}]}]}]}' % rng.choice(
        [b"xyz", b"abc", b"0" * 31, b"\\u0660\\u0661", b"0" * 4000]
    )


# ------------------------------------------------------------------------------------------- HTTP cases


@dataclass
class HttpCase:
    """One connection: the bytes sent (then the write side is closed) and the statuses allowed first."""

    name: str
    raw: bytes
    allowed: frozenset[int]
    json_errors: bool = False  # a handler-level error answer must be a JSON google.rpc.Status
    may_close: bool = False  # closing without an answer is right (HTTP/0.9, no request at all)


def _request(
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    version: str = "HTTP/1.1",
    length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} {version}", "Host: fuzz"]
    hdrs = {"Content-Type": "application/x-protobuf", "Content-Length": str(len(body) if length is None else length)}
    hdrs.update(headers or {})
    lines += [f"{k}: {v}" for k, v in hdrs.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _chunked(body: bytes, rng: random.Random) -> bytes:
    out, i = b"", 0
    while i < len(body):
        n = rng.randint(1, 4096)
        out += b"%x\r\n" % len(body[i : i + n]) + body[i : i + n] + b"\r\n"
        i += n
    return out + b"0\r\n\r\n"


def _http_corpus(seed: int, seeds: dict[str, list[bytes]]) -> list[HttpCase]:
    rng = random.Random(seed)
    cases: list[HttpCase] = []

    def add(name: str, raw: bytes, allowed: frozenset[int] | set[int], **kw: Any) -> None:
        cases.append(HttpCase(f"http#{len(cases)} {name}", raw, frozenset(allowed), **kw))

    documents = {s: _otlp_json(_CLASSES[s].FromString(seeds[s][0])) for s in seeds}
    for signal, (body,) in seeds.items():
        add(f"valid {signal} protobuf", _request(PATHS[signal], body), {200})
        add(f"valid {signal} json", _request(PATHS[signal], json.dumps(documents[signal]).encode(),
                                            {"Content-Type": "application/json"}), {200})  # fmt: skip
        add(f"valid {signal} gzip", _request(PATHS[signal], gzip.compress(body), {"Content-Encoding": "gzip"}), {200})
        add(f"valid {signal} chunked", _request(PATHS[signal], _chunked(body, rng),
                                               {"Content-Length": None, "Transfer-Encoding": "chunked"}), {200})  # fmt: skip
    signals = list(seeds)
    for _ in range(140):  # mutated protobuf bodies
        signal = rng.choice(signals)
        kind, body = _mutate_protobuf(rng, seeds[signal][0])
        add(f"protobuf {kind} {signal}", _request(PATHS[signal], body), OK_OR_BAD)
    for depth in (50, 99, 101, 5_000):
        add(f"protobuf nested {depth}", _request(PATHS["logs"], _deep_protobuf(depth)), OK_OR_BAD)
    for _ in range(90):  # mutated JSON bodies
        signal = rng.choice(signals)
        kind, body = _mutate_json(rng, documents[signal])
        add(f"json {kind} {signal}", _request(PATHS[signal], body, {"Content-Type": "application/json"}),
            OK_OR_BAD, json_errors=True)  # fmt: skip
    for _ in range(30):  # mutated gzip
        signal = rng.choice(signals)
        compressed = bytearray(gzip.compress(seeds[signal][0]))
        how = rng.choice(["flip", "truncate", "plain", "zlib", "trailer", "twice"])
        if how == "flip":
            compressed[rng.randrange(len(compressed))] ^= 1 << rng.randrange(8)
        elif how == "truncate":
            compressed = compressed[: rng.randrange(len(compressed))]
        elif how == "plain":
            compressed = bytearray(seeds[signal][0])
        elif how == "zlib":
            compressed = bytearray(zlib.compress(seeds[signal][0]))
        elif how == "trailer":
            compressed += b"junk after the gzip member"
        else:
            compressed = bytearray(gzip.compress(bytes(compressed)))
        add(f"gzip {how} {signal}", _request(PATHS[signal], bytes(compressed), {"Content-Encoding": "gzip"}),
            OK_OR_BAD)  # fmt: skip
    bomb = gzip.compress(b"\x00" * (4 * MAX_REQUEST_BYTES))
    add("gzip bomb", _request(PATHS["metrics"], bomb, {"Content-Encoding": "gzip"}), {413})
    add("gzip bomb json", _request(PATHS["metrics"], bomb, {"Content-Encoding": "gzip",
                                                          "Content-Type": "application/json"}), {413}, json_errors=True)  # fmt: skip
    add("body too large", _request(PATHS["traces"], b"\x00" * (MAX_REQUEST_BYTES + 1)), {413})
    add("chunked too large", _request(PATHS["traces"], b"%x\r\n" % (MAX_REQUEST_BYTES + 1) + b"\x00" * 64,
                                      {"Content-Length": None, "Transfer-Encoding": "chunked"}), {413})  # fmt: skip
    metrics = seeds["metrics"][0]
    for content_type in [None, "text/plain", "application/protobuf", "application/grpc", "application/x-protobuf, application/json",
                         "multipart/form-data; boundary=x", "\x00", "application/json+x"]:  # fmt: skip
        add(f"content-type {content_type!r}", _request(PATHS["metrics"], metrics, {"Content-Type": content_type}), {415})
    for content_type in ["application/x-protobuf; charset=utf-8", "APPLICATION/X-PROTOBUF", " application/x-protobuf "]:
        add(f"content-type {content_type!r}", _request(PATHS["metrics"], metrics, {"Content-Type": content_type}), {200})
    for encoding in ["br", "deflate", "gzip, gzip", "x-gzip", "zstd", "\x7f"]:
        add(f"content-encoding {encoding!r}", _request(PATHS["metrics"], metrics, {"Content-Encoding": encoding}), {415})
    add("content-encoding identity", _request(PATHS["metrics"], metrics, {"Content-Encoding": "identity"}), {200})
    for path in ["/", "/v1/metrics/", "/v1/metric", "//v1/metrics", "/V1/METRICS", "*", "/v1/../v1/metrics",
                 "http://fuzz/v1/metrics", "/v1/%6detrics", "/" + "a" * 8000, "/v2/metrics", "/v1/metrics\x00"]:  # fmt: skip
        add(f"path {path[:30]!r}", _request(path, metrics), {404})
    add("path with query", _request("/v1/metrics?x=1&y", metrics), {200})
    for method in ["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "post", "PO\x01ST", "X" * 100]:
        add(f"method {method[:10]!r}", _request(PATHS["metrics"], metrics, method=method), {405})
    add("CONNECT", b"CONNECT fuzz:443 HTTP/1.1\r\nHost: fuzz\r\n\r\n", {405, 404, 400})
    n = len(metrics)
    for name, headers, body, allowed in [
        ("length shorter than body", {"Content-Length": str(n - 7)}, metrics, HTTP_ANY - {200, 503}),
        ("length longer than body", {"Content-Length": str(n + 7)}, metrics, {400}),
        ("length huge", {"Content-Length": "9" * 30}, metrics, {413}),
        ("length 2^63", {"Content-Length": str(2**63)}, metrics, {413}),
        ("length negative", {"Content-Length": "-1"}, metrics, {400, 411}),
        ("length plus", {"Content-Length": f"+{n}"}, metrics, {400, 411}),
        ("length hex", {"Content-Length": hex(n)}, metrics, {400, 411}),
        ("length superscript digit", {"Content-Length": "\u00b2"}, metrics, {400, 411}),
        ("length superscript digits", {"Content-Length": "\u00b9\u00b2\u00b3"}, metrics, {400, 411}),
        ("length empty", {"Content-Length": ""}, metrics, {400, 411}),
        ("length absent", {"Content-Length": None}, b"", {400, 411}),
        ("length zero", {"Content-Length": "0"}, b"", {200}),
        ("length zero json", {"Content-Length": "0", "Content-Type": "application/json"}, b"", {400}),
        ("length with spaces", {"Content-Length": f"  {n}  "}, metrics, {200}),
        ("te identity", {"Transfer-Encoding": "identity"}, metrics, {400, 411, 501}),
        ("te chunked, gzip", {"Transfer-Encoding": "chunked, gzip"}, metrics, {400, 411, 501}),
        ("te chunked and length", {"Transfer-Encoding": "chunked"}, _chunked(metrics, rng), {200, 400}),
        ("expect 100-continue", {"Expect": "100-continue"}, metrics, {200}),
        ("expect junk", {"Expect": "200-ok"}, metrics, {200, 417}),
        ("connection close", {"Connection": "close"}, metrics, {200}),
        ("authorization junk", {"Authorization": "Bearer \x00\xff"}, metrics, {200}),
    ]:
        add(name, _request(PATHS["metrics"], body, headers), allowed)
    add("two different lengths", _request(PATHS["metrics"], metrics).replace(
        b"Host: fuzz", b"Host: fuzz\r\nContent-Length: 1", 1), {400})  # fmt: skip
    chunk_junk = [
        b"zz\r\n" + metrics + b"\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"%x\r\n" % n + metrics + b"0\r\n\r\n",  # CRLF after the data missing
        b"%x\r\n" % (n + 100) + metrics + b"\r\n0\r\n\r\n",  # shorter than declared
        b"%x\r\n" % n + metrics + b"\r\n",  # no last chunk
        b"%x;ext=1;x\r\n" % n + metrics + b"\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n",
        b"f" * 40 + b"\r\nx\r\n0\r\n\r\n",
        b"0x10\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n",
        b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n",
        b"\r\n\r\n",
        b"1" * 70000 + b"\r\n",  # a chunk-size line longer than the reader's limit
        b"0\r\n" + b"T: x\r\n" * 5000 + b"\r\n",  # endless trailers
    ]
    for i, junk in enumerate(chunk_junk):
        add(f"chunked junk {i}", _request(PATHS["metrics"], junk, {"Content-Length": None, "Transfer-Encoding": "chunked"}),
            HTTP_ANY - {503})  # fmt: skip
    for version in ["HTTP/1.0", "HTTP/2.0", "HTTP/3", "HTTP/1.1.1", "HTTPS/1.1", "HTTP/0.9", "HTTP/x", "http/1.1"]:
        # "HTTP/3" lacks the ".minor" that RFC 9112's HTTP-version requires: malformed rather than unsupported
        allowed = {200} if version == "HTTP/1.0" else {505} if version == "HTTP/2.0" else {400, 505}
        add(f"version {version}", _request(PATHS["metrics"], metrics, version=version), allowed)
    good = _request(PATHS["metrics"], metrics)
    head_junk = [
        good.replace(b"Host: fuzz", b"Host fuzz", 1),
        good.replace(b"Host: fuzz", b"Host : fuzz", 1),
        good.replace(b"Host: fuzz", b"Host: fuzz\r\n folded", 1),
        good.replace(b"Host: fuzz", b"Host: fuzz\r\n: empty name", 1),
        good.replace(b"Host: fuzz", b"Host: \x00\xff\x80", 1),
        good.replace(b"Host: fuzz", b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"Host: fuzz", 1),
        good.replace(b"Host: fuzz", b"X-Big: " + b"y" * 70_000, 1),
        b"\r\n\r\n" + good,  # empty lines before a request line are ignored
        b"POST /v1/metrics\r\n\r\n",  # HTTP/0.9-style: no answer is possible
        b"\r\n\r\n",
        b"GET\r\n\r\n",
        b"A B C D\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",  # a TLS hello in plaintext
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # an HTTP/2 preface
        b"",
    ]
    for i, raw in enumerate(head_junk):
        add(f"head junk {i}", raw, HTTP_ANY - {503}, may_close=True)
    for _ in range(30):  # random bytes as a request, and random bytes in a valid head
        raw = rng.randbytes(rng.randint(1, 300)) + b"\r\n\r\n"
        add("random head", raw, HTTP_ANY - {503}, may_close=True)
        b = bytearray(good)
        end = good.index(b"\r\n\r\n")
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(end)] = rng.randrange(256)
        add("mutated head", bytes(b), HTTP_ANY - {503}, may_close=True)
    add("pipelined good then junk", good + b"GARBAGE\r\n\r\n", {200})
    add("pipelined twice", good + good, {200})
    return cases


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
    assert first.status in case.allowed, f"{case.name}: answered {first.status}, allowed {sorted(case.allowed)}"
    for answer in answers:
        assert answer.status in HTTP_ANY, f"{case.name}: answered {answer.status}"
        content_type = answer.headers.get("content-type", "")
        if answer.status == 503:
            assert answer.headers.get("retry-after", "").isdigit(), f"{case.name}: 503 without Retry-After"
        if answer.status == 405:
            assert answer.headers.get("allow") == "POST", f"{case.name}: 405 without Allow"
        if not answer.body:
            assert answer.status == 405 or answer.status == 200, f"{case.name}: {answer.status} without a body"
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
            assert isinstance(status.get("code"), int) and status["code"] != 0 and status.get("message"), case.name
        else:
            assert content_type == "application/x-protobuf", f"{case.name}: error body of type {content_type!r}"
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


# ------------------------------------------------------------------------------------------- gRPC cases


@dataclass
class GrpcCase:
    name: str
    method: str
    payload: bytes
    allowed: frozenset[grpc.StatusCode]
    metadata: tuple[tuple[str, str | bytes], ...] = ()
    compression: grpc.Compression | None = None
    results: list[Any] = field(default_factory=list)


def _grpc_corpus(seed: int, seeds: dict[str, list[bytes]]) -> list[GrpcCase]:
    rng = random.Random(seed + 1)
    ok, bad = grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT
    cases: list[GrpcCase] = []

    def add(name: str, method: str, payload: bytes, allowed: set[grpc.StatusCode], **kw: Any) -> None:
        cases.append(GrpcCase(f"grpc#{len(cases)} {name}", method, payload, frozenset(allowed), **kw))

    for signal, (body,) in seeds.items():
        add(f"valid {signal}", GRPC_METHODS[signal], body, {ok})
        add(f"valid {signal} gzip", GRPC_METHODS[signal], body, {ok}, compression=grpc.Compression.Gzip)
    signals = list(seeds)
    for _ in range(110):
        signal = rng.choice(signals)
        kind, body = _mutate_protobuf(rng, seeds[signal][0])
        compression = grpc.Compression.Gzip if rng.random() < 0.2 else None
        add(f"{kind} {signal}", GRPC_METHODS[signal], body, {ok, bad}, compression=compression)
    for depth in (99, 101, 5_000):
        add(f"nested {depth}", GRPC_METHODS["logs"], _deep_protobuf(depth), {ok, bad})
    too_large = {grpc.StatusCode.RESOURCE_EXHAUSTED}
    add("too large", GRPC_METHODS["traces"], b"\x00" * (MAX_REQUEST_BYTES + 1), too_large)
    add("gzip bomb", GRPC_METHODS["traces"], b"\x00" * (4 * MAX_REQUEST_BYTES), too_large,
        compression=grpc.Compression.Gzip)  # fmt: skip
    add("empty message", GRPC_METHODS["metrics"], b"", {ok})
    unimplemented = {grpc.StatusCode.UNIMPLEMENTED}
    for method in ["/opentelemetry.proto.collector.metrics.v1.MetricsService/Exports", "/x/y", "/",
                   "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
                   "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export/extra", "/grpc.health.v1.Health/Check"]:  # fmt: skip
        add(f"method {method[-20:]!r}", method, seeds["metrics"][0], unimplemented)
    metrics = seeds["metrics"][0]
    for metadata in [
        (("x-junk-bin", rng.randbytes(64)),),
        (("x-junk", "a" * 4000),),
        (("authorization", "Bearer nothing-configured"),),
        (("te", "trailers"),),
        (("grpc-accept-encoding", "br, zstd"),),
        tuple((f"x-{i}", "v") for i in range(60)),
    ]:
        add(f"metadata {metadata[0][0]}", GRPC_METHODS["metrics"], metrics, {ok}, metadata=metadata)
    return cases


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


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


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
    directory = tmp_path / "profiles"
    directory.mkdir()
    X = make_data(np.random.default_rng(5), 2_000)
    Profile.from_data(
        X, X[:, 0] > 100, model="fraud", version="1", feature_names=FEATURES, categorical=["country"]
    ).save(directory / "fraud.json")
    return directory


def _drift_scores_for_fraud(sink: InMemoryExporter) -> int:
    count = 0
    for request in sink.requests("metrics"):
        message = ExportMetricsServiceRequest.FromString(request.payload)
        for rm in message.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == conv.METRIC_DRIFT_SCORE:
                        for point in metric.gauge.data_points:
                            attrs = {a.key: a.value.string_value for a in point.attributes}
                            count += attrs.get(conv.ATTR_MODEL_NAME) == "fraud"
    return count


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
    http_endpoint, grpc_endpoint = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    process = CollectorProcess(
        tmp_path,
        {
            "receivers": {
                "http": {"endpoint": http_endpoint, "max_workers": HTTP_WORKERS},
                "grpc": {"endpoint": grpc_endpoint, "max_workers": GRPC_WORKERS},
                "max_request_bytes": MAX_REQUEST_BYTES,
            },
            "self_metrics": {"enabled": False},
            "exporters": [{"name": "downstream", "endpoint": f"http://{downstream_http}", "timeout_seconds": 5}],
            "drift": {
                "evaluation_interval_seconds": 0.5,
                "references": {"directory": str(references), "poll_interval_seconds": 0.5},
            },
            "ground_truth": {"path": str(tmp_path / "ground-truth.db")},
        },
    )
    process.http = http_endpoint
    seeds = _seeds()
    http_cases = _http_corpus(SEED, seeds)
    grpc_cases = _grpc_corpus(SEED, seeds)
    channel = None
    try:
        process.wait_serving()
        idle_threads = _threads(process.popen.pid)
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
        for junk in _raw_grpc_junk(random.Random(SEED + 2)):  # bytes that are not HTTP/2 at all, or broken HTTP/2
            with socket.create_connection(tuple(grpc_endpoint.split(":")), timeout=1.0) as sock:  # type: ignore[arg-type]
                sock.sendall(junk)
                try:
                    sock.recv(4096)
                except OSError:
                    pass
        assert not failures, f"{len(failures)} of {len(http_cases) + len(grpc_cases)} cases:\n" + "\n".join(failures[:40])
        assert slowest < TIMEOUT
        assert answered >= len(http_cases) - 25 and sent >= len(grpc_cases) - 8

        # after the storm: alive, threads bounded, healthy, and valid data still goes through
        assert process.popen.poll() is None, process.log()
        threads = _threads(process.popen.pid)
        assert threads <= idle_threads + HTTP_WORKERS + GRPC_WORKERS + 2, (idle_threads, threads)
        assert process.get_health()[0] == 200
        scores_before = _drift_scores_for_fraud(sink)
        assert process.post("/v1/metrics", seeds["metrics"][0])[0] == 200
        assert process.post("/v1/traces", _spans("after the storm over HTTP"))[0] == 200
        channel.unary_unary(GRPC_METHODS["traces"])(_spans("after the storm over gRPC"), timeout=TIMEOUT)
        wait_until(lambda: {"after the storm over HTTP", "after the storm over gRPC"} <= _span_names(sink), 20,
                   what="the valid spans sent after the storm, downstream")  # fmt: skip
        wait_until(lambda: _drift_scores_for_fraud(sink) > scores_before, 20, what="drift scores of the healthy model")
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
        preface + settings + b"\x00\x00\x10\x01\x05\x00\x00\x00\x01" + rng.randbytes(16),  # HEADERS, bad HPACK
        preface + settings + b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",  # a frame longer than allowed
        preface[:10],
    ]
