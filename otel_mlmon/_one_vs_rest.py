"""More than two classes: each class's probability on the rows where another class was predicted.

The confidence histograms say, per predicted class ``k``, how sure the model was of ``k``; they say nothing of the
rows' other probabilities. The SDK also sketches, per class ``c``, the probability ``p_c`` over the rows predicted
something else (``ml.prediction.class_probability``), and the reference profile holds the one-vs-rest beta
calibration of "the label is ``c``" on ``p_c`` over those rows (:func:`fit_rest_blocks`). From them:

* **missed rows of each class**: ``E[FN_c] = Σ P(c | p_c)`` over the rows not predicted ``c``: the expected
  number of true ``c`` rows predicted as something else, measured per class where the confidence alone gives
  only the reference's shares of each predicted class's errors;
* **a second estimate of the errors**: ``Σ_c E[FN_c]`` counts every wrong row once (its true class), beside
  ``Σ_k (N_k - E[TP_k])`` from the confidence. Under covariate shift each side misses in its own way (CBPE
  uses both at once by renormalising each row's calibrated probabilities, which needs the whole row); the
  estimator averages the two;
* **one-vs-rest ROC AUC**: every row ordered by ``p_c`` (the rows predicted ``c`` at their confidence, with
  ``P(correct)`` positives; the others at ``p_c``, with ``P(c | p_c)`` positives), the median AUC over label
  draws as for two classes -- where the confidence alone orders the rows not predicted ``c`` by a proxy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from otel_mlmon._beta_calibration import fit_beta_calibration
from otel_mlmon._calibration_blocks import cell_blocks, spread_over_blocks
from otel_mlmon._expected_auc import median_auc

__all__ = ["Pieces", "fit_rest_blocks", "rest_auc", "rest_pieces"]

#: ``(score, rows, probability)`` arrays of one group of rows.
Pieces = tuple[np.ndarray, np.ndarray, np.ndarray]


def fit_rest_blocks(
    matrix: np.ndarray, classes: Sequence[str], predicted: np.ndarray, truth: np.ndarray
) -> dict[str, np.ndarray]:
    """Per class ``c``: the beta calibration of "the label is ``c``" on ``p_c`` over the reference rows predicted
    something else, as constant blocks (one per cell of an exponential histogram of ``p_c``, as the confidence's
    blocks). Classes predicted on every reference row get none."""
    out = {}
    for i, c in enumerate(classes):
        rows = predicted != c
        if not rows.any():
            continue
        score = matrix[rows, i]
        calibration = fit_beta_calibration(score, (truth[rows] == c).astype(np.float64))
        out[c] = cell_blocks(score, calibration(score), complement_scale=None)
    return out


def rest_pieces(
    blocks: Mapping[str, np.ndarray],
    rest: Mapping[str, tuple[np.ndarray, ...]],
    classes: Sequence[str],
) -> dict[str, Pieces]:
    """Class → ``(p_c, rows, P(c | p_c))`` pieces of the rows not predicted ``c``.

    ``rest`` holds per class either exact values ``(p_c, rows)`` or histogram buckets ``(lower, upper, rows[,
    exact sum])``; a class without reference blocks takes ``p_c`` as calibrated."""
    out = {}
    for c in classes:
        group = rest.get(c)
        if group is None:
            continue
        mine = blocks.get(c)
        if len(group) >= 3:
            lower, upper = np.asarray(group[0], dtype=np.float64), np.asarray(group[1], dtype=np.float64)
            counts = np.asarray(group[2], dtype=np.float64)
            if mine is None:
                middle = (lower + upper) / 2
                out[c] = (middle, counts, np.clip(middle, 0.0, 1.0))
            else:
                total = float(group[3]) if len(group) > 3 else None
                out[c] = spread_over_blocks(mine, lower, upper, counts, total, lambda v: np.clip(v, 0.0, 1.0))
            continue
        values = np.asarray(group[0], dtype=np.float64)
        weights = np.asarray(group[1], dtype=np.float64)
        if mine is None:
            out[c] = (values, weights, np.clip(values, 0.0, 1.0))
        else:
            x = np.column_stack([mine[:, 0], mine[:, 1]]).ravel()
            out[c] = (values, weights, np.interp(values, x, np.repeat(mine[:, 2], 2)))
    return out


def rest_auc(
    scored: Mapping[str, Pieces], rest: Mapping[str, Pieces], classes: Sequence[str]
) -> float | None:
    """Macro one-vs-rest ROC AUC over ``classes``: per class, all rows by ``p_c`` -- its predicted rows
    (``scored``: ``p_c`` is their confidence) and the rest."""
    aucs = []
    for c in classes:
        parts = []
        if c in scored:
            values, weights, q = scored[c]
            parts.append((values, weights * q, weights * (1 - q)))
        if c in rest:
            values, weights, r = rest[c]
            parts.append((values, weights * r, weights * (1 - r)))
        auc = median_auc(parts) if parts else None
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs)) if aucs else None
