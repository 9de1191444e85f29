"""Validation helpers for reading sketches back from JSON-friendly dictionaries."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["float_in", "float_out", "int_field", "same_float", "side_in"]


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
    if not isinstance(raw, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in raw):
        raise ValueError(f"{side}.counts must be a list of integers")
    counts = np.array(raw, dtype=np.int64)
    if counts.size > max_size:
        raise ValueError(f"{side}.counts has {counts.size} buckets, more than max_size={max_size}")
    if counts.size and (counts.min() < 0 or counts[0] == 0 or counts[-1] == 0):
        raise ValueError(f"{side}.counts must be non-negative with non-zero first and last buckets")
    if counts.size == 0 and offset != 0:
        raise ValueError(f"{side}.offset must be 0 when {side}.counts is empty, got {offset}")
    return offset, counts
