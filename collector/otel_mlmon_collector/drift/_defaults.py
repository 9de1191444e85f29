"""The default drift method per kind of data and sample size, and why (numbers in docs/drift.md)."""

from __future__ import annotations

from otel_mlmon_collector.drift._base import DriftMethod, Kind
from otel_mlmon_collector.drift._chi2 import ChiSquare
from otel_mlmon_collector.drift._jensen_shannon import JensenShannonCategorical
from otel_mlmon_collector.drift._ks import KolmogorovSmirnov
from otel_mlmon_collector.drift._missing import MissingRate
from otel_mlmon_collector.drift._projections import Projections
from otel_mlmon_collector.drift._vocabulary import Vocabulary
from otel_mlmon_collector.drift._wasserstein import Wasserstein

__all__ = ["DEFAULT_ALPHA", "DEFAULT_CORRECTION", "LARGE_N_EFF", "default_method", "effective_n"]

#: Significance level of the default tests (before correction across features).
DEFAULT_ALPHA = 0.05
#: Correction across the features of one model.
DEFAULT_CORRECTION = "benjamini-hochberg"
#: Above this effective size ``n*m/(n+m)`` (3 000 rows on each side) the defaults switch from tests to
#: distances. Below it the distances' own noise passes 0.1 by chance (normalised Wasserstein: 85 % of no-drift
#: windows at 100 rows a side, 3.7 % at 1 000, 0.05 % at 3 000); above it the tests start to flag shifts too small
#: to matter (KS flags a 0.02 sigma mean shift in 8.6 % of windows at 10 000 rows a side and 90 % at 100 000).
LARGE_N_EFF = 1500.0


def effective_n(n_reference: float, n_current: float) -> float:
    """``n*m/(n+m)``, the sample size that governs two-sample tests and the noise of two-sample distances."""
    if n_reference <= 0 or n_current <= 0:
        return 0.0
    return n_reference * n_current / (n_reference + n_current)


def default_method(kind: Kind, n_reference: float, n_current: float) -> DriftMethod:
    """The method used when nothing is configured.

    * numeric: Kolmogorov–Smirnov ``p < 0.05`` while ``n*m/(n+m) <= 1500`` (3 000 rows a side), larger:
      Wasserstein / reference std ``>= 0.1``.
    * categorical: chi-square homogeneity ``p < 0.05`` (Cochran pooling, Fisher/Yates for 2 x 2), larger:
      Jensen–Shannon (base 2) ``>= 0.1`` gated by the same chi-square test at ``p < 0.05``.
    * missing: two-proportion test ``p < 0.05`` (Fisher's exact when an expected count is below 5) and a change
      of at least one percentage point, at every size.
    * vector: the centroid, mean-distance and sliced KS tests of the projections, ``p < 0.05`` after Bonferroni
      over the three, at every size.
    * vocabulary (a text column's hashed tokens): chi-square homogeneity of the bucket shares, corrected for texts
      as clusters, ``p < 0.05``, at every size.
    """
    # The methods are frozen dataclasses: one shared instance each (an engine asks for thousands per evaluation).
    if kind == "missing":
        return _MISSING
    if kind == "vector":  # a test at every size: calibrated from 100 to 100 000 rows (docs/drift.md)
        return _VECTOR
    if kind == "vocabulary":  # a test at every size: calibrated from 100 to 100 000 texts (docs/drift.md)
        return _VOCABULARY
    large = effective_n(n_reference, n_current) > LARGE_N_EFF
    if kind == "numeric":
        return _NUMERIC_LARGE if large else _NUMERIC
    if kind == "categorical":
        # The chi-square gate keeps many-level columns quiet: JS noise grows with the number of levels.
        return _CATEGORICAL_LARGE if large else _CATEGORICAL
    raise ValueError(
        f"kind must be 'numeric', 'categorical', 'missing', 'vector' or 'vocabulary', got {kind!r}"
    )


_MISSING = MissingRate(alpha=DEFAULT_ALPHA)
_VECTOR = Projections(alpha=DEFAULT_ALPHA)
_VOCABULARY = Vocabulary(alpha=DEFAULT_ALPHA)
_NUMERIC = KolmogorovSmirnov(alpha=DEFAULT_ALPHA)
_NUMERIC_LARGE = Wasserstein()
_CATEGORICAL = ChiSquare(alpha=DEFAULT_ALPHA)
_CATEGORICAL_LARGE = JensenShannonCategorical(alpha=DEFAULT_ALPHA)
