"""Align many pairs of exponential histograms at once: :func:`align_many`, bit for bit what :func:`align` gives.

One evaluation aligns every numeric column of a model (50 of them, 1 000 across 20 models). Column by column,
``align`` spends most of its time in small numpy calls (downscaling, a common grid, concatenating the parts). Here
each pair costs only integer bookkeeping in Python — the common scale, the index ranges, where each part of the
layout goes — and the bucket bounds and counts of all pairs are written in a few numpy passes over flat arrays:
one ``exp2`` (or ``ldexp``) call per kind of scale for every edge and one scatter per side for every count; what
remains per pair is slicing (and, rarely, trimming empty outer bins). Each pair's :class:`Binned` holds views into
those arrays. With ~160-bucket histograms the flat passes touch as many elements as the per-column calls did, so
the gain over ``align`` is modest (docs/drift-engine.md, "Cost").

The reference side of a column does not change between evaluations: an :class:`AlignmentCache` keeps its
float64 buckets, downscaled per scale, so only the current side is converted again. The layout is :func:`align`'s
(see :mod:`~otel_mlmon_collector.drift._binning`); ``tests/collector/drift/test_align_many.py`` checks that every
array and field is identical, signed zeros included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch import downscale_buckets, scale_change

from ._binning import MAX_BINS, MIN_SCALE, Binned, _extremes, _optional_float

__all__ = ["AlignmentCache", "align_many"]

_MAX_ENTRIES = 1 << 17
_NO_SCALE = 1 << 30  # a histogram without non-zero-index buckets imposes no scale (as _binning._index_scale)


class _Side:
    """What alignment reads from one histogram, converted once: float64 buckets, extremes, sum."""

    __slots__ = ("_down", "extremes", "key", "neg", "neg_off", "pos", "pos_off", "scale", "sum", "zero")

    def __init__(self, h: Any) -> None:
        self.pos = np.asarray(h.positive_counts, dtype=np.float64).ravel()
        self.neg = np.asarray(h.negative_counts, dtype=np.float64).ravel()
        self.pos_off = int(h.positive_offset)
        self.neg_off = int(h.negative_offset)
        self.scale = _NO_SCALE if self.pos.size == 0 and self.neg.size == 0 else int(h.scale)
        self.zero = float(h.zero_count)
        self.extremes = _extremes(h)
        self.sum = _optional_float(getattr(h, "sum", None))
        self.key: tuple[Any, ...] = ()  # set by AlignmentCache, which checks it
        self._down: dict[int, tuple[int, np.ndarray, int, np.ndarray]] = {}

    def at(self, by: int) -> tuple[int, np.ndarray, int, np.ndarray]:
        """``(pos_offset, pos, neg_offset, neg)`` lowered by ``by`` scales (cached: references are reused)."""
        down = self._down.get(by)
        if down is None:
            p_off, p = downscale_buckets(self.pos_off, self.pos, by)
            n_off, n = downscale_buckets(self.neg_off, self.neg, by)
            down = self._down[by] = (p_off, p, n_off, n)
        return down


def _identity(h: Any) -> tuple[Any, ...]:
    # A cached side is reused only while the histogram is unchanged: ExponentialHistogram.merge replaces its
    # count arrays and changes its count and scale.
    return (
        h.scale,
        h.count,
        h.zero_count,
        h.positive_offset,
        h.negative_offset,
        id(h.positive_counts),
        id(h.negative_counts),
    )


class AlignmentCache:
    """Converted reference histograms kept between evaluations, keyed by the histogram object.

    :meth:`begin` starts a round (the drift engine: one evaluation); entries not used in the previous round are
    dropped, so the cache holds only the references still evaluated (a reloaded reference replaces its entries).
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, _Side]] = {}
        self._used: dict[int, tuple[Any, _Side]] = {}

    def begin(self) -> None:
        """Start a round: forget what the last round did not use."""
        self._entries, self._used = self._used or self._entries, {}

    def side(self, h: Any) -> _Side:
        """The converted side of ``h``, from the cache when ``h`` is unchanged."""
        key = id(h)
        entry = self._used.get(key) or self._entries.get(key)
        identity = _identity(h)
        if entry is None or entry[0] is not h or entry[1].key != identity:
            entry = (h, _Side(h))
            entry[1].key = identity
        if len(self._used) < _MAX_ENTRIES:  # a caller that never calls begin() cannot grow it without bound
            self._used[key] = entry
        return entry[1]


