"""Align pairs of exponential histograms on common bins: every pair of a model in one padded 2-D pass.

This is the one implementation of the layout that :func:`~otel_mlmon_collector.drift._binning.align` documents
(``align`` is this pass on one pair). Each pair becomes one row of three padded 2-D arrays, edges, reference counts
and current counts, in ascending value order: the negative buckets (largest magnitude first), an empty bin up to
0, the zero bucket as a zero-width bin at 0, an empty bin up to the first positive bucket, the positive buckets;
the optional pieces only where :func:`align` has them. Rows shorter than the longest are padded with zero-width
bins at their last edge (as :func:`~otel_mlmon_collector.drift._binning.stack` pads), so a method can take the
arrays as they are.

Per pair, Python only reads the histograms' fields (the reference side once: :class:`AlignmentCache`); the common
scale, the index ranges, the layout, every edge (one ``exp2``/``ldexp`` over the 2-D edge array), every count (one
``bincount`` per side), the trimming check and the tightening to the exact extremes are numpy passes over all
rows. Only rows whose outer bins are empty (points with zero counts at their ends) are trimmed one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MAX_BINS", "MIN_SCALE", "AlignedRows", "AlignmentCache", "align_rows"]

#: Most buckets per sign that :func:`align_rows` lays out; wider common ranges are downscaled (the SDK keeps 160).
MAX_BINS = 1 << 16
MIN_SCALE = -10

_MAX_ENTRIES = 1 << 17
_NO_SCALE = 1 << 30  # a histogram without non-zero-index buckets imposes no scale
_BIG = np.iinfo(np.int64).max


def extremes(h: Any) -> tuple[float, float]:
    """``(min, max)`` of a histogram as floats, nan when empty or unknown."""
    if float(h.count) <= 0:
        return math.nan, math.nan
    lo, hi = optional_float(getattr(h, "min", None)), optional_float(getattr(h, "max", None))
    return (math.nan if lo is None else lo), (math.nan if hi is None else hi)


def optional_float(x: Any) -> float | None:
    """``float(x)`` when finite, else None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class _Side:
    """What alignment reads from one histogram: buckets, offsets, scale, zero count, extremes, sum."""

    __slots__ = ("extremes", "key", "neg", "neg_off", "pos", "pos_off", "scale", "sum", "zero")

    def __init__(self, h: Any) -> None:
        # As given (no float64 copy per side): the counts are concatenated, then bincount reads them as float64.
        self.pos = np.asarray(h.positive_counts).ravel()
        self.neg = np.asarray(h.negative_counts).ravel()
        self.pos_off = int(h.positive_offset)
        self.neg_off = int(h.negative_offset)
        self.scale = _NO_SCALE if self.pos.size == 0 and self.neg.size == 0 else int(h.scale)
        self.zero = float(h.zero_count)
        self.extremes = extremes(h)
        self.sum = optional_float(getattr(h, "sum", None))
        self.key: tuple[Any, ...] = ()  # set by AlignmentCache, which checks it


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
    """What alignment keeps between evaluations: the reference histograms, read once (keyed by the histogram
    object), and per set of references (one model's columns) the last layout, reused while the current sides
    keep their scales, index ranges and zero buckets (the layout holds edges and reference counts: about
    ``16 * columns * bins`` bytes per model).

    :meth:`begin` starts a round (the drift engine: one evaluation); entries not used in the previous round are
    dropped, so the cache holds only the references still evaluated (a reloaded reference replaces its entries:
    new histogram objects, so new sides and layouts).
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, _Side]] = {}
        self._used: dict[int, tuple[Any, _Side]] = {}
        self._layouts: dict[tuple[int, ...], _Layout] = {}
        self._layouts_used: dict[tuple[int, ...], _Layout] = {}

    def begin(self) -> None:
        """Start a round: forget what the last round did not use."""
        self._entries, self._used = self._used or self._entries, {}
        self._layouts, self._layouts_used = self._layouts_used or self._layouts, {}

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

    def layout(self, refs: list[_Side], fields: np.ndarray) -> _Layout | None:
        """The kept layout of these reference sides (the same objects, in order) for these ``fields``, or None."""
        key = tuple(map(id, refs))
        layout = self._layouts_used.get(key) or self._layouts.get(key)
        # The layout holds its sides, so their ids cannot be reused while it is kept; ``is`` makes sure.
        if (
            layout is None
            or len(layout.refs) != len(refs)
            or not all(a is b for a, b in zip(layout.refs, refs))
            or not np.array_equal(layout.fields, fields)
        ):
            return None
        self._layouts_used[key] = layout
        return layout

    def keep(self, layout: _Layout) -> None:
        """Keep ``layout`` for its reference sides (replacing the one kept for them)."""
        if len(self._layouts_used) < _MAX_ENTRIES:
            self._layouts_used[tuple(map(id, layout.refs))] = layout


@dataclass(frozen=True, eq=False)
class AlignedRows:
    """Aligned pairs as padded rows: row ``i`` holds pair ``i``'s ``sizes[i]`` bins, then zero-width padding.

    A row without bins (nothing on either side, or only empty buckets) has ``sizes[i] == 0`` and edge 0.0.
    """

    edges: np.ndarray  # (pairs, width + 1)
    reference: np.ndarray  # (pairs, width)
    current: np.ndarray  # (pairs, width)
    sizes: np.ndarray  # (pairs,) int64
    reference_extremes: list[tuple[float, float]]
    current_extremes: list[tuple[float, float]]
    reference_sum: list[float | None]
    current_sum: list[float | None]
    #: The :class:`~otel_mlmon_collector.drift._binning.Stacked` of all the rows once a method asked for it (the
    #: rows' Binned carry no effective sizes of their own, so it is the same for every method of the pass).
    stacked: list[Any] = field(default_factory=list, repr=False)


def align_rows(pairs: Sequence[tuple[Any, Any]], cache: AlignmentCache | None = None) -> AlignedRows:
    """Align every ``(reference, current)`` pair of exponential histograms, in one pass (see the module docstring).

    Args:
        pairs: ``(reference, current)`` histograms (anything with ``scale``, ``zero_count``, ``positive_offset``,
            ``positive_counts``, ``negative_offset``, ``negative_counts``, ``count``, ``sum``, ``min``, ``max``).
        cache: Keeps the reference sides and, per set of references, the last layout (edges, reference counts,
            where the current counts go) for as long as the current sides keep the same scale and index ranges.
    """
    n = len(pairs)
    refs = [cache.side(r) if cache is not None else _Side(r) for r, _ in pairs]
    curs = [_Side(c) for _, c in pairs]
    sides = refs + curs
    fields = np.array(
        [[s.scale, s.pos_off, s.pos.size, s.neg_off, s.neg.size, s.zero > 0] for s in sides], dtype=np.int64
    ).reshape(2 * n, 6)
    layout = cache.layout(refs, fields) if cache is not None else None
    if layout is None:
        layout = _Layout(refs, curs, fields)
        if cache is not None:
            cache.keep(layout)
    edges = layout.edges.copy()
    ref = layout.reference
    cur = np.zeros(layout.reference.size)
    if layout.current_at.size:
        values = _parts(curs, layout.current_parts)
        if layout.current_sums:
            cur = np.bincount(layout.current_at, weights=values, minlength=cur.size)
        else:
            cur[layout.current_at] = values + 0.0  # as bincount's sums: a count of -0.0 becomes 0.0
    cur = cur.reshape(ref.shape)
    with_zero = layout.with_zero
    if with_zero.size:
        cur[with_zero, layout.zero_col[with_zero]] = [curs[i].zero for i in with_zero.tolist()]
    sizes = layout.sizes.copy()

    # Empty outer bins are dropped (rare: points with zero counts at their ends).
    filled = layout.filled
    if filled.size:
        last = sizes[filled] - 1
        outer = (ref[filled, 0] + cur[filled, 0] > 0) & (ref[filled, last] + cur[filled, last] > 0)
        if not outer.all():
            ref = ref.copy()  # the cached reference rows stay as laid out
            for i in filled[~outer].tolist():
                sizes[i] = _trim(edges[i], ref[i], cur[i], int(sizes[i]))

    ref_extremes = [s.extremes for s in refs]
    cur_extremes = [s.extremes for s in curs]
    _tighten(edges, sizes, ref_extremes, cur_extremes)
    return AlignedRows(
        edges, ref, cur, sizes, ref_extremes, cur_extremes, [s.sum for s in refs], [s.sum for s in curs]
    )


def _parts(curs: list[_Side], parts: list[tuple[int, bool]]) -> np.ndarray:
    """The current counts the layout places, concatenated: ``(pair, negative)`` per part, in order."""
    return np.concatenate([curs[i].neg if negative else curs[i].pos for i, negative in parts])


class _Layout:
    """Where everything of one set of pairs goes: the common scale, the bins of each row, every edge before
    tightening, the reference counts, and the flat positions of the current counts. It depends only on the
    reference sides and the scales, offsets, sizes and zero buckets of both sides (``fields``), so an evaluation
    whose current sides keep those reuses it and only places the current counts."""

    __slots__ = (
        "current_at",
        "current_parts",
        "current_sums",
        "edges",
        "fields",
        "filled",
        "reference",
        "refs",
        "sizes",
        "with_zero",
        "zero_col",
    )

    def __init__(self, refs: list[_Side], curs: list[_Side], fields: np.ndarray) -> None:
        n = len(refs)
        self.refs, self.fields = refs, fields
        scale, pos_off, pos_n, neg_off, neg_n = (fields[:, j] for j in range(5))
        zeros = np.array([s.zero for s in refs + curs], dtype=np.float64)

        # The common scale: the finer of the two, lowered until each sign's common range fits MAX_BINS.
        finer = np.minimum(scale[:n], scale[n:])
        has_buckets = scale != _NO_SCALE
        by = np.where(has_buckets, scale - np.concatenate([finer, finer]), 0)
        change = np.zeros(n, dtype=np.int64)
        for off, size in ((pos_off, pos_n), (neg_off, neg_n)):
            low, high, live = _union(off, size, by, n)
            change = np.maximum(change, _scale_change(low, high, live))
        common = np.maximum(finer - change, np.minimum(finer, MIN_SCALE))
        by = np.where(has_buckets, scale - np.concatenate([common, common]), 0)
        plo, phi, has_pos = _union(pos_off, pos_n, by, n)
        nlo, nhi, has_neg = _union(neg_off, neg_n, by, n)
        phi, nhi = phi + 1, nhi + 1  # exclusive ends
        row_scale = np.where(has_pos | has_neg, common, 0)

        # The layout of each row (which optional bins it has), as align() decides it.
        kpos = np.where(has_pos, phi - plo, 0)
        kneg = np.where(has_neg, nhi - nlo, 0)
        zero = (zeros[:n] > 0) | (zeros[n:] > 0) | (has_neg & has_pos)
        gap_zero = has_neg & zero & (_powers(nlo, row_scale) > 0)  # an empty bin from -base**nlo up to 0
        gap_pos = has_pos & zero & (_powers(plo, row_scale) > 0)  # an empty bin from 0 up to base**plo
        zero_col = kneg + gap_zero
        pos_col = zero_col + zero + gap_pos  # first positive bucket's bin
        sizes = pos_col + kpos
        width = int(sizes.max()) if n else 0

        # Every edge in one pass: -base**(nhi - j) for the negative part, base**(plo + j) for the positive one.
        col = np.arange(width + 1)[None, :]
        negative = has_neg[:, None] & (col <= kneg[:, None])
        # When 0 == base**plo (underflow) after the zero bin, the zero bin's edge opens the positive part.
        first_pos = pos_col + (zero & ~gap_pos)
        positive = has_pos[:, None] & (col >= first_pos[:, None]) & (col <= sizes[:, None])
        exponents = np.where(
            negative, nhi[:, None] - col, np.where(positive, plo[:, None] + col - pos_col[:, None], 0)
        )
        powers = _powers(exponents, row_scale[:, None])
        self.edges = np.where(negative, -powers, np.where(positive, powers, 0.0))

        # Every count in one bincount per side: bucket i goes to index i >> by, then to its bin.
        rows = np.arange(n, dtype=np.int64) * width
        pos_at, neg_at = rows + pos_col - plo, rows + nhi - 1
        ref_parts, ref_at, _ = _positions(_halves(pos_off, neg_off, pos_n, neg_n, by, 0, n), pos_at, neg_at)
        ref = np.zeros(n * width)
        if ref_at.size:
            ref = np.bincount(ref_at, weights=_parts(refs, ref_parts), minlength=n * width)
        ref = ref.reshape(n, width)
        self.current_parts, self.current_at, sums = _positions(
            _halves(pos_off, neg_off, pos_n, neg_n, by, n, 2 * n), pos_at, neg_at
        )
        # Without downscaling no two current buckets share a bin: they are assigned, not summed.
        self.current_sums = bool(sums)
        self.with_zero = np.flatnonzero(zero)
        ref[self.with_zero, zero_col[self.with_zero]] = zeros[:n][self.with_zero]
        ref.flags.writeable = False  # shared by the evaluations that reuse this layout
        self.reference = ref
        self.zero_col = zero_col
        self.sizes = sizes
        self.filled = np.flatnonzero(sizes)


def _union(
    off: np.ndarray, size: np.ndarray, by: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: the lowest and highest index (inclusive) of one sign over both sides lowered by ``by``, and
    whether either side has buckets of that sign."""
    live = size > 0
    lo = off >> by
    hi = (off + size - 1) >> by
    low = np.minimum(np.where(live[:n], lo[:n], _BIG), np.where(live[n:], lo[n:], _BIG))
    high = np.maximum(np.where(live[:n], hi[:n], -_BIG), np.where(live[n:], hi[n:], -_BIG))
    either = live[:n] | live[n:]
    return np.where(either, low, 0), np.where(either, high, 0), either


