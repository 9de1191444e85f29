"""Exact counts of the category strings in one batch of values, by the fastest route the batch's type allows.

The categorical sketch folds one exactly counted batch at a time, so counting a batch is where its time goes.
Routes, chosen by type (results are identical whichever route runs; tests compare them):

* pandas ``category`` columns (``Series``/``Categorical``/``CategoricalIndex``): ``np.bincount`` of the codes.
* other pandas objects: their own ``value_counts`` (pandas' hash table, arrow's for ``str`` columns).
* numpy integer arrays: ``np.bincount`` when the value range is small, else a hash table (pandas') or a sort.
* numpy object arrays: pandas' hash table when pandas is already imported, else a C-level ``Counter``.
* lists and small batches: ``Counter``.

pandas is never imported here: it is used only when the process has already imported it (``sys.modules``), so
the SDK works without it and never pays its import time.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["count_values", "float_key", "scalar_key"]

_NUMERIC_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)
# Below this many values a batch is counted with Counter: the fixed cost of the array routes dominates.
_SMALL = 2048
# np.bincount is used for integers whose range is at most this many times the batch size (plus a constant).
_BINCOUNT_SPAN = 4


def float_key(value: float) -> str | None:
    """Category string of a float: None for NaN, integral values as integers, else the shortest repr."""
    if math.isnan(value):
        return None
    if math.isfinite(value) and value == math.floor(value):
        return str(int(value))
    return repr(float(value))


def scalar_key(value: Any) -> str | None:
    """Category string of one Python/numpy scalar (None when the value is missing)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return float_key(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        if value != value:  # NaN-like missing markers (NaT, Decimal NaN)
            return None
    except (TypeError, ValueError):  # pandas.NA and friends have no truth value: missing
        return None
    return str(value)


def count_values(values: Any) -> dict[str, int]:
    """Exact counts of the category strings in one batch (before truncation or hashing)."""
    if isinstance(values, np.ndarray):
        return _count_array(values.ravel())
    if type(values).__module__.startswith("pandas"):
        counted = _count_pandas(values)
        if counted is not None:
            return counted
    if not isinstance(values, list | tuple) and hasattr(values, "__array__"):
        return _count_array(np.asarray(values).ravel())
    return _count_objects(values if isinstance(values, list | tuple) else list(values))


def _add(out: dict[str, int], key: str | None, n: int) -> None:
    if key is not None:
        out[key] = out.get(key, 0) + n


def _pairs(keys: Sequence[Any], counts: Sequence[int]) -> dict[str, int]:
    """Counts of distinct values (no zeros) as counts of their category strings."""
    if set(map(type, keys)) <= {str}:  # already category strings, all distinct
        return dict(zip(keys, counts))
    out: dict[str, int] = {}
    for value, n in zip(keys, counts):
        if n:
            _add(out, scalar_key(value), int(n))
    return out


def _pandas() -> Any:
    """The pandas module if this process has already imported it, else None."""
    return sys.modules.get("pandas")


def _count_pandas(values: Any) -> dict[str, int] | None:
    """pandas Series, Index and Categorical: bincount of category codes, else pandas' own value_counts."""
    pd = _pandas()
    if pd is None or not isinstance(values, pd.Series | pd.Index | pd.Categorical):
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values if isinstance(values, pd.Categorical) else values.array  # no copy
        codes = cat.codes
        counts = np.bincount(codes[codes >= 0] if codes.size and codes.min() < 0 else codes)
        present = np.flatnonzero(counts)
        if present.size == len(cat.categories):  # every category occurs: no need to select
            return _pairs(cat.categories.tolist(), counts.tolist())
        return _pairs(cat.categories.take(present).tolist(), counts[present].tolist())
    if isinstance(values.dtype, np.dtype):  # numpy-backed: the array routes
        return _count_array(np.asarray(values).ravel())
    # Extension dtypes (str, nullable integers and booleans, arrow): their own hash table, missing values dropped.
    counted = pd.Series(values, copy=False).value_counts(dropna=True, sort=False)
    return _pairs(counted.index.tolist(), counted.to_numpy().tolist())


def _count_array(array: np.ndarray) -> dict[str, int]:
    kind = array.dtype.kind
    if array.size == 0:
        return {}
    if kind == "b":
        trues = int(np.count_nonzero(array))
        counted = {"true": trues, "false": int(array.size) - trues}
        return {key: n for key, n in counted.items() if n}
    if kind in "iu":
        return _count_integers(array)
    if kind == "f":
        array = array[~np.isnan(array)]
        if array.size and np.all(array == np.trunc(array)) and np.all(np.abs(array) < 2**53):
            return _count_integers(array.astype(np.int64))  # integral floats are named like integers
        uniques, counts = np.unique(array, return_counts=True)
        return _pairs(uniques.tolist(), counts.tolist())
    if kind == "U":
        uniques, counts = np.unique(array, return_counts=True)
        return dict(zip(uniques.tolist(), counts.tolist()))
    if kind == "S":
        uniques, counts = np.unique(array, return_counts=True)
        return _pairs(uniques.tolist(), counts.tolist())
    if kind in "mM":
        array = array[~np.isnat(array)]
        uniques, counts = np.unique(array, return_counts=True)
        return dict(zip(uniques.astype(str).tolist(), counts.tolist()))
    if kind == "O":
        return _count_object_array(array)
    return _count_objects(array.tolist())


def _count_integers(array: np.ndarray) -> dict[str, int]:
    """Integer counts: bincount over a small value range, else a hash table (pandas) or a sort."""
    low, high = int(array.min()), int(array.max())
    if high - low <= _BINCOUNT_SPAN * array.size + 1024:
        if array.dtype.kind == "u":  # shift in the unsigned domain: values may not fit an int64
            shifted = (array.astype(np.uint64) - np.uint64(low)).astype(np.intp)
        else:
            shifted = array.astype(np.intp) - low if low else array.astype(np.intp, copy=False)
        counts = np.bincount(shifted)
        present = np.flatnonzero(counts)
        if low >= -(2**62) and high < 2**62:
            keys = list(map(str, (present + low).tolist()))
        else:
            keys = [str(int(i) + low) for i in present.tolist()]
        return dict(zip(keys, counts[present].tolist()))
    pd = _pandas()
    if pd is not None and array.size > _SMALL:
        counted = pd.Series(array, copy=False).value_counts(sort=False)
        return dict(zip(counted.index.to_numpy().astype(str).tolist(), counted.to_numpy().tolist()))
    uniques, counts = np.unique(array, return_counts=True)
    return dict(zip(uniques.astype(str).tolist(), counts.tolist()))


def _count_object_array(array: np.ndarray) -> dict[str, int]:
    """Object arrays: pandas' hash table (if pandas is loaded and the batch is large), else Counter."""
    pd = _pandas()
    if pd is None or array.size <= _SMALL:
        return _count_objects(array.tolist())
    counted = pd.Series(array, dtype=object, copy=False).value_counts(dropna=False, sort=False)
    keys = counted.index.tolist()
    if _has_bool_aliases(keys):  # pandas, like Counter, merges True with 1 and False with 0
        return _count_objects(array.tolist())
    return _pairs(keys, counted.to_numpy().tolist())


def _has_bool_aliases(keys: Sequence[Any]) -> bool:
    """Whether a hash table may have merged values of different types (True == 1, 0.0 == False)."""
    return any(
        isinstance(key, _NUMERIC_SCALARS) and not isinstance(key, str) and key in (0, 1) for key in keys
    )


def _count_objects(items: Sequence[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        counter = Counter(items)
    except TypeError:  # unhashable values: stringify one by one
        for value in items:
            _add(out, scalar_key(value), 1)
        return out
    # Counter merges keys that compare equal: True with 1, 0.0 with False. Recount with the type as part of
    # the key when such keys are present, so each value is stringified by its own type.
    if _has_bool_aliases(list(counter)):
        counter = Counter(zip(map(type, items), items))
        pairs = ((key[1], n) for key, n in counter.items())
    else:
        pairs = iter(counter.items())
    for value, n in pairs:
        _add(out, scalar_key(value), n)
    return out
