"""Vectorised base-2 exponential bucket index mapping, bit-identical to the OTel Python SDK's mappings."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MAX_SCALE",
    "MIN_SCALE",
    "bucket_lower_bounds",
    "map_to_index",
    "scale_change",
]

#: Largest scale the SDK's logarithm mapping accepts (bucket indices must fit a signed 32-bit integer).
MAX_SCALE = 20
#: Smallest scale the SDK's exponent mapping accepts; at this scale every finite double fits in 2 buckets.
MIN_SCALE = -10

_MANTISSA_WIDTH = 52
_MANTISSA_MASK = np.uint64((1 << _MANTISSA_WIDTH) - 1)
_EXPONENT_BIAS = 1023
_MIN_NORMAL_EXPONENT = -1022
_MAX_NORMAL_EXPONENT = 1023
_MIN_NORMAL_VALUE = 2.0**-1022
_INV_LN2 = 1.0 / math.log(2.0)
# Below this, floor(log(value) * factor) cannot reach the clamp of the SDK's top bucket at any scale >= 1.
_MAX_NORMAL_LOG_SAFE = 2.0**1023


def _ieee_parts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the unbiased IEEE-754 exponent and a power-of-two flag (zero mantissa) of each positive value."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    # The sign bit is 0, so the shifted value fits in 11 bits: reinterpreting it as int64 is exact (and
    # much faster than an astype conversion).
    exponent = (bits >> np.uint64(_MANTISSA_WIDTH)).view(np.int64)
    exponent -= _EXPONENT_BIAS
    power_of_two = (bits & _MANTISSA_MASK) == 0
    return exponent, power_of_two


def _exponent_index(values: np.ndarray, scale: int) -> np.ndarray:
    """Indices at ``scale <= 0``: ``(exponent - [value is a power of two]) >> -scale``.

    Subnormal values have a biased exponent field of 0 (unbiased -1023) and a non-zero mantissa, which
    yields ``-1023 >> -scale``: exactly the SDK's ``_min_normal_lower_boundary_index`` at every scale
    (``-1022 >> k == -1023 >> k`` for ``k >= 2``, and the SDK subtracts one for ``k < 2``).
    """
    exponent, power_of_two = _ieee_parts(values)
    exponent -= power_of_two
    exponent >>= -scale
    return exponent


def _logarithm_index(values: np.ndarray, scale: int) -> np.ndarray:
    """Indices at ``scale > 0``: ``floor(ln(value) * 2**scale / ln 2)``, with the SDK's exact special cases.

    ``np.log`` may differ from ``math.log`` by an ulp or two on some CPUs (SIMD kernels), so values whose
    scaled logarithm lies within a tolerance of an integer are recomputed with ``math.log`` exactly as the
    SDK does; the tolerance (256 ulps of the largest possible scaled logarithm) is far above any libm error.
    """
    factor = math.ldexp(_INV_LN2, scale)
    scaled = np.log(values)
    scaled *= factor
    floored = np.floor(scaled)
    index = floored.astype(np.int64)
    scaled -= floored  # fractional part, in [0, 1)
    tolerance = math.ldexp(float((_MAX_NORMAL_EXPONENT + 2) << scale), -44)
    if scaled.min() < tolerance or scaled.max() > 1.0 - tolerance:
        near = (scaled < tolerance) | (scaled > 1.0 - tolerance)
        for position in np.flatnonzero(near).tolist():
            index[position] = math.floor(math.log(float(values[position])) * factor)
    bits = values.view(np.uint64)
    mantissa = bits & _MANTISSA_MASK
    if mantissa.min() == 0:  # exact powers of two sit in the lower bucket
        power_of_two = mantissa == 0
        exponent = (bits[power_of_two] >> np.uint64(_MANTISSA_WIDTH)).view(np.int64) - _EXPONENT_BIAS
        index[power_of_two] = (exponent << scale) - 1
    if values.min() <= _MIN_NORMAL_VALUE:  # subnormals and the smallest normal share one bucket
        index[values <= _MIN_NORMAL_VALUE] = (_MIN_NORMAL_EXPONENT << scale) - 1
    if values.max() > _MAX_NORMAL_LOG_SAFE:
        np.minimum(index, ((_MAX_NORMAL_EXPONENT + 1) << scale) - 1, out=index)
    return index


def map_to_index(values: np.ndarray, scale: int) -> np.ndarray:
    """Map positive finite float64 values to bucket indices at ``scale`` (``int64`` array).

    Bucket ``i`` holds ``(base**i, base**(i + 1)]`` with ``base = 2**(2**-scale)``; exact powers of two fall
    in the lower bucket; values at or below the smallest normal double share one bucket. Zero, negative and
    non-finite values are the caller's business, as in the SDK.
    """
    if scale > 0:
        return _logarithm_index(values, scale)
    return _exponent_index(values, scale)


def scale_change(low: int, high: int, max_size: int) -> int:
    """Return the smallest ``c >= 0`` such that indices ``low..high`` shifted right by ``c`` span ``< max_size``.

    Same loop as the SDK's ``_get_scale_change``.
    """
    change = 0
    while high - low >= max_size:
        high >>= 1
        low >>= 1
        change += 1
    return change


def bucket_lower_bounds(indices: np.ndarray, scale: int) -> np.ndarray:
    """Return ``base**indices`` at ``scale`` as float64 (may underflow to 0 or overflow to inf at the extremes)."""
    indices = np.asarray(indices, dtype=np.int64)
    with np.errstate(over="ignore", under="ignore"):
        if scale <= 0:
            exponents = np.clip(indices << -scale, -2000, 2000)
            return np.ldexp(1.0, exponents)
        return np.exp2(indices.astype(np.float64) / float(1 << scale))
