"""Drift methods computed from sketches: one method per module behind one DriftMethod interface.

Numeric methods compare a :class:`Binned` (two exponential histograms aligned by :func:`align`), categorical
methods two :class:`CategoricalCounts`, the missing-rate method two :class:`MissingCounts`. Each returns a
:class:`DriftResult` that carries its sample sizes. :func:`default_method` and :class:`DriftPolicy` choose a
method per feature; :func:`correct` adjusts p-values across one model's features. See docs/drift.md.
"""

from __future__ import annotations

from otel_mlmon_collector.drift._base import KINDS, BatchMethod, DriftMethod, DriftResult, Kind
from otel_mlmon_collector.drift._binning import Binned, align, bucket_index, kish_n_eff
from otel_mlmon_collector.drift._categorical import CategoricalCounts, CategoricalSides, ContingencyTable
from otel_mlmon_collector.drift._centroid import Centroid
from otel_mlmon_collector.drift._chi2 import ChiSquare
from otel_mlmon_collector.drift._defaults import DEFAULT_ALPHA, LARGE_N_EFF, default_method, effective_n
from otel_mlmon_collector.drift._hellinger import Hellinger, HellingerCategorical
from otel_mlmon_collector.drift._jensen_shannon import JensenShannon, JensenShannonCategorical
from otel_mlmon_collector.drift._ks import KolmogorovSmirnov
from otel_mlmon_collector.drift._linf import LInfinity
from otel_mlmon_collector.drift._mean_distance import MeanDistance
from otel_mlmon_collector.drift._missing import MissingCounts, MissingRate
from otel_mlmon_collector.drift._multiple_testing import adjust_p_values, correct
from otel_mlmon_collector.drift._null import NullMethod
from otel_mlmon_collector.drift._out_of_range import OutOfRange
from otel_mlmon_collector.drift._projections import Projections
from otel_mlmon_collector.drift._psi import PSI
from otel_mlmon_collector.drift._select import METHODS, DriftPolicy, build_method
from otel_mlmon_collector.drift._sliced_ks import SlicedKS
from otel_mlmon_collector.drift._unseen import UnseenCategories
from otel_mlmon_collector.drift._vectors import VectorColumn, vector_columns
from otel_mlmon_collector.drift._vocabulary import Vocabulary, VocabularyColumn, vocabulary_columns
from otel_mlmon_collector.drift._wasserstein import Wasserstein

__all__ = [
    "DEFAULT_ALPHA",
    "KINDS",
    "LARGE_N_EFF",
    "METHODS",
    "PSI",
    "BatchMethod",
    "Binned",
    "CategoricalCounts",
    "CategoricalSides",
    "Centroid",
    "ChiSquare",
    "ContingencyTable",
    "DriftMethod",
    "DriftPolicy",
    "DriftResult",
    "Hellinger",
    "HellingerCategorical",
    "JensenShannon",
    "JensenShannonCategorical",
    "Kind",
    "KolmogorovSmirnov",
    "LInfinity",
    "MeanDistance",
    "MissingCounts",
    "MissingRate",
    "NullMethod",
    "OutOfRange",
    "Projections",
    "SlicedKS",
    "UnseenCategories",
    "VectorColumn",
    "Vocabulary",
    "VocabularyColumn",
    "Wasserstein",
    "adjust_p_values",
    "align",
    "bucket_index",
    "build_method",
    "correct",
    "default_method",
    "effective_n",
    "kish_n_eff",
    "vector_columns",
    "vocabulary_columns",
]
