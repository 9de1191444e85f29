"""Summaries of feature and prediction columns: one mergeable sketch per column, plus missing counts.

A :class:`Summary` is what both halves of otel-mlmon share: the SDK builds one per export interval from sampled
predict calls and exports it as OTLP metrics; a reference :class:`~otel_mlmon.profile.Profile` is a Summary of the
training data saved to a file; the collector rebuilds Summaries from the OTLP points and compares the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from otel_mlmon.adapters import Column, Outputs, Table
from otel_mlmon.conventions import OTHER_CATEGORY
from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram

__all__ = ["ColumnSummary", "Summary", "SummaryConfig"]


class SummaryConfig:
    """Sizes of the sketches a summary builds (the same for the SDK and reference profiles).

    Args:
        max_size: Buckets per sign of each numeric exponential histogram (OTel default 160).
        max_categories: Categories kept per categorical column (top-K); the rest is counted as ``other``.
        max_columns: Columns summarised per input; further columns are ignored (bounds series cardinality).
        max_length: Categorical values are truncated to this many characters.
        hash_salt: When set, categorical values are replaced by a salted hash before counting (privacy).
        max_buffer_bytes: SDK only: bytes of sampled calls buffered for the background folder per model (an
            estimate; default 64 MiB); calls beyond it are left out and counted (``summaries_overflow``).
    """

    def __init__(
        self,
        max_size: int = 160,
        max_categories: int = 32,
        max_columns: int = 256,
        max_length: int = 128,
        hash_salt: str | None = None,
        max_buffer_bytes: int = 64 * 2**20,
    ) -> None:
        for name, value, low in (
            ("max_buffer_bytes", max_buffer_bytes, 1),
            ("max_size", max_size, 2),
            ("max_categories", max_categories, 1),
            ("max_columns", max_columns, 1),
            ("max_length", max_length, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.max_size = max_size
        self.max_categories = max_categories
        self.max_columns = max_columns
        self.max_length = max_length
        self.hash_salt = hash_salt
        self.max_buffer_bytes = max_buffer_bytes

    def new_column(self, kind: str) -> ColumnSummary:
        """An empty summary for a column of ``kind`` (``numeric`` or ``categorical``)."""
        if kind == "numeric":
            return ColumnSummary(kind, numeric=ExponentialHistogram(max_size=self.max_size))
        return ColumnSummary(
            kind,
            categorical=CategoricalSketch(
                max_categories=self.max_categories, max_length=self.max_length, hash_salt=self.hash_salt
            ),
        )


class ColumnSummary:
    """One column's sketch (numeric or categorical), missing count and, for numeric columns, ±inf count."""

    __slots__ = ("categorical", "infinite", "kind", "missing", "numeric")

    def __init__(
        self,
        kind: str,
        numeric: ExponentialHistogram | None = None,
        categorical: CategoricalSketch | None = None,
        missing: int = 0,
        infinite: int = 0,
    ) -> None:
        self.kind = kind
        self.numeric = numeric
        self.categorical = categorical
        self.missing = missing
        self.infinite = infinite

    @property
    def count(self) -> int:
        """Values summarised by the sketch (missing and infinite values excluded)."""
        sketch = self.numeric if self.numeric is not None else self.categorical
        return int(sketch.count) if sketch is not None else 0

    def update(self, values: np.ndarray) -> None:
        """Add a column's values (float64 with NaN for missing, or object with None for missing)."""
        if self.numeric is not None:
            nan = np.isnan(values)
            inf = np.isinf(values)
            self.missing += int(nan.sum())
            self.infinite += int(inf.sum())
            self.numeric.update(values)  # ignores non-finite values
        else:
            missing = values == None  # noqa: E711 - elementwise comparison on an object array
            n_missing = int(np.count_nonzero(missing))
            self.missing += n_missing
            self.categorical.update(values[~missing] if n_missing else values)

    def merge(self, other: ColumnSummary) -> None:
        """Add ``other`` (same kind) into this summary."""
        if other.kind != self.kind:
            raise ValueError(f"cannot merge a {other.kind} column summary into a {self.kind} one")
        if self.numeric is not None:
            self.numeric.merge(other.numeric)
        else:
            self.categorical.merge(other.categorical)
        self.missing += other.missing
        self.infinite += other.infinite

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "missing": self.missing, "infinite": self.infinite}
        if self.numeric is not None:
            out["sketch"] = self.numeric.to_dict()
        else:
            out["sketch"] = self.categorical.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSummary:
        kind = data.get("kind")
        if kind == "numeric":
            return cls(kind, numeric=ExponentialHistogram.from_dict(data["sketch"]), **_counts(data))
        if kind == "categorical":
            return cls(kind, categorical=CategoricalSketch.from_dict(data["sketch"]), **_counts(data))
        raise ValueError(f"column summary kind must be 'numeric' or 'categorical', got {kind!r}")


