"""Ground truth in the collector: join late labels to sampled predictions, realized and estimated performance,
concept drift.

The package's facade is what the collector's performance processor uses: :class:`LabelJoin` (parse, join,
windowed performance and concept drift on every ``evaluate``), its :class:`LabelJoinReport`, and
:func:`estimate_performance` (performance before labels from per-class confidence sums). One concern per private
module behind it: ``_records`` (parsing), ``_store`` (the SQLite join), ``_metrics`` (realized performance),
``_performance_windows`` (joined rows per prediction-time window), ``_estimation`` (confidence-based estimates),
``_detectors`` (ADWIN, Page-Hinkley, DDM), ``_reference_check`` (a window against the reference, both ways),
``_concept_drift`` (the detectors and reference checks per series) and ``_label_join`` (the wiring).
"""

from __future__ import annotations

from otel_mlmon_collector._ground_truth._estimation import estimate_performance
from otel_mlmon_collector._ground_truth._label_join import LabelJoin, LabelJoinReport

__all__ = ["LabelJoin", "LabelJoinReport", "estimate_performance"]
