"""The regression half of :mod:`otel_mlmon.estimation`: an additive expected-error model on linear splines.

Like NannyML's DLE it learns, on reference rows, how large the error is given the prediction and the features;
unlike DLE (a gradient-boosted model of each row) it is additive over columns and linear in a few hinge functions
of each (``x`` and ``max(x - t, 0)`` at quantile knots ``t``), so its mean over a window of rows needs only each
column's mean hinges -- which the collector reads off the marginal histograms the SDK exports -- and it extends
linearly beyond the reference range instead of flattening there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "RegressionErrorModel",
    "basis_means",
    "bucket_basis_means",
    "bucket_term_variance",
    "fit_regression",
    "floats",
    "term_variance",
]

#: Quantile knots per column of the regression error model (at 10 %, 20 %, ... 90 %).
REGRESSION_KNOTS = 9
#: Numeric features the regression error model uses besides the prediction (the most informative ones).
REGRESSION_FEATURES = 8
#: Points per histogram bucket at which a column's term is evaluated for its variance over a window.
_BUCKET_POINTS = 16
#: Rows per reference chunk when measuring the spread of a metric.
SPREAD_CHUNK_ROWS = 500
#: Ridge penalty of the error model, in reference rows: each basis function (in units of its column's spread) is
#: pulled towards 0 as if this many rows said so. A fixed count rather than a share of the rows, so that a small
#: reference (150 rows, 90 basis functions) stays close to its mean error while a large one is barely penalised:
#: choosing the penalty on the reference itself (a held-out quarter, five-fold or generalised cross-validation,
#: the marginal likelihood) follows the noise of 150 rows, and a penalty that grows with the rows over-smooths
#: 5 000.
RIDGE_PENALTY = 15.0


def floats(values: np.ndarray) -> list[float]:
    """An array as a JSON-friendly list of floats."""
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


@dataclass
class RegressionErrorModel:
    """Expected absolute and squared error, additive over columns, linear in hinge functions of each.

    Attributes:
        columns: ``(section, name)`` of each column: ``("outputs", <output>)`` first, then features.
        knots: Per column, the hinge knots ``t`` (basis ``x, max(x - t_1, 0), ...``; a missing value is all 0).
        reference_means: Per column, the reference mean of each basis function.
        coef_abs: Per column, each basis function's coefficient for the absolute error.
        mean_abs / mean_sq: The reference means of the absolute and squared errors.
        spread: ``{"rmse", "mae"}`` → standard deviation over reference chunks times ``sqrt(chunk rows)``.
        term_variances: Per column, the variance over the reference rows of its term ``f(x) = Σ β·basis(x)`` of
            the expected absolute error; None in profiles written before it (the RMSE is then the MAE times the
            reference's RMSE / MAE ratio).
        variance_ratio: The variance of the whole model ``m = Σ f`` over the reference rows divided by the sum of
            ``term_variances``: how much the covariances between the columns' terms, which marginal histograms
            cannot see, add to (above 1) or take from (below 1) their sum. 1 in profiles written before it.
    """

    columns: list[tuple[str, str]]
    knots: list[np.ndarray]
    reference_means: list[np.ndarray]
    coef_abs: list[np.ndarray]
    mean_abs: float
    mean_sq: float
    spread: dict[str, float] = field(default_factory=dict)
    term_variances: list[float] | None = None
    variance_ratio: float = 1.0

    def estimate(
        self,
        means: Sequence[np.ndarray | None],
        n: int,
        variances: Sequence[float | None] | None = None,
    ) -> dict[str, Any]:
        """Expected MAE and RMSE of ``n`` rows given each column's mean basis (None: assume the reference's) and,
        optionally, the variance of each column's term over the rows (None: the reference's).

        The MAE is the additive model's. The errors are taken to keep the shape of their distribution while their
        scale ``m(x)`` (the expected absolute error of a row) follows the inputs, ``e = m(x) · ε``, so
        ``E e² = k · E[m²] = k · (MAE² + Var m)`` with ``k`` measured on the reference: a window whose rows'
        error scales differ more than the reference's has a larger RMSE for the same MAE. ``Var m`` is the sum of
        the columns' term variances times the reference's :attr:`variance_ratio` (the covariances between the
        columns' terms are invisible in marginal histograms; they are taken to keep their share of the variance,
        on the reference too). Without term variances (older profiles) ``Var m`` is taken to scale with
        ``MAE²``: the RMSE is the MAE times the reference's RMSE / MAE ratio. The squared error is not modelled
        additively: where two columns both widen the errors its cross term grows with their product, which
        marginal histograms cannot see. (Profiles written with such a model, a ``coef_sq`` field, still load; it
        is ignored.)
        """
        e_abs = self.mean_abs
        for i, mean in enumerate(means):
            if mean is None:
                continue
            delta = np.asarray(mean, dtype=np.float64) - self.reference_means[i]
            e_abs += float(np.dot(delta, self.coef_abs[i]))
        mae = max(e_abs, 0.0)
        if self.term_variances is not None and self.mean_sq > 0:
            given = list(variances or ())
            given += [None] * (len(self.term_variances) - len(given))
            reference = self.variance_ratio * sum(self.term_variances)
            window = self.variance_ratio * sum(
                r if v is None else float(v) for v, r in zip(given, self.term_variances)
            )
            shape = self.mean_sq / (self.mean_abs**2 + reference)
            rmse = math.sqrt(shape * (mae**2 + window))
        else:
            ratio = math.sqrt(self.mean_sq) / self.mean_abs if self.mean_abs > 0 else 1.0
            rmse = mae * ratio
        stderr = {m: s / math.sqrt(max(n, 1)) for m, s in self.spread.items()}
        return {"n": int(n), "mae": mae, "rmse": rmse, "stderr": stderr}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "regression",
            "columns": [list(c) for c in self.columns],
            "knots": [floats(k) for k in self.knots],
            "reference_means": [floats(m) for m in self.reference_means],
            "coef_abs": [floats(c) for c in self.coef_abs],
            "mean_abs": self.mean_abs,
            "mean_sq": self.mean_sq,
            "spread": self.spread,
            **({} if self.term_variances is None else {"term_variances": floats(self.term_variances)}),
            **({} if self.variance_ratio == 1.0 else {"variance_ratio": self.variance_ratio}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegressionErrorModel:
        columns = [(str(s), str(n)) for s, n in data["columns"]]
        arrays = {
            key: [np.asarray(v, dtype=np.float64) for v in data[key]]
            for key in ("knots", "reference_means", "coef_abs")
        }
        for key, values in arrays.items():
            if len(values) != len(columns):
                raise ValueError(f"estimation {key} must have one entry per column")
        for k, m, a in zip(*arrays.values()):
            if not (m.size == a.size == k.size + 1):
                raise ValueError("estimation knots, means and coefficients disagree in length")
        variances = data.get("term_variances")  # absent in profiles written before it
        if variances is not None and len(variances) != len(columns):
            raise ValueError("estimation term_variances must have one entry per column")
        ratio = float(data.get("variance_ratio", 1.0))  # absent in profiles written before it
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ValueError("estimation variance_ratio must be a finite number >= 0")
        return cls(
            columns,
            arrays["knots"],
            arrays["reference_means"],
            arrays["coef_abs"],
            float(data["mean_abs"]),
            float(data["mean_sq"]),
            {str(k): float(v) for k, v in (data.get("spread") or {}).items()},
            None if variances is None else [float(v) for v in variances],
            ratio,
        )


def fit_regression(
    output: str, prediction: np.ndarray, truth: np.ndarray, features: Mapping[str, np.ndarray]
) -> RegressionErrorModel:
    """Fit the additive error model on reference rows: the prediction and the numeric features whose quantile bins
    explain most of the squared error (up to :data:`REGRESSION_FEATURES`), ridge-regularised with a fixed
    :data:`RIDGE_PENALTY`."""
    prediction = np.asarray(prediction, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    keep = np.isfinite(prediction) & np.isfinite(truth)
    if keep.sum() < 10:
        raise ValueError("a regression error model needs at least 10 reference rows with a finite label")
    error = prediction[keep] - truth[keep]
    abs_err, sq_err = np.abs(error), error**2
    candidates = [(("outputs", output), prediction[keep])]
    ranked = []
    for name, values in features.items():
        values = np.asarray(values, dtype=np.float64)[keep]
        if np.isfinite(values).sum() < 10 or np.nanstd(values) == 0:
            continue
        ranked.append((_binned_r2(values, sq_err), name, values))
    ranked.sort(key=lambda item: -item[0])
    candidates += [(("features", name), values) for _, name, values in ranked[:REGRESSION_FEATURES]]
    columns, knots, parts, scales = [], [], [], []
    for key, values in candidates:
        k = _quantile_knots(values)
        columns.append(key)
        knots.append(k)
        parts.append(basis(values, k))
        scales.append(max(float(np.nanstd(values[np.isfinite(values)])), 1e-12))
    # Each column's basis in units of its spread, so that one penalty suits every column.
    design = np.hstack([part / scale for part, scale in zip(parts, scales)])
    centre = design.mean(axis=0)
    beta_abs = _solve(design - centre, abs_err - abs_err.mean(), RIDGE_PENALTY)
    splits = np.cumsum([part.shape[1] for part in parts])[:-1]
    model = RegressionErrorModel(
        columns,
        knots,
        [part.mean(axis=0) for part in parts],
        [b / scale for b, scale in zip(np.split(beta_abs, splits), scales)],
        float(abs_err.mean()),
        float(sq_err.mean()),
    )
    model.spread = _regression_spread(abs_err, sq_err)
    terms = [part @ coef for part, coef in zip(parts, model.coef_abs)]
    model.term_variances = [float(np.var(term)) for term in terms]
    total = sum(model.term_variances)
    if total > 0:
        model.variance_ratio = float(np.var(np.sum(terms, axis=0))) / total
    return model


def basis(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Rows × ``1 + len(knots)``: ``x`` and ``max(x - t, 0)`` per knot; a missing value is a row of zeros."""
    values = np.asarray(values, dtype=np.float64)
    x = np.where(np.isfinite(values), values, 0.0)[:, None]
    out = np.hstack([x, np.maximum(x - np.asarray(knots)[None, :], 0.0)])
    out[~np.isfinite(values)] = 0.0
    return out


