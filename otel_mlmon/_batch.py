"""Reading the row count of a predict call's input cheaply (O(1), no copies) for ``ml.batch.size``."""

from __future__ import annotations

from typing import Any

__all__ = ["infer_batch_size", "rows_of"]


def rows_of(obj: Any) -> int | None:
    """Rows in ``obj``: ``shape[0]`` of 2-D arrays and frames, 1 for a 1-D array or a scalar row, ``len`` of lists
    of rows and of columns in a dict of columns; None when it cannot be told without reading the data."""
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple):
        if len(shape) == 0:
            return 1
        if len(shape) == 1:
            # A pandas Series / 1-D array of rows is ambiguous; a 1-D numpy array is a single row of features.
            return shape[0] if type(obj).__module__.startswith("pandas") else 1
        return int(shape[0])
    num_rows = getattr(obj, "num_rows", None)  # pyarrow Table / RecordBatch
    if isinstance(num_rows, int):
        return num_rows
    if isinstance(obj, dict):
        if not obj:
            return 0
        first = next(iter(obj.values()))
        if isinstance(first, (list, tuple)) or (
            hasattr(first, "__len__") and not isinstance(first, (str, bytes))
        ):
            return len(first)
        return 1
    if isinstance(obj, (list, tuple)):
        return len(obj)
    if isinstance(obj, (int, float, str, bytes, bool)):
        return 1
    return None


def infer_batch_size(args: tuple, kwargs: dict) -> int | None:
    """The default ``batch_size`` of ``@monitor``: rows of the first positional argument (or first keyword)."""
    if args:
        return rows_of(args[0])
    for value in kwargs.values():
        return rows_of(value)
    return None
