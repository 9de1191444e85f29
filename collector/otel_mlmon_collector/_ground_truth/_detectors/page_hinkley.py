"""Page-Hinkley: a cumulative-sum test that fires when the stream's mean moves by more than a tolerated amount."""

from __future__ import annotations

import math

__all__ = ["PageHinkley"]

_MODES = ("up", "down", "both")


class PageHinkley:
    """Page-Hinkley test for a change in the mean (River's variant with a fading factor).

    With ``x̄_t`` the running mean of the values since the last reset,

    ``U_t = α · U_{t−1} + (x_t − x̄_t − δ)``  (increase),  ``D_t = α · D_{t−1} + (x̄_t − x_t − δ)``  (decrease),

    a change is detected when ``U_t − min_{s≤t} U_s > λ`` (mode ``up``) or ``D_t − min_{s≤t} D_s > λ``
    (mode ``down``), after at least ``min_instances`` values. After a detection the test starts over. Both
    running minima start from the first value (River starts the decrease side's extremum at −1, which makes
    its first decreases slightly easier to flag).

    ``δ`` is the magnitude of change tolerated per value and ``λ`` the evidence needed: on a 0/1 error stream a
    jump of the error rate by ``Δ`` is detected after about ``λ / (Δ − δ)`` values. The statistic is in the
    stream's units: scale absolute regression errors before feeding them.

    Parameters:
        min_instances: Values seen before the first detection (30).
        delta: Tolerated change per value, ``δ`` (0.005).
        threshold: Detection threshold, ``λ`` (50).
        alpha: Fading factor of the cumulative sums, ``α`` (0.9999).
        mode: ``"up"``, ``"down"`` or ``"both"`` (River's default ``"both"``).

    Example:
        >>> import random
        >>> from otel_mlmon_collector._ground_truth._detectors import PageHinkley
        >>> rng = random.Random(42)
        >>> detector = PageHinkley()
        >>> stream = [rng.random() < 0.1 for _ in range(2000)] + [rng.random() < 0.5 for _ in range(2000)]
        >>> [i for i, x in enumerate(stream) if (detector.update(x), detector.drift_detected)[1]]
        [2126]

    References:
        Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100–115.
        Gama, J., Sebastião, R., Rodrigues, P. P. (2013). On evaluating stream learning algorithms. Machine
        Learning 90(3), 317–346.  River's ``drift.PageHinkley`` (defaults).
    """

    name = "page_hinkley"
    #: Reads any real value (0/1 error bits or scaled absolute errors).
    binary_input = False

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        if min_instances < 1:
            raise ValueError(f"min_instances must be >= 1, got {min_instances}")
        if delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self.n_detections = 0
        self.reset()

    def reset(self) -> None:
        """Start the test over."""
        self._n = 0
        self._mean = 0.0
        self._up = 0.0
        self._down = 0.0
        self._min_up = math.inf
        self._min_down = math.inf
        self._drift = False

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    @property
    def statistic(self) -> float:
        """The larger of the active one-sided statistics (compared with ``threshold``)."""
        up = self._up - self._min_up if self.mode != "down" and self._n else 0.0
        down = self._down - self._min_down if self.mode != "up" and self._n else 0.0
        return max(up, down)

    def update(self, x: float) -> None:
        """Add one value."""
        if self._drift:
            self.reset()
        x = float(x)
        self._n += 1
        self._mean += (x - self._mean) / self._n
        self._up = self.alpha * self._up + (x - self._mean - self.delta)
        self._down = self.alpha * self._down + (self._mean - x - self.delta)
        self._min_up = min(self._min_up, self._up)
        self._min_down = min(self._min_down, self._down)
        if self._n >= self.min_instances and self.statistic > self.threshold:
            self._drift = True
            self.n_detections += 1