def align_many(pairs: Sequence[tuple[Any, Any]], cache: AlignmentCache | None = None) -> list[Binned]:
    """``[align(reference, current) for reference, current in pairs]``, computed in a few passes for all pairs.

    Args:
        pairs: ``(reference, current)`` exponential histograms (anything :func:`align` accepts).
        cache: Keeps the reference sides' converted buckets between calls (the current sides are always read).
    """
    refs = [cache.side(r) if cache is not None else _Side(r) for r, _ in pairs]
    curs = [_Side(c) for _, c in pairs]
    n = len(pairs)
    # Per pair: its scale, its bins (for the counts) and edges, in flat arrays. Segments describe ramps to write:
    # edge exponents (start exponent, length, sign, scale) and count pieces (values, first bin, step).
    edge_start = [0] * n
    bin_start = [0] * n
    n_bins = [0] * n
    n_edges = [0] * n
    segments: list[
        tuple[int, int, int, int, int]
    ] = []  # edges: first exponent, count, step, scale, flat position
    zero_edges: list[int] = []  # flat positions of +0.0 edges
    pieces: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])  # per side: counts arrays
    piece_at: tuple[list[tuple[int, int]], list[tuple[int, int]]] = (
        [],
        [],
    )  # flat bin of the first count, step
    zero_bins: list[int] = []
    zero_counts: tuple[list[float], list[float]] = ([], [])
    layouts: list[tuple[bool, int, bool, bool] | None] = [None] * n  # has_neg, kneg, zero, has_pos
    edges_total = 0
    bins_total = 0
    for i in range(n):
        r, c = refs[i], curs[i]
        scale = _common_scale(r, c)
        r_pos_off, r_pos, r_neg_off, r_neg = r.at(r.scale - scale) if r.scale != _NO_SCALE else _EMPTY_SIDE
        c_pos_off, c_pos, c_neg_off, c_neg = c.at(c.scale - scale) if c.scale != _NO_SCALE else _EMPTY_SIDE
        pos = _union(r_pos_off, r_pos.size, c_pos_off, c_pos.size)
        neg = _union(r_neg_off, r_neg.size, c_neg_off, c_neg.size)
        zero = r.zero > 0 or c.zero > 0 or (neg is not None and pos is not None)
        if neg is None and pos is None and not zero:
            continue  # no bins at all
        edge_start[i], bin_start[i] = edges_total, bins_total
        e, b = edges_total, bins_total
        if neg is not None:
            nlo, nhi = neg  # index range nlo..nhi-1; edges -base**nhi ... -base**nlo, largest magnitude first
            k = nhi - nlo
            segments.append((nhi, k + 1, -1, scale, e))
            if r_neg.size:
                pieces[0].append(r_neg), piece_at[0].append((b + nhi - 1 - r_neg_off, -1))
            if c_neg.size:
                pieces[1].append(c_neg), piece_at[1].append((b + nhi - 1 - c_neg_off, -1))
            e += k + 1
            b += k
        if zero:
            # The zero bucket is a zero-width bin at 0; after the negative part an empty bin up to 0 comes first
            # unless the last negative edge is already 0 (underflow): decided once the edges are known.
            if neg is None:
                zero_edges.append(e)
                e += 1
            else:
                # the empty bin up to 0 (dropped in _finish if -base**nlo == -0.0)
                zero_edges.append(e)
                e += 1
                b += 1
            zero_edges.append(e)
            zero_bins.append(b)
            zero_counts[0].append(r.zero), zero_counts[1].append(c.zero)
            e += 1
            b += 1
        if pos is not None:
            plo, phi = pos
            k = phi - plo
            # The edge base**plo opens the positive part unless 0 precedes it at that value (underflow).
            segments.append((plo, k + 1, 1, scale, e))
            if r_pos.size:
                pieces[0].append(r_pos), piece_at[0].append((b + 1 + r_pos_off - plo, 1))
            if c_pos.size:
                pieces[1].append(c_pos), piece_at[1].append((b + 1 + c_pos_off - plo, 1))
            e += k + 1
            b += (
                1 + k
            )  # the bin up to base**plo (an empty gap, or the zero bin's successor) is resolved below
        layouts[i] = (neg is not None, 0 if neg is None else neg[1] - neg[0], zero, pos is not None)
        edges_total, bins_total = e, b
        n_bins[i], n_edges[i] = b - bin_start[i], e - edge_start[i]

    edges = np.empty(edges_total)
    if segments:
        _write_powers(edges, np.array(segments, dtype=np.int64))
    edges[zero_edges] = 0.0
    ref = np.zeros(bins_total)
    cur = np.zeros(bins_total)
    for side, flat in ((0, ref), (1, cur)):
        if pieces[side]:
            values = np.concatenate(pieces[side])
            at = np.array(piece_at[side], dtype=np.int64)
            flat[_ramps(at[:, 0], np.array([p.size for p in pieces[side]]), at[:, 1])] = values
    if zero_bins:
        ref[zero_bins] = zero_counts[0]
        cur[zero_bins] = zero_counts[1]
    return [
        _finish(
            layouts[i], refs[i], curs[i], edges, ref, cur, edge_start[i], bin_start[i], n_edges[i], n_bins[i]
        )
        for i in range(n)
    ]


