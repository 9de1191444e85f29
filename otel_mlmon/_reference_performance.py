"""Reference performance for a profile: the model's metrics on labelled reference data and their spread over chunks.

The collector compares each window's realized performance with these numbers, with thresholds from the spread
(``mean ± k σ`` over reference chunks, scaled to the window's row count), so a change is judged against the
variation the model showed on its own reference data — in both directions. The metrics and their definitions are
the collector's (``otel_mlmon_collector._ground_truth._metrics``: macro means over the sorted union of true and
predicted labels, ROC AUC of the later class for two classes and one-vs-rest macro for more, MAPE over non-zero
targets), computed here with numpy alone (the SDK does not import the collector or scipy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters import is_probability, read_outputs

__all__ = ["DEFAULT_CHUNKS", "MIN_CHUNK_ROWS", "reference_performance", "scores"]

#: Reference data is cut into this many chunks (NannyML's default chunker also makes 10) ...
DEFAULT_CHUNKS = 10
#: ... of at least this many rows each (fewer rows: fewer chunks; under two chunks, no spread).
MIN_CHUNK_ROWS = 100
_EPS = float(np.finfo(np.float64).eps)


def reference_performance(
    predictions: Any,
    labels: Any,
    *,
    classes: Sequence[Any] | None = None,
    decision: Any = None,
    chunk_rows: int | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The model's headline metrics on labelled reference rows, and their spread over chunks of ``chunk_rows``.

    Args:
        predictions: The model's outputs on the reference rows: class labels, regression values or one
            probability matrix (then ``classes`` names its columns, and ``decision`` the deployed rule).
        labels: The true label or value of each row.
        chunk_rows: Rows per chunk for the spread (default: ``n / 10``, at least 100).

    Returns:
        ``(performance, spread)``: ``{"accuracy": 0.93, ...}`` over all rows, and per metric ``{"mean", "std",
        "chunks", "chunk_rows"}`` over consecutive chunks (empty when fewer than two chunks fit).

    Raises:
        ValueError: predictions and labels of different lengths, or a single prediction output missing.
    """
    from otel_mlmon.decisions import Columns, apply_decision

    read = read_outputs(predictions, classes=None if isinstance(decision, Columns) else classes)
    if decision is not None:
        read = apply_decision(read, predictions, classes, decision)
    if len(read.table.columns) != 1:
        raise ValueError(f"reference performance needs one prediction output, got {len(read.table.columns)}")
    column = read.table.columns[0]
    if column.kind == "vector":
        raise ValueError(
            "reference performance needs labels or values as predictions, not an embedding output"
        )
    truth = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    n = len(truth)
    if n != read.table.n_rows:
        raise ValueError(f"{n} labels for {read.table.n_rows} predictions")
    probabilities = class_names = None
    if type(predictions) is np.ndarray and predictions.ndim == 2 and is_probability(predictions):
        probabilities = np.asarray(predictions, dtype=np.float64)
        class_names = [
            _as_class(c) for c in (classes if classes is not None else range(probabilities.shape[1]))
        ]
    elif isinstance(decision, Columns) and (named := decision.scores_of(predictions, classes)) is not None:
        probabilities, class_names = named[0], [_as_class(c) for c in named[1]]
    # Rows without a label or a prediction do not count (as in the collector, where they never join).
    keep = np.array([_present(t) and _present(v) for t, v in zip(truth, column.values)], dtype=bool)
    truth = [t for t, k in zip(truth, keep) if k]
    if probabilities is not None:
        probabilities = probabilities[keep]
    n = len(truth)
    if n == 0:
        raise ValueError("no row has both a label and a prediction")
    if column.kind == "numeric":
        y_pred: Any = np.asarray(column.values[keep], dtype=np.float64)
        y_true: Any = np.asarray([float(t) for t in truth], dtype=np.float64)
    else:
        y_pred = np.asarray([str(v) for v in column.values[keep]], dtype=object)
        y_true = np.asarray([_as_class(t) for t in truth], dtype=object)
    performance = scores(y_true, y_pred, probabilities, class_names)
    size = chunk_rows or max(MIN_CHUNK_ROWS, n // DEFAULT_CHUNKS)
    chunks = n // size
    spread: dict[str, dict[str, float]] = {}
    if chunks >= 2:
        per_chunk: dict[str, list[float]] = {}
        for i in range(chunks):
            part = slice(i * size, (i + 1) * size)
            p = probabilities[part] if probabilities is not None else None
            for metric, value in scores(y_true[part], y_pred[part], p, class_names).items():
                per_chunk.setdefault(metric, []).append(value)
        for metric, values in per_chunk.items():
            if len(values) >= 2:
                spread[metric] = {
                    "mean": float(np.mean(values)),
                    "std": float(np.std(values, ddof=1)),
                    "chunks": float(len(values)),
                    "chunk_rows": float(size),
                }
    return performance, spread


def scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, float]:
    """Headline metrics of one set of rows, named and defined as the collector's ``WindowPerformance.summary()``."""
    if y_pred.dtype.kind == "f":
        error = y_pred - y_true
        out = {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
            "mean_error": float(np.mean(error)),
        }
        nonzero = y_true != 0
        if nonzero.any():
            out["mape"] = float(np.mean(np.abs(error[nonzero]) / np.abs(y_true[nonzero])))
        return out
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels], dtype=np.float64)
    predicted = np.array([np.sum(y_pred == c) for c in labels], dtype=np.float64)
    actual = np.array([np.sum(y_true == c) for c in labels], dtype=np.float64)
    out = {
        "accuracy": float(tp.sum() / y_true.size),
        "precision_macro": float(_ratio(tp, predicted).mean()),
        "recall_macro": float(_ratio(tp, actual).mean()),
        "f1_macro": float(_ratio(2 * tp, predicted + actual).mean()),
    }
    if probabilities is not None and classes is not None and set(y_true.tolist()) <= set(classes):
        order = sorted(range(len(classes)), key=lambda i: classes[i])  # the collector sorts classes
        matrix = probabilities[:, order]
        names = [classes[i] for i in order]
        truth = np.array([names.index(t) for t in y_true])
        totals = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, totals, out=np.full_like(matrix, 1.0 / len(names)), where=totals > 0)
        p_true = np.clip(normalised[np.arange(truth.size), truth], _EPS, 1 - _EPS)
        out["log_loss"] = float(-np.mean(np.log(p_true)))
        if len(names) == 2:
            auc = _binary_auc(truth == 1, matrix[:, 1])
        else:
            defined = [
                a for k in range(len(names)) if (a := _binary_auc(truth == k, matrix[:, k])) is not None
            ]
            auc = float(np.mean(defined)) if defined else None
        if auc is not None:
            out["roc_auc"] = auc
    return out


def spread_of(spread: Mapping[str, Any], metric: str) -> tuple[float, float, float] | None:
    """``(mean, std, chunk_rows)`` of a metric from a profile's spread, or None when it is missing or invalid."""
    entry = spread.get(metric)
    if not isinstance(entry, Mapping):
        return None
    try:
        mean, std, rows = float(entry["mean"]), float(entry["std"]), float(entry["chunk_rows"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0 and rows > 0):
        return None
    return mean, std, rows


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, (float, np.floating)) and math.isnan(value))


def _as_class(value: Any) -> str:
    """A label as the collector compares it: text, integral numbers without a fraction (``1.0`` → ``"1"``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Mann–Whitney AUC with mid-ranks for ties; None without both positives and negatives."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranked = score[order]
    ranks = np.empty(score.size, dtype=np.float64)
    _, first, counts = np.unique(ranked, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0  # 1-based mid-rank of each tie group
    ranks[order] = np.repeat(mid, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
