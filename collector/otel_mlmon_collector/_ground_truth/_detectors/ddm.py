"""DDM: the drift detection method of Gama et al. on a binary error stream (error rate and its binomial spread)."""

from __future__ import annotations

import math

__all__ = ["DDM"]


class DDM:
    """Drift Detection Method on a 0/1 error stream.

    After ``i`` values with error rate ``p_i`` and ``s_i = sqrt(p_i (1 − p_i) / i)``, the minimum of
    ``p_i + s_i`` seen after ``warm_start`` values is kept as ``(p_min, s_min)``. Then

    ``p_i + s_i > p_min + warning_threshold · s_min``  → warning,
    ``p_i + s_i > p_min + drift_threshold · s_min``  → change detected (the test starts over on the next value).

    DDM reads error *bits*: any value other than 0 counts as an error, so it suits classification only (use
    ADWIN or Page-Hinkley on absolute regression errors). Because ``s_min`` is 0 when no error has been seen yet,
    a model with no error in its first ``warm_start`` values fires on its first error; a larger ``warm_start``
    avoids it for very accurate models.

    Parameters:
        warm_start: Values seen before ``(p_min, s_min)`` is tracked and a detection can happen (30).
        warning_threshold: Multiple of ``s_min`` for a warning (2.0).
        drift_threshold: Multiple of ``s_min`` for a detection (3.0).

    Example:
        >>> import random
        >>> from otel_mlmon_collector._ground_truth._detectors import DDM
        >>> rng = random.Random(42)
        >>> detector = DDM()
        >>> stream = [rng.random() < 0.1 for _ in range(2000)] + [rng.random() < 0.5 for _ in range(2000)]
        >>> [i for i, x in enumerate(stream) if (detector.update(x), detector.drift_detected)[1]]
        [2077]

    References:
        Gama, J., Medas, P., Castillo, G., Rodrigues, P. (2004). Learning with drift detection. SBIA 2004,
        LNCS 3171, 286–295.  River's ``drift.binary.DDM`` (defaults).
    """

    name = "ddm"
    #: Reads 0/1 error bits only (the concept-drift monitor does not feed it regression errors).
    binary_input = True

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
    ) -> None:
        if warm_start < 1:
            raise ValueError(f"warm_start must be >= 1, got {warm_start}")
        if not 0 < warning_threshold <= drift_threshold:
            raise ValueError(
                f"need 0 < warning_threshold <= drift_threshold, got {warning_threshold} and {drift_threshold}"
            )
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        self.n_detections = 0
        self.reset()

    def reset(self) -> None:
        """Start the test over."""
        self._n = 0
        self._errors = 0
        self._p_min = math.inf
        self._s_min = math.inf
        self._ps_min = math.inf
        self._drift = False
        self._warning = False

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a change."""
        return self._drift

    @property
    def warning_detected(self) -> bool:
        """Whether the last update passed the warning level (without a detection)."""
        return self._warning

    def update(self, x: float) -> None:
        """Add one error bit (any non-zero value is an error)."""
        if self._drift:
            self.reset()
        self._n += 1
        self._errors += 1 if x else 0
        p = self._errors / self._n
        s = math.sqrt(p * (1 - p) / self._n)
        self._warning = False
        if self._n <= self.warm_start:
            return
        if p + s <= self._ps_min:
            self._p_min, self._s_min, self._ps_min = p, s, p + s
        if p + s > self._p_min + self.drift_threshold * self._s_min:
            self._drift = True
            self.n_detections += 1
        elif p + s > self._p_min + self.warning_threshold * self._s_min:
            self._warning = True
