"""The confidence sketches of a :class:`~otel_mlmon.summary.Summary`: per output and predicted class, a histogram of
the max class probability ``p`` and one of its complement ``1 - p``.

An exponential histogram's buckets are relatively narrow: about 0.5 % of the value at the scale 160 buckets allow
over ``[0.5, 1]``. That is fine resolution near 0 and coarse near 1, where tree ensembles and boosted models put
most of their predictions (0.997 and 0.9995 share a bucket). The complement ``1 - p`` has its fine end there
(exact for ``p >= 0.5``: the subtraction rounds nothing), so the estimator reads the cells between the bounds of
both histograms (:func:`otel_mlmon.estimation.joint_buckets`). Cost: one more histogram
series per confidence series (at most ``max_categories + 1`` per classifier output).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from otel_mlmon.conventions import OTHER_CATEGORY

__all__ = ["add_confidence", "confidence_entries", "read_confidence"]


def add_confidence(
    config: Any,
    confidence: dict[tuple[str, str], Any],
    complement: dict[tuple[str, str], Any],
    output: str,
    values: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Add one call's confidences of ``output`` to both sketches, per predicted class (classes beyond
    ``config.max_categories`` share ``__other__``)."""
    classes, inverse = np.unique(np.asarray([str(v) for v in labels], dtype=object), return_inverse=True)
    for i, label in enumerate(classes):
        key = (output, label)
        if key not in confidence:
            known = sum(1 for o, _ in confidence if o == output)
            if known >= config.max_categories:
                key = (output, OTHER_CATEGORY)
        mine = values[inverse == i]
        for target, part in ((confidence, mine), (complement, 1.0 - mine)):
            column = target.get(key)
            if column is None:
                column = target[key] = config.new_column("numeric")
            column.update(part)


def confidence_entries(columns: Mapping[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """Serialised form: one ``{"output", "class", ...column}`` entry per column."""
    return [{"output": output, "class": label, **c.to_dict()} for (output, label), c in columns.items()]


def read_confidence(
    entries: Iterable[Mapping[str, Any]] | None, column_type: Any
) -> dict[tuple[str, str], Any]:
    """Inverse of :func:`confidence_entries` (``column_type`` is ``ColumnSummary``)."""
    return {
        (str(entry["output"]), str(entry["class"])): column_type.from_dict(entry) for entry in entries or []
    }
