"""Numeric distribution sketch: the OpenTelemetry base-2 exponential histogram, vectorised with numpy."""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._both_signs import insert_both_signs
from otel_mlmon.sketch._buckets import (
    CHUNK,
    Scratch,
    Sides,
    accumulate,
    add_counts,
    add_indices,
    crossing_position,
    downscale_buckets,
    edges,
    held,
    index_range,
    lend_scratch,
    occupied_range,
    point_sides,
    range_change,
    side_change,
    subtract_sides,
)
from otel_mlmon.sketch._column import count_column
from otel_mlmon.sketch._fields import histogram_from_dict, histogram_to_dict, same_float
from otel_mlmon.sketch._given_sides import given_sides
from otel_mlmon.sketch._mapping import (
    MAX_SCALE,
    MIN_SCALE,
    TABLE_MAX_SCALE,
    map_to_index,
    scale_change,
)

__all__ = ["ExponentialHistogram"]

_MIN_MAX_SIZE, _MAX_MAX_SIZE = 2, 16384
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


class ExponentialHistogram:
    """Base-2 exponential histogram of float values, bucket-for-bucket identical to the OTel Python SDK.

    Positive values are counted in buckets ``i`` covering ``(base**i, base**(i + 1)]`` with
    ``base = 2**(2**-scale)``; negative values are counted by absolute value in the same way; exact zeros go
    to ``zero_count``. The scale starts at ``max_scale`` and drops one step at a time (halving the number of
    buckets) whenever the positive or the negative index range would need ``max_size`` buckets or more, so
    memory is bounded by ``max_size`` counts per side and the relative bucket width is ``base - 1``.

    Fed the same values in the same order, the state equals what the SDK's
    ``ExponentialBucketHistogramAggregation(max_size, max_scale)`` collects as a delta point: same scale,
    zero count, offsets and bucket counts (the SDK pads its count lists with trailing zeros; ours are
    trimmed so that the first and last counts are non-zero), count, min and max; ``sum`` agrees up to float
    rounding (numpy sums pairwise, the SDK left to right). This includes the SDK's order dependence: a value
    that lands within a few ulps below a power of two is placed by the logarithm mapping while the scale is
    positive and by the exponent mapping once it is not, exactly as the SDK places it. (Where
    opentelemetry-sdk 1.45.2 corrupts its own buckets -- a rescale to a non-positive scale after which
    such a value's recomputed index falls outside the new range, leading to miscounts or ``IndexError`` --
    the scale is lowered one step further so that every value stays counted.)

    Non-finite values (NaN, +inf, -inf) are ignored and not counted: the caller counts them separately.

    Parameters:
        max_size: Maximum number of buckets per sign (2..16384, OTel default 160).
        max_scale: Starting (finest) scale, ``-10..20`` (OTel default 20).

    Attributes:
        scale: Current scale (0 for a histogram holding only zeros, as the SDK reports it).
        zero_count: Number of exact zeros (``-0.0`` included).
        positive_offset, positive_counts: Index of the first positive bucket and the contiguous int64 counts.
        negative_offset, negative_counts: The same for negative values, by absolute value.
        count, sum, min, max: Over all finite values seen (``min = inf``, ``max = -inf`` when empty).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(42)
        >>> h = ExponentialHistogram(max_size=160)
        >>> h.update(rng.lognormal(size=10_000))
        >>> h.scale, h.count, int(h.positive_counts.sum())
        (3, 10000, 10000)
        >>> round(float(h.quantile(0.5)), 2)
        0.99
        >>> other = ExponentialHistogram(max_size=160)
        >>> other.update(-rng.lognormal(size=100))
        >>> h.merge(other)
        >>> h.count, int(h.negative_counts.sum())
        (10100, 100)

    References:
        OpenTelemetry metrics data model, "ExponentialHistogram":
        https://opentelemetry.io/docs/specs/otel/metrics/data-model/#exponentialhistogram
        opentelemetry-python, ``sdk/metrics/_internal/aggregation.py`` (``_ExponentialBucketHistogramAggregation``).
    """

    def __init__(self, max_size: int = 160, max_scale: int = 20) -> None:
        if not isinstance(max_size, int) or not _MIN_MAX_SIZE <= max_size <= _MAX_MAX_SIZE:
            raise ValueError(
                f"max_size must be an int in [{_MIN_MAX_SIZE}, {_MAX_MAX_SIZE}], got {max_size!r}"
            )
        if not isinstance(max_scale, int) or not MIN_SCALE <= max_scale <= MAX_SCALE:
            raise ValueError(f"max_scale must be an int in [{MIN_SCALE}, {MAX_SCALE}], got {max_scale!r}")
        self.max_size = max_size
        self.max_scale = max_scale
        self._reset()

    def _reset(self) -> None:
        # The scale the bucket indices are expressed at (the SDK's mapping scale).
        self._index_scale = self.max_scale
        self.zero_count = 0
        self.positive_offset = 0
        self.positive_counts = _EMPTY.copy()
        self.negative_offset = 0
        self.negative_counts = _EMPTY.copy()
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def scale(self) -> int:
        """The scale of the bucket indices; 0 while only zeros were seen (as the SDK reports it)."""
        if self.positive_counts.size == 0 and self.negative_counts.size == 0 and self.zero_count > 0:
            return 0
        return self._index_scale

    # ------------------------------------------------------------------ updating
    def update(self, values: np.ndarray | Sequence[float]) -> None:
        """Add a batch of values, in order; NaN and +-inf are ignored (not counted).

        Large batches are processed in chunks of 65 536 values through shared, reused scratch buffers, so
        memory stays bounded and no large temporary arrays are allocated. One histogram is not
        thread-safe (use one per thread or a lock); different histograms may be updated concurrently.
        """
        batch = np.asarray(values, dtype=np.float64).reshape(-1)  # a view when already 1-D
        if batch.size == 0:
            return
        with lend_scratch() as scratch:
            for start in range(0, batch.size, CHUNK):
                self._update_chunk(batch[start : start + CHUNK], scratch)

    def _update_chunk(self, chunk: np.ndarray, scratch: Scratch) -> None:
        if count_column(self, chunk):  # two C reads when the C extension is built (_column.py)
            return
        size = int(chunk.size)
        if not chunk.flags.c_contiguous:
            chunk = scratch.take("values", size, chunk)
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.add.reduce(chunk))
            if not math.isfinite(total):  # a NaN or an infinity in the batch (or an overflowing sum)
                chunk = chunk[np.isfinite(chunk)]
                size = int(chunk.size)
                if size == 0:
                    return
                total = float(np.add.reduce(chunk))
        low, high = float(np.minimum.reduce(chunk)), float(np.maximum.reduce(chunk))
        self.count += size
        self.sum += total
        self.min = min(self.min, low)
        self.max = max(self.max, high)
        if low > 0:
            self._insert(chunk, _EMPTY_F, chunk, scratch)
        elif high < 0:
            negative = np.negative(chunk, out=scratch.buffer("negative", size))
            self._insert(_EMPTY_F, negative, chunk, scratch)
        elif low == 0 and high == 0:
            self.zero_count += size
        elif not insert_both_signs(self, chunk, scratch):  # one bincount for both signs, when it can
            mask = np.greater(chunk, 0, out=scratch.buffer("mask", size))
            n_positive = int(np.count_nonzero(mask))
            positive = np.compress(mask, chunk, out=scratch.buffer("positive", n_positive))
            np.less(chunk, 0, out=mask)
            n_negative = int(np.count_nonzero(mask))
            negative = np.compress(mask, chunk, out=scratch.buffer("negative", n_negative))
            np.negative(negative, out=negative)
            self.zero_count += size - n_positive - n_negative
            self._insert(positive, negative, chunk, scratch)

    def _insert(
        self,
        pos_values: np.ndarray,
        neg_values: np.ndarray,
        ordered: np.ndarray,
        scratch: Scratch | None = None,
    ) -> None:
        """Insert the absolute values of each sign, reproducing the SDK's value-by-value scale changes.

        ``ordered`` is the batch in arrival order (zeros allowed); it is only read when the batch takes the
        scale from positive to non-positive. Index arrays live in ``scratch`` when given.
        """
        if scratch is None:
            scratch = Scratch()
        n_pos, n_neg = int(pos_values.size), int(neg_values.size)
        pos_out, neg_out = scratch.buffer("pos_index", n_pos), scratch.buffer("neg_index", n_neg)
        work = scratch.buffer("work", max(n_pos, n_neg))

        def indices(at: int) -> tuple[np.ndarray, np.ndarray]:
            return (
                map_to_index(pos_values, at, pos_out, work[:n_pos]) if n_pos else _EMPTY,
                map_to_index(neg_values, at, neg_out, work[:n_neg]) if n_neg else _EMPTY,
            )

        scale = self._index_scale
        if scale > TABLE_MAX_SCALE:
            # Fast path: map at the table scale; if the batch cannot end above it (the range there is
            # already more than half of max_size at one scale finer), downscale the held buckets to it.
            # Indices at every positive scale are consistent (index(s - k) == index(s) >> k), so this is
            # what the SDK reaches value by value.
            pos_index, neg_index = indices(TABLE_MAX_SCALE)
            shift = scale - TABLE_MAX_SCALE
            pos_low, pos_high = index_range(
                pos_index, *held(self.positive_offset, self.positive_counts, shift)
            )
            neg_low, neg_high = index_range(
                neg_index, *held(self.negative_offset, self.negative_counts, shift)
            )
            if (n_pos and 2 * (pos_high - pos_low) - 1 >= self.max_size) or (
                n_neg and 2 * (neg_high - neg_low) - 1 >= self.max_size
            ):
                self.downscale(shift)
                scale = TABLE_MAX_SCALE
            else:
                pos_index, neg_index = indices(scale)
        else:
            pos_index, neg_index = indices(scale)
        pos_low, pos_high = index_range(pos_index, self.positive_offset, self.positive_counts)
        neg_low, neg_high = index_range(neg_index, self.negative_offset, self.negative_counts)
        max_size = self.max_size
        change = max(
            scale_change(pos_low, pos_high, max_size) if pos_index.size else 0,
            scale_change(neg_low, neg_high, max_size) if neg_index.size else 0,
        )
        if scale <= 0 or scale - change >= 1:
            if change:
                self.downscale(change)
                pos_index >>= change
                neg_index >>= change
                pos_low, pos_high, neg_low, neg_high = (
                    v >> change for v in (pos_low, pos_high, neg_low, neg_high)
                )
            if pos_index.size:
                self.positive_offset, self.positive_counts = accumulate(
                    pos_index, pos_low, pos_high, self.positive_offset, self.positive_counts
                )
            if neg_index.size:
                self.negative_offset, self.negative_counts = accumulate(
                    neg_index, neg_low, neg_high, self.negative_offset, self.negative_counts
                )
            return
        # The batch takes the scale from the logarithm mapping (scale >= 1) to the exponent mapping
        # (scale <= 0). The SDK maps every value at the scale current when it arrives, and the two mappings
        # disagree by one bucket for values within a few ulps below a power of two, so find the value that
        # triggers the crossing, insert the values before it as the SDK did, then continue at the new scale.
        nonzero = ordered[ordered != 0]
        trigger = crossing_position(nonzero, self._sides(), pos_index, neg_index, 1, self.max_size)
        head_positive = int(np.count_nonzero(nonzero[:trigger] > 0))
        self._apply(pos_index[:head_positive], neg_index[: trigger - head_positive], None)
        value = float(nonzero[trigger])
        index = int(map_to_index(np.array([abs(value)]), self._index_scale)[0])
        if value > 0:
            offset, counts = self.positive_offset, self.positive_counts
        else:
            offset, counts = self.negative_offset, self.negative_counts
        low, high = min(index, offset), max(index, offset + counts.size - 1)
        if counts.size == 0:
            low = high = index
        self.downscale(scale_change(low, high, self.max_size))
        rest = nonzero[trigger:]
        self._insert(rest[rest > 0], -rest[rest < 0], rest)

    def _apply(self, pos_index: np.ndarray, neg_index: np.ndarray, change: int | None) -> None:
        """Downscale by ``change`` (computed if None), then add indices given at the current scale."""
        if change is None:
            change = max(
                side_change(self.positive_offset, self.positive_counts, pos_index, self.max_size),
                side_change(self.negative_offset, self.negative_counts, neg_index, self.max_size),
            )
        if change:
            self.downscale(change)
            pos_index = pos_index >> change
            neg_index = neg_index >> change
        self.positive_offset, self.positive_counts = add_indices(
            self.positive_offset, self.positive_counts, pos_index
        )
        self.negative_offset, self.negative_counts = add_indices(
            self.negative_offset, self.negative_counts, neg_index
        )

    def downscale(self, by: int) -> None:
        """Lower the scale by ``by`` steps, merging each run of ``2**by`` adjacent buckets into one.

        Raises:
            ValueError: if ``by`` is negative or the scale would drop below -10.
        """
        if by < 0 or self._index_scale - by < MIN_SCALE:
            raise ValueError(
                f"by must be in [0, {self._index_scale - MIN_SCALE}] at scale {self._index_scale}, got {by}"
            )
        if by == 0:
            return
        self.positive_offset, self.positive_counts = downscale_buckets(
            self.positive_offset, self.positive_counts, by
        )
        self.negative_offset, self.negative_counts = downscale_buckets(
            self.negative_offset, self.negative_counts, by
        )
        self._index_scale -= by

    def merge(self, other: ExponentialHistogram) -> None:
        """Add ``other`` into this histogram, in place, at the common (smaller) scale.

        Both bucket sets are brought to ``min(self.scale, other.scale)`` and the scale is lowered further
        until each sign fits ``self.max_size`` buckets, as the SDK does when it merges cumulative points.
        ``h(a).merge(h(b))`` equals ``h(a ++ b)`` whenever the value-by-value SDK would have placed every
        value at the same index regardless of when it arrived (all data except values within a few ulps
        below a power of two once the scale reaches 0; see the class docstring).

        Raises:
            TypeError: if ``other`` is not an ``ExponentialHistogram``.
            ValueError: if the union of the bucket ranges cannot fit ``max_size`` buckets even at scale -10
                (indices no finite value maps to); this histogram is then unchanged.
        """
        if not isinstance(other, ExponentialHistogram):
            raise TypeError(f"other must be an ExponentialHistogram, got {type(other).__name__}")
        if other.count == 0:
            return
        if other.positive_counts.size or other.negative_counts.size:
            # Everything that can fail is worked out before this histogram changes: a merge that raises
            # leaves it as it was (count and buckets still agree).
            target = min(self._index_scale, other._index_scale)
            shift = other._index_scale - target
            pos_offset, pos_counts = downscale_buckets(other.positive_offset, other.positive_counts, shift)
            neg_offset, neg_counts = downscale_buckets(other.negative_offset, other.negative_counts, shift)
            own = self._index_scale - target
            own_pos = downscale_buckets(self.positive_offset, self.positive_counts, own)
            own_neg = downscale_buckets(self.negative_offset, self.negative_counts, own)
            change = max(
                range_change(*own_pos, pos_offset, pos_counts, self.max_size),
                range_change(*own_neg, neg_offset, neg_counts, self.max_size),
            )
            if target - change < MIN_SCALE:
                raise ValueError(
                    f"merging needs scale {target - change}, below {MIN_SCALE}: bucket indices out of range"
                )
            self.downscale(own + change)
            pos_offset, pos_counts = downscale_buckets(pos_offset, pos_counts, change)
            neg_offset, neg_counts = downscale_buckets(neg_offset, neg_counts, change)
            self.positive_offset, self.positive_counts = add_counts(
                self.positive_offset, self.positive_counts, pos_offset, pos_counts
            )
            self.negative_offset, self.negative_counts = add_counts(
                self.negative_offset, self.negative_counts, neg_offset, neg_counts
            )
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.zero_count += other.zero_count

    def subtract(self, older: ExponentialHistogram) -> ExponentialHistogram | None:
        """The values recorded since ``older``, an earlier cumulative state of this histogram; None on a reset.

        Turns two cumulative points of one series into the delta between them, as a new histogram (both
        operands are left unchanged). ``older``'s buckets are brought to this histogram's scale (a cumulative
        histogram's scale only goes down) and subtracted; when a count or a bucket goes down the producer
        restarted, and the result is None. The difference's ``count``, ``zero_count``, buckets and ``sum`` are
        exact; its ``min``/``max`` are exact when the cumulative extreme moved, otherwise the bound of the
        lowest/highest non-empty difference bucket, clipped to the cumulative range.

        Raises:
            TypeError: if ``older`` is not an ``ExponentialHistogram``.
        """
        if not isinstance(older, ExponentialHistogram):
            raise TypeError(f"older must be an ExponentialHistogram, got {type(older).__name__}")
        if self.count < older.count or self.zero_count < older.zero_count:
            return None
        if self.count == older.count:
            return ExponentialHistogram(max_size=self.max_size, max_scale=self.max_scale)
        sides = subtract_sides(self._sides(), older._sides(), self.max_scale)
        if sides is None:
            return None
        scale, positive, negative = sides
        zero_count = self.zero_count - older.zero_count
        lower, upper = occupied_range(scale, *negative, zero_count, *positive)
        low = self.min if self.min < older.min else max(lower, self.min)
        high = self.max if self.max > older.max else min(upper, self.max)
        low, high = (low, high) if low <= high else (high, low)
        delta = ExponentialHistogram(max_size=self.max_size, max_scale=self.max_scale)
        delta._assign(sides, zero_count, self.count - older.count, self.sum - older.sum, low, high)
        return delta

    def _sides(self) -> Sides:
        return (
            self._index_scale,
            (self.positive_offset, self.positive_counts),
            (self.negative_offset, self.negative_counts),
        )

    def _assign(
        self, sides: Sides, zero_count: int, count: int, total: float, low: float, high: float
    ) -> None:
        """Take a whole state; a histogram without buckets keeps its finest scale (as one fed only zeros)."""
        scale, (self.positive_offset, self.positive_counts), (self.negative_offset, self.negative_counts) = (
            sides
        )
        if self.positive_counts.size or self.negative_counts.size:
            self._index_scale = scale
        self.zero_count, self.count, self.sum, self.min, self.max = zero_count, count, total, low, high

    def copy(self) -> ExponentialHistogram:
        """Return an independent deep copy."""
        clone = ExponentialHistogram.__new__(ExponentialHistogram)
        clone.__dict__.update(self.__dict__)
        clone.positive_counts = self.positive_counts.copy()
        clone.negative_counts = self.negative_counts.copy()
        return clone

    # ------------------------------------------------------------------ reading
    def bucket_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(lower, upper, counts)`` of every bucket in ascending value order.

        Negative buckets first (most negative first), then the zero bucket (``lower = upper = 0``, always
        present, count ``zero_count``), then the positive buckets. A positive bucket holds
        ``(lower, upper]``, a negative one ``[lower, upper)``. The lowest bucket of a scale also holds every
        subnormal value, so its bound towards zero is 0; the bucket of the largest doubles may have an
        infinite upper bound. ``quantile`` and ``cdf`` clip bounds to ``[min, max]``.
        """
        return edges(
            self._index_scale,
            self.negative_offset,
            self.negative_counts,
            self.zero_count,
            self.positive_offset,
            self.positive_counts,
        )

    def quantile(self, q: float | np.ndarray | Sequence[float]) -> float | np.ndarray:
        """Estimate the ``q``-quantile(s) (``0 <= q <= 1``); NaN when the histogram is empty.

        The bucket holding rank ``q * count`` is found from the cumulative counts and the value is
        interpolated geometrically inside it (uniform in log scale; bucket bounds clipped to ``[min, max]``).
        ``q = 0`` and ``q = 1`` return ``min`` and ``max``. The estimate lies in the same bucket as the sample
        quantile ``np.quantile(data, q, method="inverted_cdf")``, so for normal (not subnormal) values its
        relative error is below ``base - 1 = 2**(2**-scale) - 1``; zeros are exact.

        Raises:
            ValueError: if a ``q`` is outside ``[0, 1]`` or NaN.
        """
        qs = np.asarray(q, dtype=np.float64)
        if not np.all((qs >= 0) & (qs <= 1)):
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if self.count == 0:
            out = np.full(qs.shape, np.nan)
            return float(out) if out.ndim == 0 else out
        lower, upper, counts = self._clipped_edges()
        cumulative = np.cumsum(counts)
        target = qs * self.count
        bucket = np.minimum(np.searchsorted(cumulative, target, side="left"), counts.size - 1)
        before = cumulative[bucket] - counts[bucket]
        in_bucket = np.maximum(counts[bucket], 1)
        fraction = np.clip((target - before) / in_bucket, 0.0, 1.0)
        low, high = lower[bucket], upper[bucket]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            geometric = low * (high / low) ** fraction
        out = np.where(low == 0.0, 0.0, geometric)
        out = np.where(qs <= 0.0, self.min, np.where(qs >= 1.0, self.max, out))
        out = np.clip(out, self.min, self.max)
        return float(out) if out.ndim == 0 else out

    def cdf(self, x: float | np.ndarray | Sequence[float]) -> float | np.ndarray:
        """Estimate the fraction of values ``<= x``; NaN when the histogram is empty.

        Whole buckets below ``x`` count fully; the bucket containing ``x`` counts in proportion to the log
        distance covered (the inverse of ``quantile``). The error is at most the mass of that one bucket.
        """
        xs = np.asarray(x, dtype=np.float64)
        if self.count == 0:
            out = np.full(xs.shape, np.nan)
            return float(out) if out.ndim == 0 else out
        lower, upper, counts = self._clipped_edges()
        cumulative = np.cumsum(counts)
        bucket = np.minimum(np.searchsorted(upper, xs, side="left"), counts.size - 1)
        before = cumulative[bucket] - counts[bucket]
        low, high = lower[bucket], upper[bucket]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fraction = np.log(xs / low) / np.log(high / low)
        fraction = np.where(xs >= high, 1.0, np.where(xs <= low, 0.0, fraction))
        fraction = np.nan_to_num(np.clip(fraction, 0.0, 1.0))
        out = (before + counts[bucket] * fraction) / self.count
        out = np.where(xs < self.min, 0.0, np.where(xs >= self.max, 1.0, out))
        return float(out) if out.ndim == 0 else out

    def _clipped_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lower, upper, counts = edges(
            self._index_scale,
            self.negative_offset,
            self.negative_counts,
            self.zero_count,
            self.positive_offset,
            self.positive_counts,
            nominal=True,
        )
        return np.clip(lower, self.min, self.max), np.clip(upper, self.min, self.max), counts

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return a compact, JSON-friendly, versioned representation (non-finite floats as strings)."""
        return histogram_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExponentialHistogram:
        """Rebuild a histogram from :meth:`to_dict` output, validating every field.

        Raises:
            ValueError: naming the field, on an unknown format or version, a missing or mistyped field,
                negative or untrimmed counts, or counts that do not add up to ``count``.
        """
        return histogram_from_dict(cls, data)

    @classmethod
    def from_buckets(
        cls,
        *,
        scale: int,
        zero_count: int,
        count: int,
        positive_offset: int = 0,
        positive_counts: Sequence[int] | np.ndarray = (),
        negative_offset: int = 0,
        negative_counts: Sequence[int] | np.ndarray = (),
        sum: float = math.nan,
        min: float | None = None,
        max: float | None = None,
        max_size: int = 160,
    ) -> ExponentialHistogram:
        """Build a histogram from the fields of an OTLP exponential-histogram data point.

        Bucket counts may carry empty buckets at either end (the SDK pads its lists); they are trimmed. A scale
        above 20 is lowered to 20 (merging buckets). Without ``min``/``max`` the bounds of the outermost
        occupied buckets stand in; without ``sum`` it is NaN. ``max_size`` is raised to the number of buckets a
        side carries, so nothing is lost. A histogram holding only zeros keeps the finest scale for its
        (empty) buckets, as one fed the same zeros would.

        Raises:
            ValueError: if the scale is below -10, a count is negative, the zero and bucket counts do not
                add up to ``count``, ``min`` exceeds ``max``, or a side needs more than 16 384 buckets.
        """
        pos = (int(positive_offset), np.asarray(positive_counts, dtype=np.int64))
        neg = (int(negative_offset), np.asarray(negative_counts, dtype=np.int64))
        scale, positive, negative = given_sides(int(scale), pos, neg) or point_sides(int(scale), pos, neg)
        zero, total = int(zero_count), int(count)
        counted = zero + int(positive[1].sum()) + int(negative[1].sum())
        if zero < 0 or counted != total:
            raise ValueError(f"count is {total} but zero_count and bucket counts add up to {counted}")
        if total == 0:
            return cls(max_size=max_size)
        if min is None or max is None:
            lower, upper = occupied_range(scale, *negative, zero, *positive)
            min, max = (lower if min is None else min), (upper if max is None else max)
        if not float(min) <= float(max):
            raise ValueError(f"min ({min}) must not exceed max ({max})")
        size = builtins.max(max_size, positive[1].size, negative[1].size, _MIN_MAX_SIZE)
        hist = cls(max_size=int(size))
        hist._assign((scale, positive, negative), zero, total, float(sum), float(min), float(max))
        return hist

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExponentialHistogram):
            return NotImplemented
        return (
            self.max_size == other.max_size
            and self.max_scale == other.max_scale
            and self._index_scale == other._index_scale
            and self.count == other.count
            and self.zero_count == other.zero_count
            and same_float(self.sum, other.sum)
            and same_float(self.min, other.min)
            and same_float(self.max, other.max)
            and self.positive_offset == other.positive_offset
            and self.negative_offset == other.negative_offset
            and np.array_equal(self.positive_counts, other.positive_counts)
            and np.array_equal(self.negative_counts, other.negative_counts)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"ExponentialHistogram(max_size={self.max_size}, max_scale={self.max_scale}, scale={self.scale}, "
            f"count={self.count}, zero_count={self.zero_count}, positive={self.positive_counts.size} buckets, "
            f"negative={self.negative_counts.size} buckets)"
        )
