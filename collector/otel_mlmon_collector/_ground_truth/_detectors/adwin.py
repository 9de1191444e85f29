"""ADWIN: an adaptive window that drops its old part when its two halves' means differ significantly."""

from __future__ import annotations

import math
from collections import deque

__all__ = ["ADWIN"]


class ADWIN:
    """ADaptive WINdowing change detector (ADWIN2, on an exponential histogram of buckets).

    The window ``W`` holds the recent stream. Every ``clock`` updates (once ``W`` holds more than
    ``grace_period`` values) each split of ``W`` into an older part ``W0`` (``n0`` values, mean ``μ0``) and a
    newer part ``W1`` (``n1``, ``μ1``) at a bucket boundary is tested; the older part is dropped when

    ``|μ0 − μ1| > sqrt(2 · σ²_W · m · d) + (2/3) · m · d``,
    with ``m = 1/(n0 − L + 1) + 1/(n1 − L + 1)``, ``d = ln(2 · ln|W| / δ)``,

    ``σ²_W`` the variance of ``W`` and ``L`` = ``min_window_length``. A drop is a detected change. Values are
    assumed to lie in [0, 1] (error bits, or absolute errors divided by a scale): the second term of the bound
    is for a unit range. Buckets hold ``2^i`` values; at most ``max_buckets`` per size are kept, so memory and
    time per update are ``O(max_buckets · log|W|)``.

    Parameters:
        delta: Confidence: the probability bound of a false cut (0.002, River's default).
        clock: Test for a cut every ``clock`` updates (32).
        max_buckets: Buckets kept per size before two merge (5).
        min_window_length: Smallest part a split may leave (5).
        grace_period: Values seen before the first test (10).

    Example:
        >>> import random
        >>> from otel_mlmon_collector._ground_truth._detectors import ADWIN
        >>> rng = random.Random(42)
        >>> detector = ADWIN()
        >>> stream = [rng.random() < 0.1 for _ in range(2000)] + [rng.random() < 0.5 for _ in range(2000)]
        >>> [i for i, x in enumerate(stream) if (detector.update(x), detector.drift_detected)[1]]
        [2079, 2111, 2239]

    References:
        Bifet, A., Gavaldà, R. (2007). Learning from time-changing data with adaptive windowing. SIAM SDM.
        River's ``drift.ADWIN`` (defaults).
    """

    name = "adwin"
    #: Reads any real value (0/1 error bits or scaled absolute errors).
    binary_input = False

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if clock < 1:
            raise ValueError(f"clock must be >= 1, got {clock}")
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be >= 2, got {max_buckets}")
        if min_window_length < 1:
            raise ValueError(f"min_window_length must be >= 1, got {min_window_length}")
        if grace_period < 1:
            raise ValueError(f"grace_period must be >= 1, got {grace_period}")
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.n_detections = 0
        self.reset()

    def reset(self) -> None:
        """Forget the window."""
        # _levels[i] holds buckets of 2**i values, oldest first, each as [total, m2] (m2 = Σ squared deviations).
        self._levels: list[deque[list[float]]] = []
        self._width = 0
        self._total = 0.0
        self._m2 = 0.0
        self._ticks = 0
        self._drift = False

    @property
    def drift_detected(self) -> bool:
        """Whether the last update dropped part of the window."""
        return self._drift

    @property
    def width(self) -> int:
        """Values in the window."""
        return self._width

    @property
    def estimation(self) -> float:
        """Mean of the window (``nan`` when empty)."""
        return self._total / self._width if self._width else math.nan

    @property
    def variance(self) -> float:
        """Variance of the window (0 when empty)."""
        return self._m2 / self._width if self._width else 0.0

    def update(self, x: float) -> None:
        """Add one value; test for a cut every ``clock`` values."""
        x = float(x)
        if self._width:
            mean = self._total / self._width
            self._m2 += self._width * (x - mean) ** 2 / (self._width + 1)
        self._width += 1
        self._total += x
        self._insert(x)
        self._ticks += 1
        self._drift = False
        if self._ticks % self.clock == 0 and self._width > self.grace_period:
            while self._cut():
                self._drift = True
            if self._drift:
                self.n_detections += 1

    def _insert(self, x: float) -> None:
        if not self._levels:
            self._levels.append(deque())
        self._levels[0].append([x, 0.0])
        level = 0
        while len(self._levels[level]) > self.max_buckets:
            size = float(2**level)
            t1, v1 = self._levels[level].popleft()
            t2, v2 = self._levels[level].popleft()
            merged = [t1 + t2, v1 + v2 + size * size / (2 * size) * (t1 / size - t2 / size) ** 2]
            if level + 1 == len(self._levels):
                self._levels.append(deque())
            self._levels[level + 1].append(merged)
            level += 1

    def _cut(self) -> bool:
        """Test every split at a bucket boundary, oldest first; drop the oldest bucket on the first cut."""
        if len(self._levels) == 1 and len(self._levels[0]) <= 1:
            return False
        n = self._width
        d = math.log(2.0 * math.log(n) / self.delta)
        variance = self._m2 / n
        n0 = 0
        total0 = 0.0
        for level in range(len(self._levels) - 1, -1, -1):
            size = 2**level
            for bucket_total, _ in self._levels[level]:
                n0 += size
                total0 += bucket_total
                n1 = n - n0
                if n1 < self.min_window_length:
                    return False
                if n0 < self.min_window_length:
                    continue
                m = 1.0 / (n0 - self.min_window_length + 1) + 1.0 / (n1 - self.min_window_length + 1)
                epsilon = math.sqrt(2.0 * m * variance * d) + 2.0 / 3.0 * m * d
                if abs(total0 / n0 - (self._total - total0) / n1) > epsilon:
                    self._drop_oldest()
                    return self._width > self.min_window_length
        return False

    def _drop_oldest(self) -> None:
        level = len(self._levels) - 1
        total_b, m2_b = self._levels[level].popleft()
        while self._levels and not self._levels[-1]:
            self._levels.pop()
        n_b = 2**level
        n = self._width
        rest = n - n_b
        mean_b = total_b / n_b
        mean_rest = (self._total - total_b) / rest
        self._m2 = max(0.0, self._m2 - m2_b - n_b * rest / n * (mean_b - mean_rest) ** 2)
        self._width = rest
        self._total -= total_b
