"""Deployed decisions: the class a model's probabilities turn into when it is not their argmax.

A model deployed with a threshold (approve when ``p(default) < 0.2``, flag when ``p(fraud) >= 0.8``) decides
differently from ``argmax(p)``. ``monitor(..., decision=Threshold(0.8))`` records that decision as the predicted
class — in the ``ml.prediction`` records (the collector's realized metrics and change detectors then describe the
deployed predictor) and in the prediction summaries (class counts and the confidence histograms estimates read) —
while the probabilities still travel with each record (ROC AUC and log loss read them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters import is_probability
from otel_mlmon.adapters._base import Column, Outputs, Table
from otel_mlmon.adapters._outputs import _class_labels

__all__ = ["Decision", "Threshold", "apply_decision"]


class Threshold:
    """Predict ``positive`` when its probability is at least ``threshold``, else the most probable other class.

    Args:
        threshold: In [0, 1].
        positive: The positive class label (compared as text, like every class label); default the last class
            (scikit-learn's positive class ``classes_[-1]``, e.g. ``1``).

    Example:
        >>> import numpy as np
        >>> Threshold(0.8).decide(np.array([[0.3, 0.7], [0.1, 0.9]]), ["0", "1"]).tolist()
        [0, 1]
    """

    def __init__(self, threshold: float, positive: Any = None) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise ValueError(f"Threshold(threshold=...) must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.positive = None if positive is None else str(positive)

    def decide(self, probabilities: np.ndarray, classes: Sequence[str]) -> np.ndarray:
        """Column index of the decided class per row of a complete probability matrix."""
        labels = [str(c) for c in classes]
        if self.positive is None:
            pos = len(labels) - 1
        elif self.positive in labels:
            pos = labels.index(self.positive)
        else:
            raise ValueError(f"Threshold(positive={self.positive!r}) is not one of the classes {labels}")
        others = probabilities.copy()
        others[:, pos] = -np.inf
        return np.where(probabilities[:, pos] >= self.threshold, pos, others.argmax(axis=1))

    def __repr__(self) -> str:
        positive = "" if self.positive is None else f", positive={self.positive!r}"
        return f"Threshold({self.threshold!r}{positive})"


#: A decision: a :class:`Threshold`, or ``f(probabilities) -> column index per row`` for any other rule.
Decision = Threshold | Callable[[np.ndarray], Any]


def check_decision(decision: Any) -> Decision | None:
    """Validate ``monitor(decision=...)`` at decoration time."""
    if decision is None or isinstance(decision, Threshold) or callable(decision):
        return decision
    raise ValueError(
        "monitor(decision=...) must be otel_mlmon.Threshold(...) or f(probabilities) -> class index per row, "
        f"got {decision!r}"
    )


def apply_decision(read: Outputs, outputs: Any, classes: Any, decision: Decision | None) -> Outputs:
    """``read`` with the deployed decision as the predicted class of a probability output.

    Applies to a call that returned one probability matrix (``predict_proba``); the confidence becomes the
    probability of the decided class. Other outputs are returned unchanged. Raises on a decision that fails
    (the caller counts it as a monitoring fault).
    """
    if decision is None or len(read.table.columns) != 1:
        return read
    if type(outputs) is not np.ndarray or outputs.ndim != 2 or not is_probability(outputs):
        return read
    column = read.table.columns[0]
    m = np.asarray(outputs, dtype=np.float64)
    labels = _class_labels(classes, m.shape[1], column.name)
    complete = np.isfinite(m).all(axis=1)
    filled = np.where(complete[:, None], m, 0.0)
    if isinstance(decision, Threshold):
        idx = decision.decide(filled, [str(c) for c in labels])
    else:
        idx = np.asarray(decision(filled), dtype=np.int64).reshape(-1)
    if idx.shape[0] != m.shape[0] or (idx.size and (idx.min() < 0 or idx.max() >= m.shape[1])):
        raise ValueError(
            f"decision returned {idx.shape[0]} class indices for {m.shape[0]} rows of {m.shape[1]}"
        )
    values = labels[idx]
    confidence = filled[np.arange(m.shape[0]), idx]
    if not complete.all():
        values = values.copy()
        values[~complete] = None
        confidence[~complete] = np.nan
    table = Table(read.table.n_rows, (Column(column.name, values, column.kind),))
    return Outputs(table, {**read.confidence, column.name: confidence})
