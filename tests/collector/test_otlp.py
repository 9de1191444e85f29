"""OTLP request decoding: protobuf and OTLP/JSON (hex ids, int64 strings, integer enums) and item counts."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otel_mlmon_collector._otlp import (
    MalformedRequest,
    OtlpRequest,
    count_items,
    decode_json,
    decode_protobuf,
    spec_for,
)

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _json_trace() -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "parentSpanId": "",
                                "name": "predict",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": 1544712661000000000,
                                "attributes": [{"key": "n", "value": {"intValue": "9007199254740993"}}],
                                "links": [{"traceId": TRACE_ID, "spanId": SPAN_ID}],
                                "unknownFutureField": {"x": 1},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_json_hex_ids_int64_strings_and_enums_decode() -> None:
    """OTLP/JSON with hex ids, int64 as string or number and integer enums becomes the same protobuf."""
    message = decode_json("traces", json.dumps(_json_trace()).encode())
    span = message.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID
    assert span.span_id.hex() == SPAN_ID
    assert span.parent_span_id == b""
    assert span.links[0].trace_id.hex() == TRACE_ID
    assert span.kind == 2
    assert span.start_time_unix_nano == 1544712660000000000
    assert span.end_time_unix_nano == 1544712661000000000
    assert span.attributes[0].value.int_value == 9007199254740993


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz1"}]}]}]}',
            "is not a hex-encoded id",
        ),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abc"}]}]}]}', "is not a hex-encoded id"),
        (b'{"resourceSpans": "nope"}', "JSON body does not match ExportTraceServiceRequest"),
        (b"\xff\xfe", "body is not valid JSON"),
    ],
)
def test_malformed_json_says_what_is_wrong(body: bytes, message: str) -> None:
    """Bad JSON bodies raise MalformedRequest with a message naming the problem."""
    with pytest.raises(MalformedRequest, match=message):
        decode_json("traces", body)


def test_protobuf_roundtrip_and_garbage() -> None:
    """Valid protobuf decodes; bytes that are not the message raise MalformedRequest."""
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="x")
    assert decode_protobuf("traces", request.SerializeToString()) == request
    with pytest.raises(MalformedRequest, match="not a valid protobuf ExportTraceServiceRequest"):
        decode_protobuf("traces", b"\xff\xff\xff\xff")


def test_count_items_per_signal() -> None:
    """Spans, data points of every metric kind, and log records are counted."""
    traces = decode_json("traces", json.dumps(_json_trace()).encode())
    assert count_items("traces", traces) == 1
    metrics = ExportMetricsServiceRequest()
    sm = metrics.resource_metrics.add().scope_metrics.add()
    sm.metrics.add(name="a").sum.data_points.add(as_int=1)
    g = sm.metrics.add(name="b").gauge
    g.data_points.add(as_double=1.0)
    g.data_points.add(as_double=2.0)
    sm.metrics.add(name="c").exponential_histogram.data_points.add(count=3)
    sm.metrics.add(name="empty")
    assert count_items("metrics", metrics) == 4


def test_request_for_queue_drops_the_message_but_decodes_again() -> None:
    """The queued copy keeps payload and counts, not the decoded message, and can decode on demand."""
    message = ExportTraceServiceRequest()
    message.resource_spans.add()
    request = OtlpRequest("traces", message.SerializeToString(), message, 0, "grpc")
    queued = request.for_queue()
    assert queued.message is None
    assert (queued.payload, queued.source) == (request.payload, "grpc")
    assert queued.decoded() == message


def test_specs_name_the_otlp_paths_and_methods() -> None:
    """Each signal maps to the OTLP HTTP path and gRPC method of the specification."""
    assert spec_for("metrics").http_path == "/v1/metrics"
    assert spec_for("logs").grpc_method == "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    assert spec_for("traces").grpc_service == "opentelemetry.proto.collector.trace.v1.TraceService"
