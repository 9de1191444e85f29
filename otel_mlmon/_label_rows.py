"""The label-dependent parts of a reference profile (``profile build --target``, ``labels=``), built from rows read
in parts and put together in order.

What the labels give a profile is not a sketch that merges: the reference performance has ROC AUC (a rank
statistic over all rows) and its spread over consecutive chunks whose size follows from the total row count; the
estimation model is fitted on rows (a beta calibration of scores, a regression of errors on features). So
each part keeps the rows these fits read, and the driver concatenates the parts in row order and fits once, as one
process does: every row's prediction and label (a few bytes a row, what one process also holds), and the rows of
the estimation sample with their features (at most ``cap`` rows).

The estimation sample is a uniform Bernoulli sample at ``rate`` whose draws depend only on a row's position in
the whole data (the ``i``-th draw of ``numpy.random.default_rng(0)`` for row ``i``), so a part that knows where
it starts draws what one process draws for its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["LabelRows", "apply_labels", "sample_rate", "target_of"]

#: The sample's seed: the same draws for one process and every part.
_SEED = 0


def sample_rate(cap: int, total: int | None) -> float:
    """The estimation sample's rate: every row while the data (``total`` rows, None: unknown) fit in ``cap``."""
    return 1.0 if not total or total <= cap else cap / total


def target_of(batch: Any, target: str, arrow: bool) -> tuple[Any, list[Any]]:
    """A batch's label column: as an array or Series (for the sample), and as a list of Python values."""
    if arrow:
        column = batch.column(target)
        return column.to_numpy(zero_copy_only=False), column.to_pylist()
    return batch[target], batch[target].tolist()


class LabelRows:
    """The predictions and labels of some consecutive rows, and the rows among them in the estimation sample.

    Args:
        cap: Rows the estimation sample keeps at most (the first ``cap`` sampled rows).
        rate: Sampling rate (1.0: every row, until ``cap``).
        first_row: Position of the first row added in the whole data (parts after the first: where they start).
    """

    def __init__(self, cap: int, rate: float = 1.0, first_row: int = 0) -> None:
        self.cap, self.rate = cap, rate
        self.next_row = first_row
        self.outputs: list[Any] = []
        self.targets: list[Any] = []
        self.sample: list[tuple[Any, Any, np.ndarray]] = []
        self.sampled = 0

    def add(self, features: Any, predictions: Any, target: Any, target_list: Sequence[Any]) -> None:
        """One batch: ``features`` a pandas DataFrame, ``predictions`` as split_batch gives them, ``target``
        (array or Series) and ``target_list`` the batch's labels."""
        n = len(features)
        if self.sampled < self.cap:
            if self.rate >= 1.0:
                chosen = np.arange(min(n, self.cap - self.sampled))
            else:
                rng = np.random.default_rng(_SEED)
                rng.bit_generator.advance(self.next_row)  # one draw per row before this batch
                chosen = np.flatnonzero(rng.random(n) < self.rate)[: self.cap - self.sampled]
            rows = (
                predictions.iloc[chosen] if hasattr(predictions, "iloc") else np.asarray(predictions)[chosen]
            )
            labels = target.iloc[chosen] if hasattr(target, "iloc") else np.asarray(target)[chosen]
            self.sample.append((features.iloc[chosen], rows, np.asarray(labels)))
            self.sampled += chosen.size
        self.targets.extend(target_list)
        self.outputs.append(predictions)
        self.next_row += n

    def extend(self, parts: Iterable[LabelRows]) -> LabelRows:
        """The parts that follow these rows, in order (on the driver)."""
        for part in parts:
            self.outputs += part.outputs
            self.targets += part.targets
            for features, rows, labels in part.sample:
                if self.sampled >= self.cap:
                    break
                k = min(len(labels), self.cap - self.sampled)
                if k < len(labels):  # past the cap: the first rows of this batch's share only
                    features, labels = features.iloc[:k], labels[:k]
                    rows = rows.iloc[:k] if hasattr(rows, "iloc") else rows[:k]
                self.sample.append((features, rows, labels))
                self.sampled += k
        return self

    def performance(
        self, classes: Sequence[Any] | None, chunk_rows: int | None
    ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """The reference performance and its spread over chunks, on every row (one prediction output)."""
        from otel_mlmon._reference_performance import reference_performance

        outputs: Any = np.concatenate(self.outputs)
        return reference_performance(outputs, self.targets, classes=classes, chunk_rows=chunk_rows)

    def estimation(
        self,
        categorical: Sequence[str],
        classes: Sequence[str] | None,
        probabilities: Callable[[Any], Any],
    ) -> Any:
        """The estimation model fitted on the sample; ``probabilities(predictions)`` gives the probability
        matrix and its classes (or None)."""
        import pandas as pd

        from otel_mlmon.adapters import read_features, read_outputs
        from otel_mlmon.estimation import fit_estimation

        features = pd.concat([p[0] for p in self.sample], ignore_index=True)
        first = self.sample[0][1]
        if hasattr(first, "iloc"):
            predictions: Any = pd.concat([p[1] for p in self.sample], ignore_index=True)
        else:
            predictions = np.concatenate([np.asarray(p[1]) for p in self.sample])
        target = np.concatenate([p[2] for p in self.sample])
        outputs = read_outputs(predictions, classes=classes)
        return fit_estimation(
            read_features(features, categorical=categorical), outputs, target, probabilities(predictions)
        )


def apply_labels(
    profile: Any,
    rows: LabelRows,
    *,
    one_output: bool,
    categorical: Sequence[str],
    classes: Sequence[str] | None,
    chunk_rows: int | None,
    probabilities: Callable[[Any], Any],
) -> None:
    """Set a profile's reference performance and spread (with ``one_output``: a single prediction output) and
    its estimation model from the label rows of all its data."""
    if rows.outputs and one_output:
        profile.performance, profile.performance_spread = rows.performance(classes, chunk_rows)
    profile.estimation = rows.estimation(categorical, classes, probabilities)
