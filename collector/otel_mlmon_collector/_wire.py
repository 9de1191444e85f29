"""Protobuf wire-format surgery on an encoded metrics request: replace a few metrics, keep every other byte.

Encoding a decoded request again costs about twice its decoding (upb), while the category budget changes at
most a few metrics of a request. :func:`replace_metrics` walks only the framing down to those metrics
(``ExportMetricsServiceRequest.resource_metrics`` → ``ResourceMetrics.scope_metrics`` → ``ScopeMetrics.metrics``),
copies everything else as received and rewrites the length prefixes around what changed. The result decodes to
the request with those metrics replaced. Anything unexpected in the framing (a group, a known field with another
wire type, a length past the end) raises :class:`WireError`: the caller then encodes the whole message instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

__all__ = ["WireError", "replace_metrics", "replace_sum_points"]

#: Field numbers from the request down to a metric: resource_metrics, scope_metrics, metrics (all messages).
_PATH = (1, 2, 2)
_SUM = 7  # Metric.sum
_DATA_POINTS = 1  # Sum.data_points
_LEN = 2  # wire type of a length-delimited field


class WireError(ValueError):
    """The bytes are not framed as expected (the caller falls back to encoding the decoded message)."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """The varint encoding of a non-negative ``value``."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(number, wire type, tag start, value start, value end)`` of each field of ``buf[start:end]``."""
    pos = start
    while pos < end:
        tag_start = pos
        tag, pos = _varint(buf, pos, end)
        number, kind = tag >> 3, tag & 7
        value_start = pos
        if kind == 0:
            _, pos = _varint(buf, pos, end)
        elif kind == _LEN:
            size, value_start = _varint(buf, pos, end)
            pos = value_start + size
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        else:
            raise WireError(f"wire type {kind} (group) in the framing")
        if pos > end:
            raise WireError("field runs past the end of its message")
        yield number, kind, tag_start, value_start, pos


def _field(number: int, content: bytes) -> bytes:
    return encode_varint(number << 3 | _LEN) + encode_varint(len(content)) + content


def replace_metrics(payload: bytes, edits: Mapping[tuple[int, int, int], Callable[[bytes], bytes]]) -> bytes:
    """``payload`` (an encoded ``ExportMetricsServiceRequest``) with some metrics rewritten.

    Args:
        payload: The request as received.
        edits: ``(resource, scope, metric)`` indices, as in the decoded message's repeated fields, to a function
            given that metric's encoding (without tag and length) and returning its replacement.

    Raises:
        WireError: the framing is not what a parser that accepted the request would have read, or an index is
            not there.
    """
    wanted = {key[:1] for key in edits} | {key[:2] for key in edits}
    applied: list[int] = []
    out = _rewrite(payload, 0, len(payload), 0, (), edits, wanted, applied)
    if len(applied) != len(edits):
        raise WireError("a metric to replace is not in the payload")
    return out


def _rewrite(
    buf: bytes,
    start: int,
    end: int,
    depth: int,
    prefix: tuple[int, ...],
    edits: Mapping[tuple[int, int, int], Callable[[bytes], bytes]],
    wanted: set[tuple[int, ...]],
    applied: list[int],
) -> bytes:
    number = _PATH[depth]
    chunks: list[bytes] = []
    copied, index = start, -1
    for field, kind, tag_start, value_start, value_end in _fields(buf, start, end):
        if field != number:
            continue
        if kind != _LEN:  # a parser would have kept it as an unknown field: not the element we count
            raise WireError(f"field {field} with wire type {kind}")
        index += 1
        key = (*prefix, index)
        if depth == len(_PATH) - 1:
            edit = edits.get(key)  # type: ignore[call-overload]
            if edit is None:
                continue
            content = edit(buf[value_start:value_end])
            applied.append(1)
        elif key in wanted:
            content = _rewrite(buf, value_start, value_end, depth + 1, key, edits, wanted, applied)
        else:
            continue
        chunks.append(buf[copied:tag_start])
        chunks.append(_field(number, content))
        copied = value_end
    if not chunks:
        return buf[start:end]
    chunks.append(buf[copied:end])
    return b"".join(chunks)


def replace_sum_points(metric: bytes, points: bytes) -> bytes:
    """An encoded ``Metric`` holding a ``Sum`` with its data points replaced by ``points`` (encoded
    ``Sum.data_points`` fields, e.g. a ``Sum`` holding only them); every other field is kept as it was.

    Raises:
        WireError: the metric holds no length-delimited ``sum`` field, or its framing is unexpected.
    """
    parts: list[bytes] = []
    sums: list[int] = []  # the parts holding a sum's fields (without its tag and length)
    for field, kind, tag_start, value_start, value_end in _fields(metric, 0, len(metric)):
        if field != _SUM:
            parts.append(metric[tag_start:value_end])
            continue
        if kind != _LEN:
            raise WireError(f"Metric.sum with wire type {kind}")
        kept = []
        for inner, inner_kind, inner_start, _, inner_end in _fields(metric, value_start, value_end):
            if inner == _DATA_POINTS:
                if inner_kind != _LEN:
                    raise WireError(f"Sum.data_points with wire type {inner_kind}")
                continue
            kept.append(metric[inner_start:inner_end])
        sums.append(len(parts))
        parts.append(b"".join(kept))
    if not sums:
        raise WireError("the metric holds no sum")
    # Repeated occurrences of ``sum`` merge when parsed: the new points go in the last one, none in the others.
    parts[sums[-1]] += points
    for i in sums:
        parts[i] = _field(_SUM, parts[i])
    return b"".join(parts)
