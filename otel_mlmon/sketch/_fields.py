"""The JSON-friendly dictionary form of the sketches (profile files): writing it and validating it on reading."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from otel_mlmon.sketch._mapping import MIN_SCALE

__all__ = [
    "float_in",
    "float_out",
    "histogram_from_dict",
    "histogram_to_dict",
    "int_field",
    "same_float",
    "side_in",
]

_HISTOGRAM_FORMAT = "otel-mlmon.exponential-histogram"
_HISTOGRAM_VERSION = 1
_INT = frozenset((int,))


def same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def float_out(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def float_in(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{key} must be a number (or 'inf', '-inf', 'nan'), got {value!r}")
    if isinstance(value, str) and value not in ("inf", "-inf", "nan"):
        raise ValueError(f"{key} must be a number (or 'inf', '-inf', 'nan'), got {value!r}")
    return float(value)


def int_field(data: Mapping[str, Any], key: str, minimum: int | None = None) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {value}")
    return value


def side_in(data: Mapping[str, Any], side: str, max_size: int) -> tuple[int, np.ndarray]:
    part = data.get(side)
    if not isinstance(part, Mapping):
        raise ValueError(f"{side} must be a mapping with 'offset' and 'counts', got {part!r}")
    offset = int_field(part, "offset")
    raw = part.get("counts")
    # The usual case (plain ints, as JSON gives them) checked in C; int subclasses but bool by the full rule.
    if not isinstance(raw, list) or not (
        set(map(type, raw)) <= _INT or all(isinstance(c, int) and not isinstance(c, bool) for c in raw)
    ):
        raise ValueError(f"{side}.counts must be a list of integers")
    counts = np.array(raw, dtype=np.int64)
    if counts.size > max_size:
        raise ValueError(f"{side}.counts has {counts.size} buckets, more than max_size={max_size}")
    # Read on the list: Python's min and indexing of a few hundred ints cost less than numpy's reduction.
    if raw and (min(raw) < 0 or raw[0] == 0 or raw[-1] == 0):
        raise ValueError(f"{side}.counts must be non-negative with non-zero first and last buckets")
    if counts.size == 0 and offset != 0:
        raise ValueError(f"{side}.offset must be 0 when {side}.counts is empty, got {offset}")
    return offset, counts


def histogram_to_dict(hist: Any) -> dict[str, Any]:
    """:meth:`ExponentialHistogram.to_dict`."""
    return {
        "format": _HISTOGRAM_FORMAT,
        "version": _HISTOGRAM_VERSION,
        "max_size": hist.max_size,
        "max_scale": hist.max_scale,
        "scale": hist._index_scale,
        "count": hist.count,
        "sum": float_out(hist.sum),
        "min": float_out(hist.min),
        "max": float_out(hist.max),
        "zero_count": hist.zero_count,
        "positive": {"offset": hist.positive_offset, "counts": hist.positive_counts.tolist()},
        "negative": {"offset": hist.negative_offset, "counts": hist.negative_counts.tolist()},
    }


def histogram_from_dict(cls: Any, data: Mapping[str, Any]) -> Any:
    """:meth:`ExponentialHistogram.from_dict` (``cls`` makes the empty histogram)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"exponential histogram must be a mapping, got {type(data).__name__}")
    if data.get("format") != _HISTOGRAM_FORMAT:
        raise ValueError(f"format must be {_HISTOGRAM_FORMAT!r}, got {data.get('format')!r}")
    if data.get("version") != _HISTOGRAM_VERSION:
        raise ValueError(f"unsupported exponential histogram version {data.get('version')!r}")
    hist = cls(max_size=int_field(data, "max_size"), max_scale=int_field(data, "max_scale"))
    scale = int_field(data, "scale")
    if not MIN_SCALE <= scale <= hist.max_scale:
        raise ValueError(f"scale must be in [{MIN_SCALE}, {hist.max_scale}], got {scale}")
    hist._index_scale = scale  # the bucket indices' scale, as written
    hist.count = int_field(data, "count", minimum=0)
    hist.zero_count = int_field(data, "zero_count", minimum=0)
    hist.sum = float_in(data, "sum")
    hist.min = float_in(data, "min")
    hist.max = float_in(data, "max")
    for side in ("positive", "negative"):
        offset, counts = side_in(data, side, hist.max_size)
        setattr(hist, f"{side}_offset", offset)
        setattr(hist, f"{side}_counts", counts)
    total = hist.zero_count + int(hist.positive_counts.sum()) + int(hist.negative_counts.sum())
    if total != hist.count:
        raise ValueError(f"count is {hist.count} but zero_count and bucket counts add up to {total}")
    if hist.count and not hist.min <= hist.max:
        raise ValueError(f"min ({hist.min}) must not exceed max ({hist.max})")
    return hist