def _scale_change(low: np.ndarray, high: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Row-wise ``otel_mlmon.sketch.scale_change(low, high, MAX_BINS)``: the same loop on every row at once."""
    change = np.zeros_like(low)
    wide = live & (high - low >= MAX_BINS)
    while wide.any():
        low, high = np.where(wide, low >> 1, low), np.where(wide, high >> 1, high)
        change += wide
        wide &= high - low >= MAX_BINS
    return change


def _powers(exponents: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``base**exponents`` element by element as ``otel_mlmon.sketch.bucket_lower_bounds`` computes it at each
    element's scale: ``exp2(i / 2**scale)``, or ``ldexp(1, i << -scale)`` at scales <= 0."""
    fine = scale > 0
    with np.errstate(over="ignore", under="ignore"):
        out = np.exp2(exponents / np.ldexp(1.0, np.where(fine, scale, 0)))
        if not fine.all():
            coarse = np.ldexp(1.0, np.clip(exponents << np.where(fine, 0, -scale), -2000, 2000))
            out = np.where(fine, out, coarse)
    return out


def _halves(
    pos_off: np.ndarray,
    neg_off: np.ndarray,
    pos_n: np.ndarray,
    neg_n: np.ndarray,
    by: np.ndarray,
    start: int,
    stop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets, sizes and shifts of one side's positive then negative buckets, pair by pair."""
    return (
        np.concatenate([pos_off[start:stop], neg_off[start:stop]]),
        np.concatenate([pos_n[start:stop], neg_n[start:stop]]),
        np.concatenate([by[start:stop], by[start:stop]]),
    )


def _positions(
    segments: tuple[np.ndarray, np.ndarray, np.ndarray], pos_at: np.ndarray, neg_at: np.ndarray
) -> tuple[list[tuple[int, bool]], np.ndarray, bool]:
    """Where every bucket count of one side goes in the flat rows: positive bucket ``i`` of pair ``p`` at
    ``pos_at[p] + (i >> by)``, negative bucket ``i`` at ``neg_at[p] - (i >> by)`` (segments: the positive parts
    of every pair, then the negative parts). Returns the non-empty parts as ``(pair, negative)``, the positions
    of their counts in that order, and whether any part was downscaled (counts then share bins)."""
    off, size, by = segments
    keep = size > 0
    n = keep.size // 2
    parts = [(p % n, p >= n) for p in np.flatnonzero(keep).tolist()]
    if not parts:
        return parts, np.zeros(0, dtype=np.int64), False
    lengths = size[keep]
    ends = np.cumsum(lengths)
    begins = ends - lengths
    n_values = int(ends[-1])
    at = np.concatenate([pos_at, neg_at])[keep]
    sign = np.where(np.arange(keep.size) < n, 1, -1)[keep]
    index = _expand(off[keep] - begins, lengths, begins, n_values) + np.arange(n_values)
    shift = by[keep]
    downscaled = bool(shift.any())
    if downscaled:
        index >>= _expand(shift, lengths, begins, n_values)
    position = _expand(at, lengths, begins, n_values) + _expand(sign, lengths, begins, n_values) * index
    return parts, position, downscaled


def _expand(values: np.ndarray, lengths: np.ndarray, begins: np.ndarray, total: int) -> np.ndarray:
    """``np.repeat(values, lengths)`` (lengths >= 1) as a cumulative sum of steps: numpy's repeat with
    per-element counts is a slow loop (tens of ms for 300 000 elements here)."""
    steps = np.zeros(total, dtype=values.dtype)
    steps[begins] = values
    steps[begins[1:]] -= values[:-1]
    return np.cumsum(steps)


def _trim(edges: np.ndarray, ref: np.ndarray, cur: np.ndarray, size: int) -> int:
    """Drop a row's empty outer bins in place (moving what is left to the row's start); returns its new size."""
    occupied = np.flatnonzero((ref[:size] > 0) | (cur[:size] > 0))
    if occupied.size == 0:
        edges[:] = 0.0
        ref[:] = 0.0
        cur[:] = 0.0
        return 0
    first, last = int(occupied[0]), int(occupied[-1])
    kept = last - first + 1
    edges[: kept + 1] = edges[first : last + 2].copy()
    ref[:kept] = ref[first : last + 1].copy()
    cur[:kept] = cur[first : last + 1].copy()
    ref[kept:] = 0.0
    cur[kept:] = 0.0
    return kept


def _tighten(
    edges: np.ndarray,
    sizes: np.ndarray,
    ref_extremes: list[tuple[float, float]],
    cur_extremes: list[tuple[float, float]],
) -> None:
    """The exact extremes become the outer edges (they lie in the outermost occupied bins, or below the SDK's
    lowest bucket, which also holds subnormal values); then every row is padded with its last edge."""
    n = sizes.size
    if n == 0:
        return
    r_lo, r_hi = np.array(ref_extremes, dtype=np.float64).reshape(n, 2).T
    c_lo, c_hi = np.array(cur_extremes, dtype=np.float64).reshape(n, 2).T
    rows = np.arange(n)
    filled = sizes > 0
    # min(lows) and max(highs) over the finite extremes, with Python's min/max choice between equal values.
    fin_r, fin_c = np.isfinite(r_lo), np.isfinite(c_lo)
    low = np.where(fin_r & fin_c, np.where(c_lo < r_lo, c_lo, r_lo), np.where(fin_r, r_lo, c_lo))
    tighten_low = filled & (fin_r | fin_c)
    fin_r, fin_c = np.isfinite(r_hi), np.isfinite(c_hi)
    high = np.where(fin_r & fin_c, np.where(c_hi > r_hi, c_hi, r_hi), np.where(fin_r, r_hi, c_hi))
    tighten_high = filled & (fin_r | fin_c)
    second = edges[:, 1] if edges.shape[1] > 1 else edges[:, 0]
    edges[tighten_low, 0] = np.where(second < low, second, low)[tighten_low]
    before_last = edges[rows, np.maximum(sizes - 1, 0)]
    edges[rows[tighten_high], sizes[tighten_high]] = np.where(before_last > high, before_last, high)[
        tighten_high
    ]
    last = edges[rows, sizes]
    pad = np.arange(edges.shape[1])[None, :] > sizes[:, None]
    np.copyto(edges, last[:, None], where=pad)
