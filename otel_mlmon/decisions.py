"""Deployed decisions: the class a model's probabilities turn into when it is not their argmax.

A model deployed with a threshold (approve when ``p(default) < 0.2``, flag when ``p(fraud) >= 0.8``) decides
differently from ``argmax(p)``. ``monitor(..., decision=Threshold(0.8))`` records that decision as the predicted
class — in the ``ml.prediction`` records (the collector's realized metrics and change detectors then describe the
deployed predictor) and in the prediction summaries (class counts and the confidence histograms estimates read) —
while the probabilities still travel with each record (ROC AUC and log loss read them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters import is_probability
from otel_mlmon.adapters._base import ClassProbabilities, Column, Outputs, Table
from otel_mlmon.adapters._outputs import _class_labels

__all__ = ["Columns", "Decision", "Threshold", "apply_decision"]


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


class Columns:
    """The model returns its decision and its class probabilities side by side: name the two outputs.

    For a predict function returning ``{"approved": labels, "proba": matrix}`` (a mapping),
    ``decision=Columns(decision="approved", scores="proba")`` makes ``approved`` the one output (its records carry
    the probabilities of ``proba``, their confidence is the probability of the decided class) and leaves ``proba``
    out of the outputs. ``classes=`` names the probability columns (``{"proba": [...]}`` or a plain list).

    Example:
        >>> import numpy as np
        >>> from otel_mlmon.adapters import read_outputs
        >>> out = {"approved": np.array(["no", "yes"]), "proba": np.array([[0.3, 0.7], [0.1, 0.9]])}
        >>> rule = Columns(decision="approved", scores="proba")
        >>> read = apply_decision(read_outputs(out), out, ["no", "yes"], rule)
        >>> read.table.names, read.confidence["approved"].tolist()
        (('approved',), [0.3, 0.9])
    """

    def __init__(self, decision: str, scores: str) -> None:
        if not (isinstance(decision, str) and decision and isinstance(scores, str) and scores):
            raise ValueError(
                f"Columns(decision=..., scores=...) name two outputs, got {decision!r}, {scores!r}"
            )
        self.decision = decision
        self.scores = scores

    def scores_of(self, outputs: Any, classes: Any) -> tuple[np.ndarray, list[str]] | None:
        """The probability matrix and its class labels, or None when ``outputs`` has no such output."""
        if not isinstance(outputs, Mapping) or self.scores not in outputs:
            return None
        m = np.asarray(outputs[self.scores], dtype=np.float64)
        if m.ndim != 2 or not is_probability(m):
            return None
        names = classes.get(self.scores) if isinstance(classes, Mapping) else classes
        return m, [str(c) for c in _class_labels(names, m.shape[1], self.scores)]

    def __repr__(self) -> str:
        return f"Columns(decision={self.decision!r}, scores={self.scores!r})"


#: A decision: a :class:`Threshold`, :class:`Columns`, or ``f(probabilities) -> column index per row``.
Decision = Threshold | Columns | Callable[[np.ndarray], Any]


def check_decision(decision: Any) -> Decision | None:
    """Validate ``monitor(decision=...)`` at decoration time."""
    if decision is None or isinstance(decision, (Threshold, Columns)) or callable(decision):
        return decision
    raise ValueError(
        "monitor(decision=...) must be otel_mlmon.Threshold(...), otel_mlmon.Columns(decision=..., scores=...) "
        f"or f(probabilities) -> class index per row, got {decision!r}"
    )


def apply_decision(read: Outputs, outputs: Any, classes: Any, decision: Decision | None) -> Outputs:
    """``read`` with the deployed decision as the predicted class of a probability output.

    Applies to a call that returned one probability matrix (``predict_proba``); the confidence becomes the
    probability of the decided class. Other outputs are returned unchanged. Raises on a decision that fails
    (the caller counts it as a monitoring fault).
    """
    if isinstance(decision, Columns):
        return _columns(read, outputs, classes, decision)
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
    decided = ClassProbabilities(m, labels, np.where(complete, idx, -1))  # "not predicted c": not decided c
    return Outputs(table, {**read.confidence, column.name: confidence}, {column.name: decided})


def _columns(read: Outputs, outputs: Any, classes: Any, rule: Columns) -> Outputs:
    """The decision output alone, its confidence the probability the scores give the decided class."""
    names = read.table.names
    if rule.decision not in names:
        return read
    scores = rule.scores_of(outputs, classes)
    column = read.table.columns[names.index(rule.decision)]
    keep = tuple(c for c in read.table.columns if c.name != rule.scores)
    confidence = {k: v for k, v in read.confidence.items() if k != rule.scores}
    if scores is not None:
        m, labels = scores
        index = {label: i for i, label in enumerate(labels)}
        cols = np.array(
            [index.get(str(v), -1) if v is not None else -1 for v in column.values], dtype=np.int64
        )
        p = m[np.arange(m.shape[0]), np.maximum(cols, 0)]
        confidence[rule.decision] = np.where(cols >= 0, p, np.nan)
    probabilities = {k: v for k, v in read.probabilities.items() if k != rule.scores}
    return Outputs(Table(read.table.n_rows, keep), confidence, probabilities)
