"""Beta calibration: the three-parameter map from a classifier's score to a probability that the estimator fits on
reference rows (few parameters, so it holds on the small references where an isotonic fit follows the noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BetaCalibration", "fit_beta_calibration", "score_bounds"]

#: Scores are clipped to ``[EPS, 1 - EPS]`` before their logarithms are taken (as the authors' implementation does):
#: a score of exactly 0 or 1 (a random forest's unanimous trees) stays finite and keeps its rank. Where the reference
#: shows the scores' resolution, the clip is tighter (see :func:`score_bounds`).
EPS = float(np.finfo(np.float64).eps)
#: Ridge penalty on the two slopes: it only matters when the reference separates the labels perfectly, where the
#: maximum-likelihood slopes are infinite; elsewhere it moves the fit by less than 1e-6.
_L2 = 1e-6


@dataclass(frozen=True)
class BetaCalibration:
    """``P(y = 1 | s) = 1 / (1 + exp(-(a ln s - b ln(1 - s) + c)))``, with ``a, b >= 0`` (non-decreasing in ``s``).

    The family holds the identity (``a = b = 1, c = 0``), logistic (Platt) scaling of the log-odds (``a = b``) and
    maps that are not symmetric about 0.5, which a tree ensemble's or a boosted model's scores often need.

    Attributes:
        a: Slope on ``ln s``.
        b: Slope on ``-ln(1 - s)``.
        c: Intercept.
        low, high: Scores are clipped to ``[low, high]`` (:func:`score_bounds` of the reference scores).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(0.01, 0.99, 100_000)
        >>> truth = (rng.random(s.size) < 1 / (1 + (1 / s - 1) ** 2)).astype(float)  # under-confident scores
        >>> fit = fit_beta_calibration(s, truth)
        >>> round(fit.a, 1), round(fit.b, 1), round(fit.c, 1)
        (2.0, 2.0, 0.0)

    References:
        Kull, M., Silva Filho, T. M., Flach, P. (2017). Beta calibration: a well-founded and easily implemented
        improvement on logistic calibration for binary classifiers. AISTATS, PMLR 54:623-631.
    """

    a: float
    b: float
    c: float
    low: float = EPS
    high: float = 1 - EPS

    def __call__(self, score: np.ndarray) -> np.ndarray:
        """Calibrated probability of each score."""
        s = np.clip(np.asarray(score, dtype=np.float64), self.low, self.high)
        return _expit(self.a * np.log(s) - self.b * np.log1p(-s) + self.c)


def fit_beta_calibration(score: np.ndarray, target: np.ndarray) -> BetaCalibration:
    """Maximum-likelihood beta calibration of ``score`` for a 0/1 ``target``.

    A logistic regression of the target on ``(ln s, -ln(1 - s))``; if a slope comes out negative (the map would
    not be monotone), it is refitted without that feature, and without either when the remaining one is negative
    too (then the map is the reference's share of positives), as Kull et al. do. Scores are clipped to
    :func:`score_bounds` of the reference scores.

    Raises:
        ValueError: no rows, or ``score`` and ``target`` of different lengths.
    """
    raw = np.asarray(score, dtype=np.float64).ravel()
    low, high = score_bounds(raw)
    s = np.clip(raw, low, high)
    y = np.asarray(target, dtype=np.float64).ravel()
    if s.size == 0 or s.size != y.size:
        raise ValueError(f"beta calibration needs as many targets as scores, got {y.size} and {s.size}")
    features = np.column_stack([np.log(s), -np.log1p(-s)])
    positives = float(y.mean())
    if positives in (0.0, 1.0):  # one label only: nothing to fit, every score maps to it
        return BetaCalibration(0.0, 0.0, _logit(positives), low, high)
    a, b, c = _logistic(features, y)
    if a < 0:
        (b,), c = _split(_logistic(features[:, 1:], y))
        a = 0.0
    elif b < 0:
        (a,), c = _split(_logistic(features[:, :1], y))
        b = 0.0
    if a < 0 or b < 0:
        return BetaCalibration(0.0, 0.0, _logit(positives), low, high)
    return BetaCalibration(float(a), float(b), float(c), low, high)


def score_bounds(score: np.ndarray) -> tuple[float, float]:
    """Where scores of exactly 0 and 1 are put: half-way (in distance from 0 or 1) beyond the most extreme
    score strictly inside ``(0, 1)``, or at ``EPS`` / ``1 - EPS`` when there is none.

    A score of exactly 1 says "beyond the model's last step", not "at the machine epsilon": a random forest of
    100 trees scores in steps of 0.01, so its unanimous rows are one step above 0.99, where ``-ln(1 - s)`` is
    about 5.3; clipped at ``1 - EPS`` they sit at 36, and a single wrong reference row among them gets the
    leverage to flatten the whole map at the top. Continuous scores (a boosted model's) reach far closer to 0
    and 1 and keep their information there.
    """
    s = np.asarray(score, dtype=np.float64)
    inner = s[np.isfinite(s) & (s > 0) & (s < 1)]
    if inner.size == 0:
        return EPS, 1 - EPS
    return max(float(inner.min()) / 2, EPS), min(1 - float(1 - inner.max()) / 2, 1 - EPS)


def _split(coefficients: np.ndarray) -> tuple[np.ndarray, float]:
    return coefficients[:-1], float(coefficients[-1])


def _logistic(features: np.ndarray, y: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Slopes and intercept of a logistic regression (Newton's method with step halving on the penalised
    log-likelihood, so every step improves it and separable data cannot make it overflow)."""
    design = np.column_stack([features, np.ones(y.size)])
    penalty = np.full(design.shape[1], _L2)
    penalty[-1] = 0.0  # the intercept is not shrunk

    def loss(beta: np.ndarray) -> float:
        z = design @ beta
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.dot(penalty, beta**2))

    beta = np.zeros(design.shape[1])
    current = loss(beta)
    for _ in range(iterations):
        p = _expit(design @ beta)
        gradient = design.T @ (p - y) + penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = beta - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break
        moved = float(np.max(np.abs(candidate - beta)))
        beta, current = candidate, value
        if moved < 1e-10:
            break
    return beta


def _expit(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def _logit(p: float) -> float:
    p = min(max(p, EPS), 1 - EPS)
    return float(np.log(p / (1 - p)))
