"""Runs of one-row pandas DataFrames taken together: checked as the same layout and stacked into column arrays.

The folder thread hands :class:`FrameRun` the frames that single-row calls passed, so that a run of them is read
as one table instead of one DataFrame per call; pandas is imported only when such frames arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, itemgetter, methodcaller
from typing import Any

import numpy as np

from otel_mlmon.adapters._convert import check_unique, resolve_names
from otel_mlmon.sketch._coded import CODED_MIN_ROWS

__all__ = ["FrameColumns", "FrameRun", "names_of_columns"]


def names_of_columns(columns: Any, names: Sequence[str] | None) -> list[str]:
    """The string names of a frame's columns (``names`` replace a default RangeIndex); unique or UnsupportedInput."""
    import pandas as pd

    if names is not None and isinstance(columns, pd.RangeIndex) and columns.start == 0 and columns.step == 1:
        return resolve_names(names, len(columns), "f", "DataFrame columns")
    if isinstance(columns, pd.MultiIndex):
        result = [".".join(map(str, label)) for label in columns.tolist()]
    else:
        result = list(map(str, columns.tolist()))
    check_unique(result)
    return result


# -- Stacking one-row frames of one schema: the folder reads many small frames as one ---------------------------
#
# pandas' public API costs ~1 µs per column per frame to hand out a column and tens of µs to build a frame; the
# block manager hands out each block's values (one 2-D array per dtype group, one array per extension column) in
# well under a µs. These private attributes have been stable since pandas 1.x; if a future pandas drops them,
# FrameRun.start returns None and frames are simply read one by one.


def _placement(indexer: Any) -> tuple[int, ...]:
    if isinstance(indexer, slice):
        return tuple(range(indexer.start or 0, indexer.stop, indexer.step or 1))
    return tuple(indexer)


def _width(indexer: Any) -> int:
    """How many columns a block placement holds."""
    return len(_placement(indexer))


def _same_labels(a: Any, b: Any) -> bool:
    """Whether two column indexes give the same column names (all a table depends on), cheaply."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    va, vb = a._values, b._values
    pa_a, pa_b = getattr(va, "_pa_array", None), getattr(vb, "_pa_array", None)
    if pa_a is not None and pa_b is not None and type(va) is type(vb):  # arrow-backed str labels (pandas 3)
        return bool(pa_a.equals(pa_b))
    if len(a) != len(b):
        return False
    if type(a).__name__ == "RangeIndex":  # names= applies to it: compare as ranges
        return bool(a.equals(b))
    if type(va) is np.ndarray and type(vb) is np.ndarray and va.dtype == vb.dtype and va.ndim == 1:
        # Equal labels of equal types give equal names (1 == 1.0 == True, but their names differ).
        la, lb = va.tolist(), vb.tolist()
        return la == lb and list(map(type, la)) == list(map(type, lb))
    return names_of_columns(a, None) == names_of_columns(b, None)


def _label_chunk(columns: Any) -> Any:
    """The one arrow chunk holding a plain ``Index``'s str labels, or None (other labels, or several chunks)."""
    if type(columns).__name__ != "Index":
        return None
    labels = getattr(getattr(columns, "_data", None), "_pa_array", None)
    if labels is None or getattr(labels, "num_chunks", None) != 1:
        return None
    return labels.chunk(0)


# Extension dtypes identified by their class alone (no parameters): pandas' masked numbers and booleans.
_PLAIN_EXTENSION_DTYPES = frozenset(
    f"{kind}Dtype" for kind in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")
) | {"Float32Dtype", "Float64Dtype", "BooleanDtype"}


def _dtype_token(values: Any, dtype: Any) -> Any:
    """A cheap stand-in for a block's dtype in comparisons (``str(dtype)`` and ``StringDtype.__eq__`` cost µs).

    numpy dtypes are singletons, compared by identity; for pandas' masked numbers the dtype class is the dtype;
    for strings the array type (storage) and missing-value marker; any other dtype is compared as itself.
    """
    if type(values) is np.ndarray:
        return dtype
    dtype_type = type(dtype)
    kind = _dtype_kind(dtype)
    if kind == "plain":
        return (type(values), dtype_type)
    if kind == "string":
        fields = getattr(dtype, "__dict__", None) or {}
        if "_storage" in fields and "_na_value" in fields:  # the properties below, read without their calls
            return (type(values), dtype_type, fields["_storage"], type(fields["_na_value"]))
        return (type(values), dtype_type, dtype.storage, type(dtype.na_value))
    return dtype