def basis_means(values: np.ndarray, knots: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Mean basis over ``rows`` rows (default: the values), missing values counting as zeros."""
    values = np.asarray(values, dtype=np.float64)
    return basis(values, knots).sum(axis=0) / max(values.size if rows is None else rows, 1)


def bucket_basis_means(
    lower: np.ndarray, upper: np.ndarray, counts: np.ndarray, total: float, knots: np.ndarray, rows: int
) -> np.ndarray:
    """Mean basis over ``rows`` rows from histogram buckets, values spread evenly within a bucket; ``x`` itself
    from the histogram's exact ``total`` (its sum)."""
    lo = np.asarray(lower, dtype=np.float64)[:, None]
    hi = np.asarray(upper, dtype=np.float64)[:, None]
    t = np.asarray(knots, dtype=np.float64)[None, :]
    width = hi - lo
    above = np.maximum(hi - t, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        partial = np.where(width > 0, above**2 / (2 * np.where(width > 0, width, 1.0)), above)
    # A bucket wholly above the knot: mean x - t; straddling: the integral of (x - t) above t over the width.
    hinge = np.where(lo >= t, (lo + hi) / 2 - t, partial)
    sums = np.asarray(counts, dtype=np.float64) @ hinge
    return np.concatenate(([float(total)], sums)) / max(rows, 1)


def term_variance(values: np.ndarray, knots: np.ndarray, coef: np.ndarray, rows: int | None = None) -> float:
    """Variance over ``rows`` rows (default: the values; the others missing, their term 0) of a column's term
    ``Σ coef · basis(x)``."""
    values = np.asarray(values, dtype=np.float64)
    term = basis(values, knots) @ np.asarray(coef, dtype=np.float64)
    rows = max(values.size if rows is None else rows, 1)
    mean = float(term.sum()) / rows
    return max(float(np.sum(term**2)) / rows - mean**2, 0.0)


def bucket_term_variance(
    lower: np.ndarray, upper: np.ndarray, counts: np.ndarray, knots: np.ndarray, coef: np.ndarray, rows: int
) -> float:
    """:func:`term_variance` from histogram buckets, the values spread evenly within each (the term is evaluated
    at :data:`_BUCKET_POINTS` evenly spaced points per bucket)."""
    lo = np.asarray(lower, dtype=np.float64)[:, None]
    hi = np.asarray(upper, dtype=np.float64)[:, None]
    where = (np.arange(_BUCKET_POINTS) + 0.5) / _BUCKET_POINTS
    points = lo + (hi - lo) * where[None, :]
    term = (basis(points.ravel(), knots) @ np.asarray(coef, dtype=np.float64)).reshape(points.shape)
    weight = np.asarray(counts, dtype=np.float64)[:, None] / _BUCKET_POINTS
    rows = max(rows, 1)
    mean = float(np.sum(weight * term)) / rows
    return max(float(np.sum(weight * term**2)) / rows - mean**2, 0.0)


def _quantile_knots(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    return np.unique(np.quantile(finite, np.linspace(0, 1, REGRESSION_KNOTS + 2)[1:-1]))


def _binned_r2(values: np.ndarray, target: np.ndarray) -> float:
    """Share of the variance of ``target`` explained by the decile bins of ``values``."""
    finite = np.isfinite(values)
    index = np.searchsorted(_quantile_knots(values), np.where(finite, values, 0.0))
    index = np.where(finite, index, REGRESSION_KNOTS + 1)
    counts = np.bincount(index, minlength=REGRESSION_KNOTS + 2).astype(np.float64)
    sums = np.bincount(index, weights=target, minlength=REGRESSION_KNOTS + 2)
    means = np.divide(sums, counts, out=np.zeros_like(counts), where=counts > 0)
    explained = float(np.sum(counts * (means - target.mean()) ** 2))
    total = float(np.sum((target - target.mean()) ** 2))
    return explained / total if total > 0 else 0.0


def _solve(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    gram = x.T @ x + penalty * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


def _regression_spread(abs_err: np.ndarray, sq_err: np.ndarray) -> dict[str, float]:
    chunk = min(SPREAD_CHUNK_ROWS, abs_err.size // 4)
    if chunk < 20:
        return {}
    order = np.random.default_rng(0).permutation(abs_err.size)
    maes, rmses = [], []
    for start in range(0, order.size - chunk + 1, chunk):
        rows = order[start : start + chunk]
        maes.append(float(abs_err[rows].mean()))
        rmses.append(math.sqrt(float(sq_err[rows].mean())))
    return {
        "mae": float(np.std(maes, ddof=1) * math.sqrt(chunk)),
        "rmse": float(np.std(rmses, ddof=1) * math.sqrt(chunk)),
    }