_EMPTY = np.zeros(0)
_EMPTY_SIDE = (0, _EMPTY, 0, _EMPTY)


def _finish(
    layout: tuple[bool, int, bool, bool] | None,
    r: _Side,
    c: _Side,
    edges: np.ndarray,
    ref: np.ndarray,
    cur: np.ndarray,
    e: int,
    b: int,
    n_edges: int,
    k: int,
) -> Binned:
    sides = (r.extremes, c.extremes)
    if layout is None:
        return _binned(np.zeros(1), np.zeros(0), np.zeros(0), sides, r, c)
    has_neg, kneg, zero, has_pos = layout
    # The flat layout reserved every optional piece; drop the ones align() leaves out, as it decides them:
    # the empty bin up to 0 after the negatives exists only while the last negative edge is below 0, and the
    # bin before the first positive edge only while what precedes it lies below that edge.
    drop_edges: list[int] = []
    drop_bins: list[int] = []
    last = math.nan
    at = bat = 0  # edge and bin positions within the pair
    if has_neg:
        last = float(edges[e + kneg])
        at, bat = kneg + 1, kneg
    if zero:
        if has_neg:
            if not last < 0:
                drop_edges.append(at)  # no empty bin up to 0
                drop_bins.append(bat)
            bat += 1
        at += 2
        bat += 1
        last = 0.0
    first_bin = 0
    if has_pos:
        lo = float(edges[e + at])
        if last < lo:
            pass  # the empty bin up to the first positive bucket stays
        elif last != last:
            first_bin = 1  # nothing precedes: base**plo is the first edge, the reserved bin before it goes
        else:
            drop_edges.append(at)  # 0 == base**plo: the zero bin's edge opens the positive part
            drop_bins.append(bat)
    pair_edges = edges[e : e + n_edges]
    pair_ref, pair_cur = ref[b + first_bin : b + k], cur[b + first_bin : b + k]
    if drop_edges:  # rare: bounds that underflow to 0
        pair_edges = np.delete(pair_edges, drop_edges)
        pair_ref, pair_cur = np.delete(ref[b : b + k], drop_bins), np.delete(cur[b : b + k], drop_bins)
    return _tightened(pair_edges, pair_ref, pair_cur, sides, r, c)


def _tightened(
    edges: np.ndarray,
    ref: np.ndarray,
    cur: np.ndarray,
    sides: tuple[tuple[float, float], ...],
    r: _Side,
    c: _Side,
) -> Binned:
    # As _binning._trim_and_tighten: drop empty outer bins, then the exact extremes become the outer edges.
    # ``edges`` is this pair's own segment of the flat array (or a copy): tightened in place.
    if not (ref[0] + cur[0] > 0 and ref[-1] + cur[-1] > 0):
        occupied = np.flatnonzero((ref > 0) | (cur > 0))
        if occupied.size == 0:
            return _binned(np.zeros(1), np.zeros(0), np.zeros(0), sides, r, c)
        first, last = int(occupied[0]), int(occupied[-1])
        edges = edges[first : last + 2]
        ref, cur = ref[first : last + 1], cur[first : last + 1]
    lows = [lo for lo, _ in sides if math.isfinite(lo)]
    highs = [hi for _, hi in sides if math.isfinite(hi)]
    if lows:
        edges[0] = min(min(lows), edges[1])
    if highs:
        edges[-1] = max(max(highs), edges[-2])
    return _binned(edges, ref, cur, sides, r, c)


