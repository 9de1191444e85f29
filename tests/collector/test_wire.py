"""Wire-format splicing: replacing a few metrics of an encoded request decodes to the request with those metrics
replaced, whatever else the bytes hold (unknown fields, several resources and scopes, repeated sub-messages)."""

from __future__ import annotations

import random

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from otel_mlmon_collector._wire import WireError, encode_varint, replace_metrics, replace_sum_points


def _unknown(rng: random.Random) -> bytes:
    """One field a parser keeps as unknown (field numbers past the schema's), of a random wire type."""
    number = rng.randrange(100, 3000)
    kind = rng.choice([0, 1, 2, 5])
    tag = encode_varint(number << 3 | kind)
    if kind == 0:
        return tag + encode_varint(rng.randrange(1 << 40))
    if kind == 1:
        return tag + rng.randbytes(8)
    if kind == 5:
        return tag + rng.randbytes(4)
    body = rng.randbytes(rng.randrange(0, 20))
    return tag + encode_varint(len(body)) + body


def _metric(rng: random.Random, name: str) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit="1")
    metric.sum.aggregation_temporality = rng.choice([1, 2])
    metric.sum.is_monotonic = True
    for i in range(rng.randrange(0, 5)):
        point = metric.sum.data_points.add(as_int=rng.randrange(1000), time_unix_nano=i + 1)
        point.attributes.add(key="k").value.string_value = f"v{rng.randrange(10)}"
        if rng.random() < 0.3:
            point.exemplars.add(as_int=1)
    return metric


def _request(rng: random.Random) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    for r in range(rng.randrange(1, 4)):
        rm = request.resource_metrics.add()
        rm.resource.attributes.add(key="service.name").value.string_value = f"s{r}"
        for s in range(rng.randrange(0, 3)):
            sm = rm.scope_metrics.add()
            sm.scope.name = f"scope{s}"
            for m in range(rng.randrange(0, 4)):
                sm.metrics.append(_metric(rng, f"m{r}.{s}.{m}"))
    return request


def _with_unknown_fields(message, rng: random.Random) -> None:
    """Add unknown fields at every level of the framing (kept by the parser, so they must be kept by a splice)."""
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                metric.MergeFromString(_unknown(rng))
            sm.MergeFromString(_unknown(rng))
        rm.MergeFromString(_unknown(rng))
    message.MergeFromString(_unknown(rng))


@pytest.mark.parametrize("seed", range(60))
def test_replacing_metrics_decodes_to_the_edited_request(seed: int) -> None:
    rng = random.Random(seed)
    request = _request(rng)
    if seed % 2:
        _with_unknown_fields(request, rng)
    payload = request.SerializeToString()
    positions = [
        (r, s, m)
        for r, rm in enumerate(request.resource_metrics)
        for s, sm in enumerate(rm.scope_metrics)
        for m in range(len(sm.metrics))
    ]
    chosen = rng.sample(positions, min(len(positions), rng.randrange(0, 4)))
    expected = ExportMetricsServiceRequest.FromString(payload)
    edits = {}
    for r, s, m in chosen:
        new = _metric(rng, f"new{r}{s}{m}")
        expected.resource_metrics[r].scope_metrics[s].metrics[m].CopyFrom(new)
        edits[(r, s, m)] = lambda _old, new=new: new.SerializeToString()
    spliced = replace_metrics(payload, edits)
    assert ExportMetricsServiceRequest.FromString(spliced) == expected
    if not chosen:
        assert spliced == payload  # nothing to do: the bytes as received


def test_unedited_bytes_are_kept_as_received() -> None:
    """A resource encoded out of canonical field order (scope_metrics before resource) next to an edited one is
    forwarded byte for byte; an identity edit gives back the payload itself."""
    first = ExportMetricsServiceRequest()
    first.resource_metrics.add().scope_metrics.add().metrics.add(name="a").sum.data_points.add(as_int=1)
    second = first.resource_metrics[0].__class__()
    second.resource.attributes.add(key="service.name").value.string_value = "other"
    second.scope_metrics.add().metrics.add(name="b").sum.data_points.add(as_int=2)
    scopes = b"".join(
        encode_varint(2 << 3 | 2) + encode_varint(len(sm)) + sm
        for sm in (s.SerializeToString() for s in second.scope_metrics)
    )
    resource = second.resource.SerializeToString()
    reordered = scopes + encode_varint(1 << 3 | 2) + encode_varint(len(resource)) + resource
    payload = first.SerializeToString() + b"\x0a" + encode_varint(len(reordered)) + reordered
    assert ExportMetricsServiceRequest.FromString(payload).resource_metrics[1] == second
    assert replace_metrics(payload, {(0, 0, 0): lambda old: old}) == payload
    spliced = replace_metrics(
        payload, {(0, 0, 0): lambda old: metrics_pb2.Metric(name="z").SerializeToString()}
    )
    assert spliced.endswith(reordered)
    assert (
        ExportMetricsServiceRequest.FromString(spliced).resource_metrics[0].scope_metrics[0].metrics[0].name
        == "z"
    )


def test_the_sum_points_are_replaced_and_everything_else_kept() -> None:
    rng = random.Random(7)
    metric = _metric(rng, "c")
    metric.description = "kept"
    metric.metadata.add(key="a").value.string_value = "b"
    metric.MergeFromString(_unknown(rng))
    new_points = metrics_pb2.Sum()
    new_points.data_points.add(as_int=42, time_unix_nano=9)
    out = metrics_pb2.Metric.FromString(
        replace_sum_points(metric.SerializeToString(), new_points.SerializeToString())
    )
    expected = metrics_pb2.Metric()
    expected.CopyFrom(metric)
    del expected.sum.data_points[:]
    expected.sum.data_points.extend(new_points.data_points)
    assert out == expected
    # two occurrences of `sum` merge when parsed: the points of both are replaced
    twice = metric.SerializeToString() + _metric(rng, "c").SerializeToString()
    merged = metrics_pb2.Metric.FromString(replace_sum_points(twice, new_points.SerializeToString()))
    assert list(merged.sum.data_points) == list(new_points.data_points)


def test_unexpected_framing_is_refused() -> None:
    request = _request(random.Random(3))
    payload = request.SerializeToString()
    with pytest.raises(WireError):
        replace_metrics(payload, {(9, 0, 0): lambda old: old})  # not there
    group = encode_varint(1 << 3 | 3) + encode_varint(1 << 3 | 4)  # resource_metrics as a group
    with pytest.raises(WireError):
        replace_metrics(group + payload, {(0, 0, 0): lambda old: old})
    with pytest.raises(WireError):
        replace_metrics(payload[:-1] + b"\x0a\x05", {(0, 0, 0): lambda old: old})  # length past the end
    gauge = metrics_pb2.Metric(name="g")
    gauge.gauge.data_points.add(as_int=1)
    with pytest.raises(WireError):
        replace_sum_points(gauge.SerializeToString(), b"")
