"""Vectorised base-2 exponential bucket index mapping, bit-identical to the OTel Python SDK's mappings."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "INV_LN2",
    "MAX_SCALE",
    "MIN_SCALE",
    "TABLE_MAX_SCALE",
    "bucket_lower_bounds",
    "cell_table",
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
#: ``1 / ln 2`` as the SDK computes it (its scale factor is ``ldexp(INV_LN2, scale)``).
INV_LN2 = 1.0 / math.log(2.0)
_INV_LN2 = INV_LN2
# Below this, floor(log(value) * factor) cannot reach the clamp of the SDK's top bucket at any scale >= 1.
_MAX_NORMAL_LOG_SAFE = 2.0**1023


def _exponent_index(values: np.ndarray, scale: int, out: np.ndarray) -> np.ndarray:
    """Indices at ``scale <= 0``: ``(exponent - [value is a power of two]) >> -scale``.

    Subtracting 1 from the bit pattern of a positive double borrows from the exponent field exactly when the
    mantissa is zero (a power of two), so ``((bits - 1) >> 52) - 1023`` is the SDK's ``exponent +
    correction``. Subnormal values give ``-1023``, hence ``-1023 >> -scale``: exactly the SDK's
    ``_min_normal_lower_boundary_index`` at every scale (``-1022 >> k == -1023 >> k`` for ``k >= 2``, and
    the SDK subtracts one for ``k < 2``).
    """
    bits = values.view(np.uint64)
    work = out.view(np.uint64)
    np.subtract(bits, np.uint64(1), out=work)
    np.right_shift(work, np.uint64(_MANTISSA_WIDTH), out=work)
    # The sign bit is 0, so the shifted value fits in 11 bits and reads the same as int64.
    np.subtract(out, _EXPONENT_BIAS, out=out)
    if scale:
        np.right_shift(out, -scale, out=out)
    return out


def _logarithm_index(values: np.ndarray, scale: int, out: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Indices at ``scale > 0``: ``floor(ln(value) * 2**scale / ln 2)``, with the SDK's exact special cases.

    ``np.log`` may differ from ``math.log`` by an ulp or two on some CPUs (SIMD kernels), so values whose
    scaled logarithm lies within a tolerance of an integer are recomputed with ``math.log`` exactly as the
    SDK does; the tolerance (256 ulps of the largest possible scaled logarithm) is far above any libm error.
    """
    factor = math.ldexp(_INV_LN2, scale)
    scaled = np.log(values, out=work)
    np.multiply(scaled, factor, out=scaled)
    floored = np.floor(scaled, out=out.view(np.float64))
    np.subtract(scaled, floored, out=scaled)  # fractional part, in [0, 1)
    index = out
    np.copyto(index, floored, casting="unsafe")  # float -> int64 in place, element by element
    bits = values.view(np.uint64)
    tolerance = math.ldexp(float((_MAX_NORMAL_EXPONENT + 2) << scale), -44)
    if np.minimum.reduce(scaled) < tolerance or np.maximum.reduce(scaled) > 1.0 - tolerance:
        near = (scaled < tolerance) | (scaled > 1.0 - tolerance)
        near &= (bits & _MANTISSA_MASK) != 0  # powers of two are set exactly below
        for position in np.flatnonzero(near).tolist():
            index[position] = math.floor(math.log(float(values[position])) * factor)
    mantissa = np.bitwise_and(bits, _MANTISSA_MASK, out=work.view(np.uint64))
    if np.minimum.reduce(mantissa) == 0:  # exact powers of two sit in the lower bucket
        power_of_two = mantissa == 0
        exponent = (bits[power_of_two] >> np.uint64(_MANTISSA_WIDTH)).view(np.int64) - _EXPONENT_BIAS
        index[power_of_two] = (exponent << scale) - 1
    if np.minimum.reduce(values) <= _MIN_NORMAL_VALUE:  # subnormals and the smallest normal share a bucket
        index[values <= _MIN_NORMAL_VALUE] = (_MIN_NORMAL_EXPONENT << scale) - 1
    if np.maximum.reduce(values) > _MAX_NORMAL_LOG_SAFE:
        np.minimum(index, ((_MAX_NORMAL_EXPONENT + 1) << scale) - 1, out=index)
    return index


#: Scales at which a lookup table on the top mantissa bits replaces the logarithm (no transcendental per value).
TABLE_MAX_SCALE = 10
_TABLE_BITS = 16
# Values within this many ulps of a bucket boundary are mapped with the SDK's own formula. The SDK's
# floor(log(v) * 2**scale / ln 2) is off the exact bucket only within ~3000 ulps of a boundary (relative
# error of log, the factor and the product, |log2 v| <= 1075): 2**16 leaves a 20x margin.
_TABLE_TOLERANCE = float(1 << 16)
_TABLES: dict[int, tuple[np.ndarray, int]] = {}


