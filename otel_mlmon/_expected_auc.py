"""ROC AUC expected from calibrated probabilities: the mean (and the median) of the AUC the window's labels would
give, not the ratio of expected concordant pairs to expected positive-negative pairs.

Given rows ordered by the model's score, each positive with its calibrated probability ``q``, CBPE (and our
estimator before this module) reports ``E[C] / (E[P] E[N])``: expected concordant pairs over expected positives
times negatives. The realized metric is ``C / (P N)`` of the labels that do arrive, whose expectation is lower
in ``P N``: a window with few rows of one class (a chunk of 57 rows of which 2-8 malignant) has ``E[P N]`` below
``E[P] E[N]`` by ``Var(P)``, and its AUC is defined only when both classes occur. :func:`expected_auc` is the mean AUC
over label draws (each row positive with probability ``q``, independently, draws without both classes left out),
by Monte Carlo with a fixed seed, with the AUC linearised at the expected counts as a control variate (its mean
is known, so the draws estimate only the AUC's difference from it, which varies far less than the AUC). Where both
classes are expected many times over (``min(E[P], E[N]) >= LARGE``) the difference is far below that and the ratio is
returned as is.

The estimator reports the **median** of the same draws (:func:`median_auc`): on a window with few rows of one
class the AUC's distribution is skewed (most draws near 1, a long tail below), and the median is the value the
realized AUC is closest to on average (it minimises the expected absolute difference), where the mean is pulled
down by the tail. On windows with many rows of each class the distribution is symmetric and both are the ratio.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BUDGET", "DRAWS", "LARGE", "MIN_DRAWS", "expected_auc", "median_auc", "ratio_auc"]

#: Label draws of the Monte Carlo mean (fixed seed, so an estimate is reproducible) ...
DRAWS = 1000
#: ... fewer on windows of many pieces, so that draws × pieces stays under this (the estimate runs per window and
#: per class; the correction those windows need is small and the control variate keeps its noise smaller still) ...
BUDGET = 50_000
#: ... but never fewer than this.
MIN_DRAWS = 100
#: Expected positives and negatives above which the ratio of expectations is returned (its bias is O(1 / E[P])).
LARGE = 500.0
#: Draws per batch (memory: batch × pieces floats).
_BATCH = 50


def ratio_auc(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float | None:
    """AUC of weighted (score, expected positives, expected negatives); equal scores count half: ``E[C] / (E[P]
    E[N])``."""
    return _ratio(*_concat(parts))


def _ratio(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float | None:
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    _, inverse = np.unique(score, return_inverse=True)
    pos_u = np.bincount(inverse, weights=pos)
    neg_u = np.bincount(inverse, weights=neg)
    neg_below = np.cumsum(neg_u) - neg_u
    return float(np.sum(pos_u * (neg_below + 0.5 * neg_u)) / (total_pos * total_neg))


def expected_auc(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], draws: int = DRAWS) -> float | None:
    """Expected ROC AUC of rows given as (score, expected positives, expected negatives) pieces: a piece of ``w``
    rows with ``w q`` expected positives is ``w`` rows each positive with probability ``q`` (fractional ``w``, from
    histogram buckets spread over calibration blocks, is rounded at random to a neighbouring whole number).
    None when no positives or no negatives are expected."""
    result = _mean_and_draws(parts, draws)
    return None if result is None else result[0]


def median_auc(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], draws: int = DRAWS) -> float | None:
    """Median ROC AUC over the same label draws as :func:`expected_auc` (the draws without both classes left
    out): the estimate closest on average, in absolute difference, to the AUC the window's labels will give.

    Computed as :func:`expected_auc` plus the draws' median minus their mean: the control-variate mean is far
    more precise than the draws' median on its own, and the median's offset from the mean (the skew) varies far
    less between sets of draws than either. The ratio of expectations where both classes are expected at least
    :data:`LARGE` times (the distribution is then symmetric about it). None when no positives or no negatives
    are expected."""
    result = _mean_and_draws(parts, draws)
    if result is None:
        return None
    mean, aucs = result
    if aucs.size == 0:
        return mean
    return float(np.clip(mean + np.median(aucs) - aucs.mean(), 0.0, 1.0))


def _mean_and_draws(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], draws: int
) -> tuple[float, np.ndarray] | None:
    """The expected AUC and the AUC of each label draw with both classes (none on large windows)."""
    score, pos, neg = _concat(parts)
    ratio = _ratio(score, pos, neg)
    if ratio is None:
        return None
    mean_pos, mean_neg = float(pos.sum()), float(neg.sum())
    if min(mean_pos, mean_neg) >= LARGE:
        return ratio, np.empty(0)
    sample = _Draws(score, pos, neg, draws)
    rows, q, fraction = sample.rows, sample.q, sample.fraction
    # P(both classes occur): the draws without them are left out, as the realized AUC is undefined there.
    with np.errstate(divide="ignore"):
        log_none = float(np.sum(rows * np.log1p(-q)))  # every row negative
        log_all = float(np.sum(rows * np.log(q)))  # every row positive
    valid = max(1.0 - np.exp(log_none) - np.exp(log_all), 1e-12)
    scale = 1.0 / (mean_pos * mean_neg)
    # E[C] of the draws: the ratio's numerator counts the pairs of a row with itself (half, as a tie); a piece's
    # positives and negatives covary by q (1 - q) (Var(rows) - w), Var(rows) = r (1 - r) of the random rounding.
    concordant_mean = ratio * mean_pos * mean_neg + 0.5 * float(
        np.sum(q * (1 - q) * (fraction * (1 - fraction) - rows))
    )
    concordant, total_p, total_n = sample.concordant, sample.positives, sample.negatives
    if concordant.size == 0:
        return ratio, np.empty(0)
    aucs = concordant / (total_p * total_n)
    difference = aucs - _linear(concordant, total_p, total_n, scale, ratio, mean_pos, mean_neg)
    # The control variate's mean over the draws with both classes (C = 0 and one of P, N = 0 in the others, whose
    # probabilities are known): E[L | both] = E[L; both] / P(both).
    everything = float(rows.sum())
    pos_valid = mean_pos - everything * np.exp(log_all)
    neg_valid = mean_neg - everything * np.exp(log_none)
    linear_mean = _linear(concordant_mean, pos_valid, neg_valid, scale, ratio, mean_pos, mean_neg, valid)
    return float(np.clip(linear_mean / valid + difference.mean(), 0.0, 1.0)), aucs


class _Draws:
    """Label draws of pieces (score, expected positives, expected negatives), fixed seed: each piece's rows
    (rounded at random to a whole number) positive with probability ``q``; per draw with both classes, the
    concordant pairs (ties half) and the counts of positives and negatives."""

    def __init__(self, score: np.ndarray, pos: np.ndarray, neg: np.ndarray, draws: int) -> None:
        rows = pos + neg
        keep = rows > 0
        score, rows, q = score[keep], rows[keep], np.clip(pos[keep] / rows[keep], 0.0, 1.0)
        order = np.argsort(score, kind="mergesort")
        self.rows, self.q = rows[order], q[order]
        score = score[order]
        starts = np.flatnonzero(np.concatenate([[True], score[1:] != score[:-1]]))  # ties: one group
        draws = min(draws, max(MIN_DRAWS, BUDGET // max(self.rows.size, 1)))
        rng = np.random.default_rng(0)
        whole = np.floor(self.rows)
        self.fraction = self.rows - whole
        concordant, positives, negatives = [], [], []
        for start in range(0, draws, _BATCH):
            size = min(_BATCH, draws - start)
            n = whole + (rng.random((size, self.rows.size)) < self.fraction)
            p = rng.binomial(n.astype(np.int64), self.q).astype(np.float64)
            p_g = np.add.reduceat(p, starts, axis=1)
            n_g = np.add.reduceat(n - p, starts, axis=1)
            below = np.cumsum(n_g, axis=1) - n_g
            c = np.sum(p_g * (below + 0.5 * n_g), axis=1)
            total_p, total_n = p_g.sum(axis=1), n_g.sum(axis=1)
            ok = (total_p > 0) & (total_n > 0)
            concordant.append(c[ok])
            positives.append(total_p[ok])
            negatives.append(total_n[ok])
        self.concordant = np.concatenate(concordant)
        self.positives = np.concatenate(positives)
        self.negatives = np.concatenate(negatives)


def _linear(
    concordant: np.ndarray | float,
    positives: np.ndarray | float,
    negatives: np.ndarray | float,
    scale: float,
    ratio: float,
    mean_pos: float,
    mean_neg: float,
    weight: float = 1.0,
) -> np.ndarray | float:
    """The control variate: ``C / (P N)`` linearised at the expected counts,
    ``C s - ratio (P / E[P] + N / E[N] - 2)`` with ``s = 1 / (E[P] E[N])`` (``weight``: the probability the
    counts' means were taken over, for its constant term)."""
    return concordant * scale - ratio * (positives / mean_pos + negatives / mean_neg - 2 * weight)


def _concat(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([np.asarray(p[0], dtype=np.float64) for p in parts]),
        np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts]),
        np.concatenate([np.asarray(p[2], dtype=np.float64) for p in parts]),
    )
