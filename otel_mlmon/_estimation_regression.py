"""The regression half of :mod:`otel_mlmon.estimation`: an additive expected-error model on quantile bins.

Like NannyML's DLE it learns, on reference rows, how large the error is given the prediction and the features;
unlike DLE (a gradient-boosted model of each row) it is additive in per-column bins, so its mean over a window of
rows needs only each column's bin shares -- which the collector reads off the marginal histograms the SDK exports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RegressionErrorModel", "bin_shares", "fit_regression", "floats"]

#: Quantile bins per column of the regression error model.
REGRESSION_BINS = 10
#: Numeric features the regression error model uses besides the prediction (the most informative ones).
REGRESSION_FEATURES = 8
#: Rows per reference chunk when measuring the spread of a metric.
SPREAD_CHUNK_ROWS = 500
_RIDGE = (0.1, 1.0, 10.0, 100.0)


def floats(values: np.ndarray) -> list[float]:
    """An array as a JSON-friendly list of floats."""
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


@dataclass
class RegressionErrorModel:
    """Expected absolute and squared error as an additive function of quantile bins of some columns.

    Attributes:
        columns: ``(section, name)`` of each binned column: ``("outputs", <output>)`` first, then features.
        edges: Per column, the interior bin edges (a value ``v`` is in bin ``#edges < v``).
        reference_shares: Per column, the reference share of rows in each bin (missing values in none).
        coef_abs / coef_sq: Per column, each bin's contribution to the expected absolute / squared error.
        mean_abs / mean_sq: The reference means of the absolute and squared errors.
        spread: ``{"rmse", "mae"}`` → standard deviation over reference chunks times ``sqrt(chunk rows)``.
    """

    columns: list[tuple[str, str]]
    edges: list[np.ndarray]
    reference_shares: list[np.ndarray]
    coef_abs: list[np.ndarray]
    coef_sq: list[np.ndarray]
    mean_abs: float
    mean_sq: float
    spread: dict[str, float] = field(default_factory=dict)

    def estimate(self, shares: Sequence[np.ndarray | None], n: int) -> dict[str, Any]:
        """Expected MAE and RMSE of ``n`` rows given each column's bin shares (None: assume the reference's)."""
        e_abs, e_sq = self.mean_abs, self.mean_sq
        for i, share in enumerate(shares):
            if share is None:
                continue
            delta = np.asarray(share, dtype=np.float64) - self.reference_shares[i]
            e_abs += float(np.dot(delta, self.coef_abs[i]))
            e_sq += float(np.dot(delta, self.coef_sq[i]))
        mae = max(e_abs, 0.0)
        rmse = math.sqrt(max(e_sq, 0.0))
        stderr = {m: s / math.sqrt(max(n, 1)) for m, s in self.spread.items()}
        return {"n": int(n), "mae": mae, "rmse": rmse, "stderr": stderr}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "regression",
            "columns": [list(c) for c in self.columns],
            "edges": [floats(e) for e in self.edges],
            "reference_shares": [floats(s) for s in self.reference_shares],
            "coef_abs": [floats(c) for c in self.coef_abs],
            "coef_sq": [floats(c) for c in self.coef_sq],
            "mean_abs": self.mean_abs,
            "mean_sq": self.mean_sq,
            "spread": self.spread,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegressionErrorModel:
        columns = [(str(s), str(n)) for s, n in data["columns"]]
        arrays = {
            key: [np.asarray(v, dtype=np.float64) for v in data[key]]
            for key in ("edges", "reference_shares", "coef_abs", "coef_sq")
        }
        for key, values in arrays.items():
            if len(values) != len(columns):
                raise ValueError(f"estimation {key} must have one entry per column")
        for e, s, a, q in zip(*arrays.values()):
            if not (s.size == a.size == q.size == e.size + 1):
                raise ValueError("estimation bins, shares and coefficients disagree in length")
        return cls(
            columns,
            arrays["edges"],
            arrays["reference_shares"],
            arrays["coef_abs"],
            arrays["coef_sq"],
            float(data["mean_abs"]),
            float(data["mean_sq"]),
            {str(k): float(v) for k, v in (data.get("spread") or {}).items()},
        )


def fit_regression(
    output: str, prediction: np.ndarray, truth: np.ndarray, features: Mapping[str, np.ndarray]
) -> RegressionErrorModel:
    """Fit the additive error model on reference rows: the prediction and the numeric features whose bins explain
    most of the squared error (up to :data:`REGRESSION_FEATURES`), ridge-regularised with the penalty that predicts
    a held-out quarter best."""
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
        if np.isfinite(values).sum() < 10:
            continue
        ranked.append((_binned_r2(values, sq_err), name, values))
    ranked.sort(key=lambda item: -item[0])
    candidates += [(("features", name), values) for _, name, values in ranked[:REGRESSION_FEATURES]]
    columns, edges, onehots = [], [], []
    for key, values in candidates:
        e = _quantile_edges(values)
        columns.append(key)
        edges.append(e)
        onehots.append(_onehot(values, e))
    design = np.hstack(onehots)
    shares = design.mean(axis=0)
    centred = design - shares
    beta_abs = _ridge(centred, abs_err - abs_err.mean())
    beta_sq = _ridge(centred, sq_err - sq_err.mean())
    splits = np.cumsum([o.shape[1] for o in onehots])[:-1]
    model = RegressionErrorModel(
        columns,
        edges,
        list(np.split(shares, splits)),
        list(np.split(beta_abs, splits)),
        list(np.split(beta_sq, splits)),
        float(abs_err.mean()),
        float(sq_err.mean()),
    )
    model.spread = _regression_spread(abs_err, sq_err)
    return model


def bin_shares(values: np.ndarray, edges: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Share of ``rows`` (default: the values) falling in each bin; missing values fall in none."""
    values = np.asarray(values, dtype=np.float64)
    total = values.size if rows is None else rows
    return _onehot(values, edges).sum(axis=0) / max(total, 1)


def _quantile_edges(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    qs = np.quantile(finite, np.linspace(0, 1, REGRESSION_BINS + 1)[1:-1])
    return np.unique(qs)


def _onehot(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    index = np.searchsorted(edges, np.where(finite, values, 0.0), side="left")
    out = np.zeros((values.size, edges.size + 1))
    out[np.arange(values.size)[finite], index[finite]] = 1.0
    return out


def _binned_r2(values: np.ndarray, target: np.ndarray) -> float:
    onehot = _onehot(values, _quantile_edges(values))
    counts = onehot.sum(axis=0)
    means = np.divide(onehot.T @ target, counts, out=np.zeros_like(counts), where=counts > 0)
    explained = float(np.sum(counts * (means - target.mean()) ** 2))
    total = float(np.sum((target - target.mean()) ** 2))
    return explained / total if total > 0 else 0.0


def _ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge coefficients with the penalty (relative to the rows per bin) that fits a held-out quarter best."""
    rng = np.random.default_rng(0)
    held = rng.random(x.shape[0]) < 0.25
    scale = x.shape[0] / max(x.shape[1], 1)
    best, best_err = _RIDGE[0], math.inf
    if held.sum() >= 5 and (~held).sum() >= 5:
        for alpha in _RIDGE:
            beta = _solve(x[~held], y[~held], alpha * scale * 0.01)
            err = float(np.mean((x[held] @ beta - y[held]) ** 2))
            if err < best_err:
                best, best_err = alpha, err
    return _solve(x, y, best * scale * 0.01)


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
