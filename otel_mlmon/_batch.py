"""Reading the row count of a predict call's input cheaply (O(1), no copies) for ``ml.batch.size``."""

from __future__ import annotations

from typing import Any

import numpy as np

from otel_mlmon.adapters import batch_size

__all__ = ["rows_of"]


def rows_of(obj: Any) -> int | None:
    """Rows in the input ``obj``, by the adapters' rule (a 1-D array or a Series is one row); None if unknown.

    numpy arrays, by far the most common input, plain scalars, dicts of scalars (JSON rows), lists of numbers and
    pandas DataFrames take a fast path that gives the same answer.
    """
    t = type(obj)
    if t is np.ndarray and obj.dtype.names is None:
        return int(obj.shape[0]) if obj.ndim >= 2 else 1
    if t in _SCALARS:
        return 1
    if t is dict and obj and type(next(iter(obj.values()))) in _CELLS:
        return 1
    if t is list and obj and type(obj[0]) in _NUMBERS:
        return 1
    frame = _FRAMES.get(t)
    if frame is None:
        frame = _FRAMES[t] = t.__name__ == "DataFrame" and t.__module__.partition(".")[0] == "pandas"
        if len(_FRAMES) > 1024:  # types made on the fly: keep the cache bounded
            _FRAMES.clear()
    if frame:
        return len(obj.index)  # what the pandas adapter's len(df) gives, without the adapter look-up
    return batch_size(obj)


_NUMBERS = frozenset({float, int, bool})
_SCALARS = _NUMBERS | {str}
_CELLS = _SCALARS | {type(None)}
# type -> whether it is a pandas DataFrame (decided once per type, without importing pandas)
_FRAMES: dict[type, bool] = {}
