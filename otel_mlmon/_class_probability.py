"""The class-probability sketches of a :class:`~otel_mlmon.summary.Summary`: per multiclass output and class ``c``, a
histogram of ``p_c``, the probability the model gives ``c``, over the rows it did not predict as ``c``.

The confidence histograms describe the predicted class of each row; what the rest of a row's probability says about
the other classes is lost there. The collector's performance estimates need it for multiclass outputs: with
calibrated probabilities, the sum of ``p_c`` over the rows not predicted ``c`` is the expected number of false
negatives of ``c`` (``docs/semantic-conventions.md``, ``ml.prediction.class_probability``).

Only for probability outputs of more than 2 and at most ``SummaryConfig.max_categories`` classes: with 2 classes the
other class's probability is ``1 - confidence`` (nothing new), and beyond the cap the series would not be bounded
(such outputs get none). Cost: at most ``max_categories`` more histogram series per multiclass output, and per fold
one compare and one gather per class (the predicted classes come from the adapter's argmax, not computed again).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_mlmon.adapters._base import ClassProbabilities, Outputs

__all__ = ["add_class_probability", "sketched_only"]


def add_class_probability(
    config: Any,
    target: dict[tuple[str, str], Any],
    output: str,
    probabilities: ClassProbabilities,
) -> None:
    """Add one call's class probabilities of ``output`` to ``target``, keyed ``(output, class label)``.

    Each class's column gets ``p_c`` of every row with complete probabilities whose predicted class is not ``c``;
    a column is made (or updated) only when the call has such rows. Rows whose probabilities were incomplete are
    left out (the confidence counts them as missing).
    """
    matrix, predicted = probabilities.matrix, probabilities.predicted
    k = matrix.shape[1]
    if k <= 2 or k > config.max_categories or matrix.shape[0] == 0:
        return
    complete = predicted >= 0
    if not complete.all():
        matrix, predicted = matrix[complete], predicted[complete]
    rows = matrix.shape[0]
    others = rows - np.bincount(predicted, minlength=k)  # rows not predicted as each class
    by_class = matrix.T  # a view: row j holds class j's probability of every row
    for j in np.flatnonzero(others > 0).tolist():
        key = (output, str(probabilities.labels[j]))
        column = target.get(key)
        if column is None:
            column = target[key] = config.new_column("numeric")
        # One compare and one gather per class; masking the predicted cells with NaN for one update_columns sweep
        # measured 1.2-3x slower from 1 000 to 100 000 rows (the histograms pay to drop NaN, the sweep transposes).
        column.numeric.update(by_class[j][predicted != j])


def sketched_only(outputs: Outputs, max_categories: int) -> Outputs:
    """``outputs`` without the probability matrices :func:`add_class_probability` leaves out (2 classes, or more
    than ``max_categories``): the SDK's fold then neither holds nor concatenates them (a binary classifier's matrix
    would count against the bytes of held rows for nothing)."""
    probabilities = outputs.probabilities
    keep = {name: p for name, p in probabilities.items() if 2 < p.labels.shape[0] <= max_categories}
    return outputs if len(keep) == len(probabilities) else Outputs(outputs.table, outputs.confidence, keep)
