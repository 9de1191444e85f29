"""The seeded corpus of the wire-level fuzz test (``test_fuzz_process.py``): valid SDK-shaped OTLP requests and
the malformed and mutated requests made from them, each with the answers the OTLP specification allows for it.

Everything is built from a :class:`random.Random` of the given seed, so a failing case is rebuilt exactly from
its seed and the number in its name.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.collector.drift_engine._helpers import Replica, make_data
from tests.collector.ground_truth._helpers import label_log, log_record, prediction_log

__all__ = [
    "GRPC_METHODS",
    "HTTP_ANY",
    "MAX_REQUEST_BYTES",
    "PATHS",
    "GrpcCase",
    "HttpCase",
    "grpc_corpus",
    "http_corpus",
    "http_request",
    "spans",
    "valid_seeds",
]

MAX_REQUEST_BYTES = (
    256 * 1024
)  # the collector's receivers.max_request_bytes: small, so "too large" costs little
PATHS = {"metrics": "/v1/metrics", "logs": "/v1/logs", "traces": "/v1/traces"}
GRPC_METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}
#: Every answer an OTLP/HTTP receiver may give a malformed request (never 500).
HTTP_ANY = frozenset({200, 400, 401, 404, 405, 408, 411, 413, 415, 431, 503, 505})
OK_OR_BAD = frozenset({200, 400})

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


def valid_seeds(seed: int) -> dict[str, list[bytes]]:
    """Valid protobuf requests per signal, shaped as the SDK sends them."""
    replica = Replica("delta", model="fraud")
    replica.predict(make_data(np.random.default_rng(seed), 200))
    metrics = replica.export().payload
    replica.shutdown()
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    records.extend(
        [
            prediction_log("p1", 0.75),
            prediction_log("p2", "yes"),
            label_log("p1", 1.0),
            log_record(
                "app.event", {"k": [1, 2.5, "x", True]}, 5, trace_id=b"\x01" * 16, span_id=b"\x02" * 8
            ),
        ]
    )
    return {"metrics": [metrics], "logs": [logs.SerializeToString()], "traces": [spans("seed")]}


def spans(name: str) -> bytes:
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(
            name=name, trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=b"\x03" * 8, kind=2
        )
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
        b[i:i] = rng.choice(
            [b"\x08" + b"\xff" * 10 + b"\x01", b"\x08" + b"\xff" * 9 + b"\x7f", b"\x08\x80" * 6]
        )
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
        return kind, text.replace(
            b'"1"', rng.choice([b"1e999", b"-0.0e-999", b"1" * 5000, b"1.5", b"NaN"]), 1
        )
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


def http_request(
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    version: str = "HTTP/1.1",
    length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} {version}", "Host: fuzz"]
    hdrs = {
        "Content-Type": "application/x-protobuf",
        "Content-Length": str(len(body) if length is None else length),
    }
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


def http_corpus(seed: int, seeds: dict[str, list[bytes]]) -> list[HttpCase]:
    rng = random.Random(seed)
    cases: list[HttpCase] = []

    def add(name: str, raw: bytes, allowed: frozenset[int] | set[int], **kw: Any) -> None:
        cases.append(HttpCase(f"http#{len(cases)} {name}", raw, frozenset(allowed), **kw))

    documents = {s: _otlp_json(_CLASSES[s].FromString(seeds[s][0])) for s in seeds}
    for signal, (body,) in seeds.items():
        add(f"valid {signal} protobuf", http_request(PATHS[signal], body), {200})
        add(f"valid {signal} json", http_request(PATHS[signal], json.dumps(documents[signal]).encode(),
                                            {"Content-Type": "application/json"}), {200})  # fmt: skip
        add(
            f"valid {signal} gzip",
            http_request(PATHS[signal], gzip.compress(body), {"Content-Encoding": "gzip"}),
            {200},
        )
        add(f"valid {signal} chunked", http_request(PATHS[signal], _chunked(body, rng),
                                               {"Content-Length": None, "Transfer-Encoding": "chunked"}), {200})  # fmt: skip
    signals = list(seeds)
    for _ in range(140):  # mutated protobuf bodies
        signal = rng.choice(signals)
        kind, body = _mutate_protobuf(rng, seeds[signal][0])
        add(f"protobuf {kind} {signal}", http_request(PATHS[signal], body), OK_OR_BAD)
    for depth in (50, 99, 101, 5_000):
        add(f"protobuf nested {depth}", http_request(PATHS["logs"], _deep_protobuf(depth)), OK_OR_BAD)
    for _ in range(90):  # mutated JSON bodies
        signal = rng.choice(signals)
        kind, body = _mutate_json(rng, documents[signal])
        add(f"json {kind} {signal}", http_request(PATHS[signal], body, {"Content-Type": "application/json"}),
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
        add(f"gzip {how} {signal}", http_request(PATHS[signal], bytes(compressed), {"Content-Encoding": "gzip"}),
            OK_OR_BAD)  # fmt: skip
    bomb = gzip.compress(b"\x00" * (4 * MAX_REQUEST_BYTES))
    add("gzip bomb", http_request(PATHS["metrics"], bomb, {"Content-Encoding": "gzip"}), {413})
    add("gzip bomb json", http_request(PATHS["metrics"], bomb, {"Content-Encoding": "gzip",
                                                          "Content-Type": "application/json"}), {413}, json_errors=True)  # fmt: skip
    add("body too large", http_request(PATHS["traces"], b"\x00" * (MAX_REQUEST_BYTES + 1)), {413})
    add("chunked too large", http_request(PATHS["traces"], b"%x\r\n" % (MAX_REQUEST_BYTES + 1) + b"\x00" * 64,
                                      {"Content-Length": None, "Transfer-Encoding": "chunked"}), {413})  # fmt: skip
    metrics = seeds["metrics"][0]
    for content_type in [None, "text/plain", "application/protobuf", "application/grpc", "application/x-protobuf, application/json",
                         "multipart/form-data; boundary=x", "\x00", "application/json+x"]:  # fmt: skip
        add(
            f"content-type {content_type!r}",
            http_request(PATHS["metrics"], metrics, {"Content-Type": content_type}),
            {415},
        )
    for content_type in [
        "application/x-protobuf; charset=utf-8",
        "APPLICATION/X-PROTOBUF",
        " application/x-protobuf ",
    ]:
        add(
            f"content-type {content_type!r}",
            http_request(PATHS["metrics"], metrics, {"Content-Type": content_type}),
            {200},
        )
    for encoding in ["br", "deflate", "gzip, gzip", "x-gzip", "zstd", "\x7f"]:
        add(
            f"content-encoding {encoding!r}",
            http_request(PATHS["metrics"], metrics, {"Content-Encoding": encoding}),
            {415},
        )
    add(
        "content-encoding identity",
        http_request(PATHS["metrics"], metrics, {"Content-Encoding": "identity"}),
        {200},
    )
    for path in ["/", "/v1/metrics/", "/v1/metric", "//v1/metrics", "/V1/METRICS", "*", "/v1/../v1/metrics",
                 "http://fuzz/v1/metrics", "/v1/%6detrics", "/" + "a" * 8000, "/v2/metrics", "/v1/metrics\x00"]:  # fmt: skip
        add(f"path {path[:30]!r}", http_request(path, metrics), {404})
    add("path with query", http_request("/v1/metrics?x=1&y", metrics), {200})
    for method in [
        "GET",
        "PUT",
        "DELETE",
        "HEAD",
        "OPTIONS",
        "PATCH",
        "TRACE",
        "post",
        "PO\x01ST",
        "X" * 100,
    ]:
        add(f"method {method[:10]!r}", http_request(PATHS["metrics"], metrics, method=method), {405})
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
        add(name, http_request(PATHS["metrics"], body, headers), allowed)
    add("two different lengths", http_request(PATHS["metrics"], metrics).replace(
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
        add(f"chunked junk {i}", http_request(PATHS["metrics"], junk, {"Content-Length": None, "Transfer-Encoding": "chunked"}),
            HTTP_ANY - {503})  # fmt: skip
    for version in [
        "HTTP/1.0",
        "HTTP/2.0",
        "HTTP/3",
        "HTTP/1.1.1",
        "HTTPS/1.1",
        "HTTP/0.9",
        "HTTP/x",
        "http/1.1",
    ]:
        # "HTTP/3" lacks the ".minor" that RFC 9112's HTTP-version requires: malformed rather than unsupported
        allowed = {200} if version == "HTTP/1.0" else {505} if version == "HTTP/2.0" else {400, 505}
        add(f"version {version}", http_request(PATHS["metrics"], metrics, version=version), allowed)
    good = http_request(PATHS["metrics"], metrics)
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
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
        + b"\x00" * 64
        + b"\r\n\r\n",  # a TLS hello in plaintext
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


def grpc_corpus(seed: int, seeds: dict[str, list[bytes]]) -> list[GrpcCase]:
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