def _counts(data: Mapping[str, Any]) -> dict[str, int]:
    return {"missing": int(data.get("missing", 0)), "infinite": int(data.get("infinite", 0))}


class Summary:
    """Per-column summaries of features, outputs and prediction confidence, and the rows they cover.

    Example:
        >>> import numpy as np
        >>> from otel_mlmon.adapters import read_features
        >>> summary = Summary()
        >>> summary.add_features(read_features(np.array([[1.0, np.nan], [2.0, 3.0]]), names=["a", "b"]))
        >>> summary.rows, summary.features["b"].missing, summary.features["a"].count
        (2, 1, 2)
    """

    def __init__(self, config: SummaryConfig | None = None) -> None:
        self.config = config or SummaryConfig()
        self.rows = 0
        self.features: dict[str, ColumnSummary] = {}
        self.outputs: dict[str, ColumnSummary] = {}
        #: (output name, predicted class) -> histogram of the max probability of the rows predicted as that class.
        #: Per class, so the collector can estimate precision and recall before labels arrive (sum = expected
        #: true positives when probabilities are calibrated). Classes beyond ``max_categories`` share ``__other__``.
        self.confidence: dict[tuple[str, str], ColumnSummary] = {}

    def is_empty(self) -> bool:
        return self.rows == 0 and not self.outputs

    def _add(self, target: dict[str, ColumnSummary], column: Column) -> None:
        summary = target.get(column.name)
        if summary is None:
            if len(target) >= self.config.max_columns:
                return
            summary = target[column.name] = self.config.new_column(column.kind)
        elif summary.kind != column.kind:
            # A column whose inferred type changes between calls keeps its first kind: values that do not fit
            # are counted as missing rather than mixing two kinds of sketch under one name.
            summary.missing += len(column.values)
            return
        summary.update(column.values)

    def add_features(self, table: Table) -> None:
        """Add the rows of a feature table."""
        self.rows += table.n_rows
        for column in table.columns:
            self._add(self.features, column)

    def add_outputs(self, outputs: Outputs) -> None:
        """Add predicted values/labels and, for probability outputs, the confidence (max probability)."""
        for column in outputs.table.columns:
            self._add(self.outputs, column)
        predicted = {column.name: column for column in outputs.table.columns}
        for name, values in outputs.confidence.items():
            values = np.asarray(values, dtype=np.float64)
            labels = predicted[name].values if name in predicted else np.full(len(values), None, dtype=object)
            self._add_confidence(name, values, labels)

    def _add_confidence(self, output: str, values: np.ndarray, labels: np.ndarray) -> None:
        classes, inverse = np.unique(np.asarray([str(v) for v in labels], dtype=object), return_inverse=True)
        for i, label in enumerate(classes):
            key = (output, label)
            if key not in self.confidence:
                known = sum(1 for o, _ in self.confidence if o == output)
                if known >= self.config.max_categories:
                    key = (output, OTHER_CATEGORY)
            column = self.confidence.get(key)
            if column is None:
                column = self.confidence[key] = self.config.new_column("numeric")
            column.update(values[inverse == i])

    def merge(self, other: Summary) -> None:
        """Add ``other`` into this summary (columns missing on one side are taken from the other)."""
        self.rows += other.rows
        for mine, theirs in (
            (self.features, other.features),
            (self.outputs, other.outputs),
            (self.confidence, other.confidence),  # type: ignore[arg-type]  # keyed by (output, class)
        ):
            for name, column in theirs.items():
                if name in mine:
                    if mine[name].kind == column.kind:
                        mine[name].merge(column)
                elif len(mine) < self.config.max_columns:
                    mine[name] = ColumnSummary.from_dict(column.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": {name: c.to_dict() for name, c in self.features.items()},
            "outputs": {name: c.to_dict() for name, c in self.outputs.items()},
            "confidence": [
                {"output": output, "class": label, **c.to_dict()}
                for (output, label), c in self.confidence.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], config: SummaryConfig | None = None) -> Summary:
        summary = cls(config)
        summary.rows = int(data.get("rows", 0))
        for key in ("features", "outputs"):
            target = getattr(summary, key)
            for name, column in (data.get(key) or {}).items():
                target[str(name)] = ColumnSummary.from_dict(column)
        for column in data.get("confidence") or []:
            summary.confidence[(str(column["output"]), str(column["class"]))] = ColumnSummary.from_dict(
                column
            )
        return summary
