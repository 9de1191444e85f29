"""Category strings that carry their dictionary encoding, so a sketch counts distinct values instead of rows.

A categorical column is an object array of ``str`` (None for missing), one Python reference per row. Inputs that
are already dictionary-encoded (pandas ``category``, Arrow dictionary arrays) or cheaply encoded in C (Arrow
strings) also give codes per row and the distinct strings: :func:`coded_strings` keeps both. The result *is* the
ordinary object array (everything that reads it as an array sees the same values), and the categorical sketch
counts it with one ``np.bincount`` of the codes instead of hashing every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._kernel import kernel

__all__ = ["CODED_MIN_ROWS", "CodedStrings", "coded_counts", "coded_strings"]

#: Columns shorter than this are converted value by value: the encoding's fixed cost would dominate.
CODED_MIN_ROWS = 512


class CodedStrings(np.ndarray):
    """A read-only 1-D object array of ``str``/None that also holds ``codes`` (intp, -1 = missing) into
    ``categories`` (distinct ``str``), with ``self[i] == categories[codes[i]]``.

    Indexing (slices, integer and boolean selections) keeps the encoding, the codes selected alike; ``values ==
    None`` and ``values != None`` are read from the codes. Every other derived array (copies, ufunc results,
    reshapes, concatenations of arrays without codes) is a plain object array: it can no longer vouch for its
    codes, and counting it falls back to hashing its values.
    """

    codes: np.ndarray | None
    categories: np.ndarray | None

    def __array_finalize__(self, obj: Any) -> None:
        self.codes = None
        self.categories = None

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        if type(out) is CodedStrings and out.ndim == 1 and self.codes is not None:
            out.codes = self.codes[key]  # the same selection of a same-shaped array
            out.categories = self.categories
            # A fancy selection is a fresh (writable) copy: its codes must not go stale.
            out.flags.writeable = False
        return out

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if (
            method == "__call__"
            and ufunc in (np.equal, np.not_equal)
            and len(inputs) == 2
            and inputs[0] is self
            and inputs[1] is None
            and not kwargs
            and self.codes is not None
        ):
            return self.codes < 0 if ufunc is np.equal else self.codes >= 0
        inputs = tuple(x.view(np.ndarray) if isinstance(x, CodedStrings) else x for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, CodedStrings) else x for x in out)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.concatenate:
            joined = _concatenate(*args, **kwargs)
            if joined is not None:
                return joined
        return super().__array_function__(func, types, args, kwargs)

    def __reduce__(self) -> Any:  # pickles as the plain object array it is
        return self.view(np.ndarray).__reduce__()


def coded_strings(categories: Sequence[str | None] | np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The object array ``categories[codes]`` (code -1: None), as a read-only :class:`CodedStrings`.

    ``categories`` may repeat a string or hold None (missing): codes are then renumbered so that they index
    distinct strings and missing values have code -1. Codes of any integer type are kept (at least int32).
    """
    cats = categories.tolist() if isinstance(categories, np.ndarray) else list(categories)
    distinct = dict.fromkeys(c for c in cats if c is not None)
    codes = np.asarray(codes)
    if len(distinct) != len(cats):
        position = {c: i for i, c in enumerate(distinct)}
        remap = np.array([-1 if c is None else position[c] for c in cats] + [-1], dtype=np.int32)
        codes = remap[codes]  # code -1 picks the trailing -1
    elif codes.dtype.kind != "i" or codes.dtype.itemsize < 4:  # unsigned or narrow: room for -1 and + 1
        codes = codes.astype(np.intp)
    else:
        codes = codes.view()  # a view of our own: its read-only flag is not the caller's
    items = [*distinct, None]  # the trailing item (code -1): None
    lookup = np.empty(len(items), dtype=object)
    lookup[:] = items
    out = _take(items, lookup, codes).view(CodedStrings)
    out.codes = codes
    out.categories = lookup[:-1]
    out.flags.writeable = False
    codes.flags.writeable = False
    return out


def _take(items: list[Any], lookup: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``lookup[codes]`` (``lookup`` holds ``items``): in C when the extension is there, about twice as fast as
    numpy's gather of objects."""
    if (
        codes.ndim == 1
        and codes.size >= CODED_MIN_ROWS
        and codes.flags.c_contiguous
        and codes.dtype in _TAKEN
    ):
        take = getattr(kernel(), "take_objects", None)  # an extension built before it lacks it
        if take is not None:
            out = np.empty(codes.shape[0], dtype=object)
            take(items, codes, out)
            return out
    return lookup[codes]


_TAKEN = (np.dtype(np.int32), np.dtype(np.int64))


def coded_counts(values: Any) -> dict[str, int] | None:
    """Counts of the strings of a :class:`CodedStrings` from its codes; None for any other array."""
    if type(values) is not CodedStrings or values.codes is None:
        return None
    codes, categories = values.codes, values.categories
    if codes.size and codes.min() < 0:
        codes = codes[codes >= 0]
    tallies = np.bincount(codes, minlength=len(categories))
    present = np.flatnonzero(tallies)
    if present.size == len(categories):
        return dict(zip(categories.tolist(), tallies.tolist()))
    return dict(zip(categories[present].tolist(), tallies[present].tolist()))


def _concatenate(arrays: Any, axis: Any = 0, out: Any = None, **kwargs: Any) -> np.ndarray | None:
    """Coded 1-D arrays joined end to end, their categories unified; None when another case applies."""
    if out is not None or kwargs or axis != 0:
        return None
    parts = list(arrays)
    if not parts or any(type(a) is not CodedStrings or a.codes is None or a.ndim != 1 for a in parts):
        return None
    categories = np.concatenate([a.categories for a in parts])  # repeated strings are merged by coded_strings
    codes, offset = [], 0
    for a in parts:
        shifted = a.codes.astype(np.intp) + offset
        codes.append(np.where(a.codes < 0, -1, shifted) if offset else shifted)
        offset += len(a.categories)
    return coded_strings(categories, np.concatenate(codes))