def _dtype_kind(dtype: Any) -> str:
    """ "plain" (the class is the dtype), "string" (StringDtype) or "other" (compared as itself); cached."""
    dtype_type = type(dtype)
    kind = _DTYPE_KINDS.get(dtype_type)
    if kind is None:
        name = dtype_type.__name__
        kind = _DTYPE_KINDS[dtype_type] = (
            "plain" if name in _PLAIN_EXTENSION_DTYPES else "string" if name == "StringDtype" else "other"
        )
    return kind


# dtype class -> its _dtype_kind.
_DTYPE_KINDS: dict[type, str] = {}
# The token of dtypes that need no comparison: the block's array type decides how they read.
_ANY_DTYPE = ("any",)


class FrameRun:
    """Consecutive DataFrames of one schema, checked and gathered in one pass over each frame's blocks.

    The folder's stacking loop starts a run with a frame and offers it the next ones: :meth:`add` accepts a frame
    with the same column labels and the same block layout (block array types, dtypes and column placements) and
    keeps its block arrays, so deciding and gathering touch each block once. :meth:`stack` concatenates them.
    """

    __slots__ = (
        "_checks",
        "_columns",
        "_dtypes",
        "_label_chunk",
        "_label_types",
        "_numpy_at",
        "_numpy_of",
        "_one_row_shapes",
        "_placements",
        "_rows",
        "_simple",
        "_types",
        "_values",
    )

    def __init__(self, columns: Any, checks: tuple, values: list[Any], rows: int) -> None:
        self._columns = columns
        # Arrow-backed str labels (pandas 3's default) in one chunk: later frames' labels are compared chunk to
        # chunk, ~10x cheaper than ChunkedArray.equals (the same answer for single-chunk arrays).
        self._label_chunk = _label_chunk(columns)
        self._label_types = (type(columns), type(columns._data)) if self._label_chunk is not None else None
        self._checks = checks  # per block: (array type, dtype, dtype token or None, ndim, placement)
        # The block arrays of the run's frames, frame after frame (len(checks) per frame): block i of every frame
        # is values[i::len(checks)], what stack concatenates.
        self._values = values
        self._rows = rows
        # The common layout (numpy and string blocks, contiguous placements) is checked by a shorter loop:
        # per block (array type, numpy dtype or None for strings, placement slice).
        simple = all(c[2] is None or c[2] is _ANY_DTYPE for c in checks)
        simple = simple and all(type(c[4]) is slice for c in checks)
        self._simple = tuple((c[0], c[1] if c[2] is None else None, c[4]) for c in checks) if simple else None
        # The same checks as whole-frame comparisons (C loops, identity first): array types, the numpy blocks'
        # dtypes, placements.
        self._types = tuple(c[0] for c in checks)
        self._numpy_at = tuple(i for i, c in enumerate(checks) if c[2] is None)
        self._dtypes = [checks[i][1] for i in self._numpy_at]
        # A one-row frame's numpy blocks have the shape (their columns, 1): comparing shapes checks the row count
        # too (every block of a frame has its row count), without pandas' len(df) chain.
        self._one_row_shapes = [(_width(checks[i][4]), 1) for i in self._numpy_at] if simple else None
        # The numpy blocks' arrays of a frame's block arrays, as a list (itemgetter gives a bare item for one).
        if len(self._numpy_at) > 1:
            self._numpy_of = itemgetter(*self._numpy_at)
        elif self._numpy_at:
            index = self._numpy_at[0]
            self._numpy_of = lambda arrays: (arrays[index],)
        else:
            self._numpy_of = lambda arrays: ()
        self._placements = [c[4] for c in checks]

    @classmethod
    def start(cls, df: Any, rows: int) -> FrameRun | None:
        """A run of ``df`` (of ``rows`` rows), or None when its blocks cannot be concatenated cheaply."""
        try:
            checks = []
            for block in df._mgr.blocks:
                values = block.values
                t = type(values)
                if t is np.ndarray:
                    dtype, token = values.dtype, None
                    if values.ndim != 2 or dtype.kind not in "biufcmMUSO":
                        return None
                else:
                    # 2-D extension arrays (datetimes, timedeltas, periods) are backed by one 2-D ndarray per
                    # block; 1-D ones (strings, masked numbers, categoricals) hold one column each.
                    concatenable = _CONCATENABLE.get(t)
                    if concatenable is None:
                        concatenable = _CONCATENABLE[t] = hasattr(t, "_concat_same_type")
                    if not concatenable or values.ndim not in (1, 2):
                        return None
                    dtype = _extension_dtype(values)
                    # pandas' string arrays (ArrowStringArray, StringArray) always hold a StringDtype, and every
                    # StringDtype reads the same (str or missing): for them the array type is the whole schema.
                    token = _ANY_DTYPE if _dtype_kind(dtype) == "string" else _dtype_token(values, dtype)
                indexer = block._mgr_locs.indexer
                placement = indexer if type(indexer) is slice else tuple(indexer.tolist())
                checks.append((t, dtype, token, values.ndim, placement))
            return cls(df.columns, tuple(checks), list(map(_VALUES, df._mgr.blocks)), rows)
        except (AttributeError, TypeError, ValueError):
            return None

    def add(self, df: Any, rows: int) -> bool:
        """Take ``df`` (of ``rows`` rows) into the run if it has the run's schema; False leaves the run as it was."""
        try:
            blocks = df._mgr.blocks
            checks = self._checks
            if len(blocks) != len(checks):
                return False
            if self._simple is not None:
                return self._add_simple(df, blocks, rows)
            arrays = []
            for block, (t, dtype, token, ndim, placement) in zip(blocks, checks):
                values = block.values
                if type(values) is not t:
                    return False
                if token is None:  # numpy: dtypes are (nearly always) singletons
                    other = values.dtype
                    if other is not dtype and other != dtype:
                        return False
                elif token is not _ANY_DTYPE:
                    other = _extension_dtype(values)
                    if other is not dtype and not _same_extension_dtype(values, other, dtype, token):
                        return False
                    if values.ndim != ndim:
                        return False
                indexer = block._mgr_locs.indexer
                if type(indexer) is slice:
                    if indexer != placement:
                        return False
                elif tuple(indexer.tolist()) != placement:
                    return False
                arrays.append(values)
            if not self._same_labels(df.columns):
                return False
        except (AttributeError, TypeError, ValueError):
            return False
        self._values.extend(arrays)
        self._rows += rows
        return True

    def _add_simple(self, df: Any, blocks: Any, rows: int) -> bool:
        """:meth:`add` for the common layout (see ``_simple``); the same decisions, as whole-frame comparisons.

        A placement that is not a slice makes the comparison raise ValueError (an index array against a slice):
        :meth:`add` answers False, as for any other difference.
        """
        arrays = list(map(_VALUES, blocks))
        if tuple(map(type, arrays)) != self._types:
            return False
        if list(map(_DTYPE, self._numpy_of(arrays))) != self._dtypes:
            return False
        if list(map(_INDEXER, blocks)) != self._placements:
            return False
        if not self._same_labels(df.columns):
            return False
        self._values.extend(arrays)
        self._rows += rows
        return True

    def add_all(self, dfs: list[Any]) -> int:
        """Take the leading frames of ``dfs`` that have one row and the run's schema; return how many were taken.

        The same checks as :meth:`add`, made column-major over the whole list (one C loop per check instead of
        Python code per frame), for the common layout only (see ``_simple``): none are taken for another one.
        """
        if self._simple is None or not dfs:
            return 0
        try:
            count, width = len(dfs), len(self._types)
            blocks = list(map(_BLOCKS, dfs))
            count = _prefix(list(map(len, blocks)), [width] * count)
            flat = list(chain.from_iterable(blocks[:count]))
            values = list(map(_VALUES, flat))
            count = min(count, _prefix(list(map(type, values)), list(self._types) * count) // width)
            if self._numpy_at:
                for at, dtype, shape in zip(self._numpy_at, self._dtypes, self._one_row_shapes):
                    numpy = values[at : count * width : width]
                    count = _prefix(list(map(_DTYPE, numpy)), [dtype] * count)
                    count = _prefix(list(map(_SHAPE, numpy[:count])), [shape] * count)
            else:  # string blocks only: the row count from the index
                count = _prefix(list(map(len, map(_INDEX, dfs[:count]))), [1] * count)
            count = min(
                count, _prefix(list(map(_INDEXER, flat[: count * width])), self._placements * count) // width
            )
            count = _prefix(self._same_labels_each(list(map(_COLUMNS, dfs[:count]))), [True] * count)
        except (AttributeError, TypeError, ValueError):
            return 0
        self._values.extend(values[: count * width])
        self._rows += count
        return count

    def _same_labels_each(self, columns: list[Any]) -> list[bool]:
        """Per item of ``columns``, whether it gives the run's column names; see :meth:`_same_labels`."""
        chunk = self._label_chunk
        if chunk is not None:
            index_type, data_type = self._label_types
            if set(map(type, columns)) == {index_type}:
                data = list(map(_DATA, columns))
                if set(map(type, data)) == {data_type}:
                    labels = list(map(_PA_ARRAY, data))
                    if set(map(_NUM_CHUNKS, labels)) == {1}:
                        return list(map(chunk.equals, map(_CHUNK0, labels)))
        return list(map(self._same_labels, columns))

    def _same_labels(self, columns: Any) -> bool:
        """Whether ``columns`` gives the run's column names (see :func:`_same_labels`)."""
        chunk = self._label_chunk
        if chunk is not None:
            index_type, data_type = self._label_types
            if type(columns) is index_type:  # a plain Index: ``_data`` is its array (never built on access)
                data = columns._data
                if type(data) is data_type:
                    labels = data._pa_array
                    if labels.num_chunks == 1:
                        return bool(chunk.equals(labels.chunk(0)))
        return _same_labels(self._columns, columns)

    def stack(self) -> FrameColumns:
        """The rows of the run's frames, in order, as one :class:`FrameColumns`."""
        arrays: list[Any] = [None] * len(self._columns)
        values, width = self._values, len(self._checks)
        for block, (t, _, _, ndim, placement) in enumerate(self._checks):
            parts = values[block::width]
            if t is np.ndarray:
                merged = np.concatenate(parts, axis=1)
            elif ndim == 2:
                merged = t._concat_same_type(parts, axis=1)
            else:
                arrays[_placement(placement)[0]] = _concat_columns(parts)
                continue
            for i, position in enumerate(_placement(placement)):
                arrays[position] = merged[i]
        return FrameColumns(self._columns, arrays, self._rows)


def _same_extension_dtype(values: Any, other: Any, dtype: Any, token: Any) -> bool:
    """Whether ``other`` (of ``values``) is the run's ``dtype``; pandas makes a new dtype object per array, and
    comparing two can cost µs: masked dtypes are equal by their class, others by their token."""
    if type(other) is not type(dtype):
        return False
    return _dtype_kind(other) == "plain" or _dtype_token(values, other) == token


def _extension_dtype(values: Any) -> Any:
    dtype = getattr(values, "_dtype", None)  # what .dtype returns, without the property call
    return dtype if dtype is not None else values.dtype


def _concat_columns(parts: list[Any]) -> Any:
    """1-D extension arrays of one type as one; arrow-backed ones (pandas 3's strings) by their arrow arrays,
    about 5x cheaper than pandas' own concatenation of many short arrays."""
    first = parts[0]
    if getattr(first, "_pa_array", None) is not None and hasattr(first, "_from_pyarrow_array"):
        import pyarrow as pa

        try:
            data = list(map(_PA_ARRAY, parts))
            if set(map(_NUM_CHUNKS, data)) == {1}:  # the usual case, in C loops
                chunks = list(map(_CHUNK0, data))
            else:
                chunks = [chunk for part in data for chunk in part.chunks]
            if len(chunks) * CODED_MIN_ROWS <= sum(map(len, chunks)):
                # Long chunks (frames of many rows) stay as they are: a string column is encoded chunk after chunk
                # as one (adapters/_strings.py), and concatenating would copy every value for nothing (with
                # pyarrow's allocator costing milliseconds per call the first time a thread asks it for memory).
                return first._from_pyarrow_array(pa.chunked_array(chunks))
            # One chunk, not one per frame: reading a column of many one-row chunks costs per chunk (dictionary
            # encoding gives each chunk its own dictionary), far more than concatenating them once.
            return first._from_pyarrow_array(pa.chunked_array([pa.concat_arrays(chunks)]))
        except (AttributeError, TypeError, ValueError, pa.ArrowException):
            pass  # chunks of different arrow types: pandas casts them
    return type(first)._concat_same_type(parts)


# Per block, in C: its values, their dtype, its column placement (a slice, or an array of positions).
_VALUES = attrgetter("values")
_DTYPE = attrgetter("dtype")
_SHAPE = attrgetter("shape")
_INDEXER = attrgetter("_mgr_locs.indexer")
# Per frame: its blocks and column labels; per plain Index of arrow-backed str labels: its arrow data.
_BLOCKS = attrgetter("_mgr.blocks")
_COLUMNS = attrgetter("columns")
_INDEX = attrgetter("index")
_DATA = attrgetter("_data")
_PA_ARRAY = attrgetter("_pa_array")
_NUM_CHUNKS = attrgetter("num_chunks")
_CHUNK0 = methodcaller("chunk", 0)


def _prefix(got: list[Any], want: list[Any]) -> int:
    """How many leading items of ``got`` equal those of ``want`` (compared as items, a slice to an index array
    included: unequal)."""
    if got == want:
        return len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        if a is not b and (type(a) is not type(b) or a != b):
            return i
    return min(len(got), len(want))


# Array type -> whether pandas can concatenate arrays of it (``_concat_same_type``).
_CONCATENABLE: dict[type, bool] = {}


class FrameColumns:
    """Several same-schema DataFrames stacked as column arrays (what a DataFrame's columns would hold).

    Read by :class:`PandasAdapter` exactly like the DataFrame made of those rows, without building it.
    """

    __slots__ = ("arrays", "columns", "n_rows")

    def __init__(self, columns: Any, arrays: list[Any], n_rows: int) -> None:
        self.columns = columns
        self.arrays = arrays
        self.n_rows = n_rows