def _table(scale: int) -> tuple[np.ndarray, int]:
    """Bucket-within-octave per cell of the top mantissa bits, -1 where a boundary is within tolerance."""
    cached = _TABLES.get(scale)
    if cached is not None:
        return cached
    bits = min(scale + 8, _TABLE_BITS)
    table = cell_table(scale, bits)
    _TABLES[scale] = (table, _MANTISSA_WIDTH - bits)
    return table, _MANTISSA_WIDTH - bits


def cell_table(scale: int, bits: int) -> np.ndarray:
    """Bucket within the octave of each of the ``2**bits`` top-mantissa cells at ``scale >= 1``; -1 where a
    bucket boundary lies within the tolerance of the cell (its values are mapped one by one). Not cached."""
    per_octave = 1 << scale
    full = 2.0**_MANTISSA_WIDTH
    boundaries = np.exp2(np.arange(per_octave + 1) / per_octave) * full - full
    boundaries[0], boundaries[-1] = 0.0, full
    width = 2.0 ** (_MANTISSA_WIDTH - bits)
    low = np.arange(1 << bits, dtype=np.float64) * width
    high = low + (width - 1.0)
    below_low = np.searchsorted(boundaries, low - _TABLE_TOLERANCE, side="left")
    below_high = np.searchsorted(boundaries, high + _TABLE_TOLERANCE, side="right")
    return np.where(below_low == below_high, below_low - 1, -1).astype(np.int64)


def _table_index(values: np.ndarray, scale: int, out: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Indices at ``1 <= scale <= 10`` from the exponent bits and a table on the top mantissa bits.

    Values in cells near a bucket boundary, powers of two, subnormals and the largest doubles are mapped
    with the SDK's formula (:func:`_logarithm_index`), so the result is identical to the SDK's.
    """
    table, shift = _table(scale)
    bits = values.view(np.uint64)
    cell = work.view(np.uint64)
    np.bitwise_and(bits, _MANTISSA_MASK, out=cell)
    np.right_shift(cell, np.uint64(shift), out=cell)
    np.take(table, cell.view(np.int64), out=out)
    exact = np.minimum.reduce(out) < 0
    exponent = work.view(np.int64)
    np.right_shift(bits, np.uint64(_MANTISSA_WIDTH), out=cell)
    np.subtract(exponent, _EXPONENT_BIAS, out=exponent)
    np.left_shift(exponent, scale, out=exponent)
    unusual = (
        np.minimum.reduce(values) <= _MIN_NORMAL_VALUE or np.maximum.reduce(values) > _MAX_NORMAL_LOG_SAFE
    )
    if exact or unusual:
        redo = out < 0
        if unusual:
            redo |= (values <= _MIN_NORMAL_VALUE) | (values > _MAX_NORMAL_LOG_SAFE)
        positions = np.flatnonzero(redo)
        subset = values[positions]
        np.add(out, exponent, out=out)
        out[positions] = _logarithm_index(
            subset, scale, np.empty(subset.size, np.int64), np.empty(subset.size)
        )
        return out
    np.add(out, exponent, out=out)
    return out


def map_to_index(
    values: np.ndarray,
    scale: int,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> np.ndarray:
    """Map positive finite float64 values to bucket indices at ``scale`` (``int64`` array).

    Bucket ``i`` holds ``(base**i, base**(i + 1)]`` with ``base = 2**(2**-scale)``; exact powers of two fall
    in the lower bucket; values at or below the smallest normal double share one bucket. Zero, negative and
    non-finite values are the caller's business, as in the SDK.

    Args:
        values: Contiguous float64 array of positive finite values.
        scale: -10..20.
        out: Optional int64 array of the same length for the result (avoids allocating).
        work: Optional float64 scratch array of the same length (used at scales > 0).
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if out is None:
        out = np.empty(values.shape, dtype=np.int64)
    if scale > 0:
        if work is None:
            work = np.empty(values.shape, dtype=np.float64)
        if scale <= TABLE_MAX_SCALE:
            return _table_index(values, scale, out, work)
        return _logarithm_index(values, scale, out, work)
    return _exponent_index(values, scale, out)


def scale_change(low: int, high: int, max_size: int) -> int:
    """Return the smallest ``c >= 0`` such that indices ``low..high`` shifted right by ``c`` span ``< max_size``.

    Same loop as the SDK's ``_get_scale_change``. ``max_size`` must be at least 2: a range that crosses zero
    shrinks to ``-1..0`` and no further.
    """
    # Shifts that leave (high - low) >> change >= 2**bit_length(max_size) > max_size cannot fit: start past them
    # (the span only shrinks as change grows, so the first fit is the same as counting up from 0).
    change = max(0, (high - low).bit_length() - max_size.bit_length())
    high >>= change
    low >>= change
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