def _binned(
    edges: np.ndarray,
    ref: np.ndarray,
    cur: np.ndarray,
    sides: tuple[tuple[float, float], ...],
    r: _Side,
    c: _Side,
) -> Binned:
    return Binned._unchecked(
        edges=edges,
        reference=ref,
        current=cur,
        reference_min=sides[0][0],
        reference_max=sides[0][1],
        current_min=sides[1][0],
        current_max=sides[1][1],
        reference_sum=r.sum,
        current_sum=c.sum,
        n_eff_reference=None,
        n_eff_current=None,
    )


def _common_scale(r: _Side, c: _Side) -> int:
    """As _binning._common_scale, on converted sides (integers only)."""
    scale = min(r.scale, c.scale)
    change = 0
    for sign in (0, 1):
        low = high = None
        for side in (r, c):
            size = side.pos.size if sign == 0 else side.neg.size
            if size:
                offset = side.pos_off if sign == 0 else side.neg_off
                by = side.scale - scale
                lo, hi = offset >> by, (offset + size - 1) >> by
                low = lo if low is None else min(low, lo)
                high = hi if high is None else max(high, hi)
        if low is not None:
            change = max(change, scale_change(low, high, MAX_BINS))  # type: ignore[arg-type]
    return max(scale - change, min(scale, MIN_SCALE))


def _union(a_off: int, a_size: int, b_off: int, b_size: int) -> tuple[int, int] | None:
    """The index range ``(low, high)`` (high exclusive) covering both sides' buckets, None when both are empty."""
    if a_size and b_size:
        return min(a_off, b_off), max(a_off + a_size, b_off + b_size)
    if a_size:
        return a_off, a_off + a_size
    if b_size:
        return b_off, b_off + b_size
    return None


def _expand(values: np.ndarray, lengths: np.ndarray, begins: np.ndarray, total: int) -> np.ndarray:
    """``np.repeat(values, lengths)`` (lengths >= 1) as a cumulative sum of steps: numpy's repeat with
    per-element counts is a slow loop (tens of ms for 300 000 elements here)."""
    steps = np.zeros(total, dtype=values.dtype)
    steps[begins] = np.diff(values, prepend=values.dtype.type(0))
    return np.cumsum(steps)


def _ramps(starts: np.ndarray, lengths: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Concatenated ``start + step * arange(length)`` of every segment (lengths >= 1)."""
    lengths_ = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths_)
    total = int(ends[-1]) if ends.size else 0
    begins = ends - lengths_
    steps_ = np.asarray(steps, dtype=np.int64)
    origin = np.asarray(starts, dtype=np.int64) - steps_ * begins  # start - step * begin, per segment
    at = np.arange(total, dtype=np.int64)
    return _expand(origin, lengths_, begins, total) + _expand(steps_, lengths_, begins, total) * at


def _write_powers(edges: np.ndarray, segments: np.ndarray) -> None:
    """Write ``sign * base**(first + step * j)`` of every segment (rows: first exponent, count, step, scale,
    position; the sign is the step's) at its position: otel_mlmon.sketch's ``bucket_lower_bounds`` element by
    element (``exp2(i / 2**scale)``, or ``ldexp`` at scales <= 0), negated for the negative part."""
    first, lengths, step, scale, at = segments.T
    indices = _ramps(first, lengths, step)
    positions = _ramps(at, lengths, np.ones_like(at))
    ends = np.cumsum(lengths)
    begins, total = ends - lengths, int(ends[-1])
    scales = _expand(scale, lengths, begins, total)
    signs = _expand(step, lengths, begins, total)
    values = np.empty(indices.size)
    fine = scales > 0
    with np.errstate(over="ignore", under="ignore"):
        if fine.any():
            divisors = np.ldexp(1.0, scales[fine])  # float(1 << scale), exactly
            values[fine] = np.exp2(indices[fine].astype(np.float64) / divisors)
        coarse = ~fine
        if coarse.any():
            exponents = np.clip(indices[coarse] << -scales[coarse], -2000, 2000)
            values[coarse] = np.ldexp(1.0, exponents)
    negative = signs < 0
    values[negative] = -values[negative]
    edges[positions] = values
