"""Stacking consecutive small calls into one batch before they are read, so a fold costs O(columns), not O(calls).

Reading a one-row input and updating ~30 sketches costs milliseconds per call; reading 512 such rows as one batch
costs about the same once. The folder therefore groups runs of buffered calls whose inputs and outputs have the
same structure (the *key*) and reads each run as one input.

The rule every key follows: a stacked run must read to exactly the table that reading its calls one by one and
concatenating would give (same names, kinds and values). The adapters infer a column's kind from the set of value
types in it (an int column is numeric, ints in an output are labels, a column of None is numeric, ...), so keys
include the value types wherever the adapters look at them, and data-dependent decisions (is a matrix made of
probabilities?) are taken per call and put in the key. Inputs whose reading depends on more than that are never
stacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from otel_mlmon.adapters import UnsupportedInput, batch_size, is_probability
from otel_mlmon.adapters._convert import is_chat
from otel_mlmon.adapters._frame_run import FrameRun  # imports pandas only when a frame is read
from otel_mlmon.adapters._registry import adapter_for
from otel_mlmon.adapters._tensor import TensorAdapter, tensor_to_numpy

__all__ = ["Stacked", "features_key", "outputs_key", "stack_rows"]

_NONE = type(None)
# Cell types whose reading depends only on their type and value (no per-type formatting quirk across a batch).
_CELLS = frozenset({int, float, str, bool, _NONE, np.float64, np.float32, np.int64, np.int32, np.bool_})
# Single values stacked into one column: exactly these types (np scalars read through numpy, same result).
_VALUES = frozenset({int, float, str, bool, np.float64, np.float32, np.int64, np.int32, np.bool_})
_NUMBER_CELLS = frozenset({int, float, np.float64, np.float32, np.int64, np.int32})


def _cell_types(values: Any) -> tuple[type, ...] | None:
    """The exact type of each value, or None when one is not a plain cell value."""
    types = tuple(map(type, values))
    return types if _CELLS.issuperset(types) else None


def _column_types(rows: Sequence[Any], keys: Sequence[Any]) -> tuple[frozenset[type], ...] | None:
    """Per column of a list of rows (dicts by ``keys``, lists by position), the set of value types."""
    if not keys:
        return ()
    try:
        cells = zip(*map(itemgetter(*keys), rows)) if len(keys) > 1 else [map(itemgetter(keys[0]), rows)]
        types = tuple(frozenset(map(type, column)) for column in cells)
    except (KeyError, IndexError, TypeError):
        return None
    if not all(_CELLS.issuperset(t) for t in types):
        return None
    # Numbers with strings: numeric or not by the share of strings in the batch (STRAY_SHARE), which stacking
    # would change: read on their own.
    if any(str in t and not _NUMBER_CELLS.isdisjoint(t) for t in types):
        return None
    return types


def features_key(features: Any) -> tuple | None:
    """What consecutive inputs must share to be read as one batch; None for inputs read on their own."""
    t = type(features)
    if t is np.ndarray:
        if features.dtype.names is not None or features.ndim not in (1, 2) or features.dtype.kind == "O":
            return None
        return ("array", features.ndim, features.shape[-1], features.dtype)
    if t in _VALUES:
        return ("value", t)
    if t is dict:
        types = _cell_types(features.values()) if features else None
        return None if types is None else ("record", tuple(features), types)
    if t is list or t is tuple:
        if not features:
            return None
        first = features[0]
        if type(first) is dict:
            keys = tuple(first)
            if is_chat(features):  # chat messages: one conversation, not rows
                return None
            if len(set(map(len, features))) != 1:
                return None
            types = _column_types(features, keys)
            return None if types is None else ("records", keys, types)
        if type(first) is list or type(first) is tuple:
            width = len(first)
            if any(len(row) != width for row in features):
                return None
            types = _column_types(features, range(width))
            return None if types is None else ("rows", width, types)
        types = _cell_types(features)
        # A list holding strings (or only None) may be a batch of texts, not one row: read on its own.
        if types is None or str in types or all(t is _NONE for t in types):
            return None
        return ("row", types)
    module = t.__module__
    if module.startswith("pandas") and t.__name__ == "DataFrame":
        # Whether a frame stacks with the previous ones (same labels and block layout) is decided by FrameRun
        # as stack_rows gathers the run: one pass over each frame's blocks checks and collects them.
        return _FRAME
    if module.startswith("pyarrow") and t.__name__ in ("Table", "RecordBatch"):
        return ("arrow", t.__name__, features.schema)
    return None


_FRAME = ("frame",)


def outputs_key(outputs: Any, single_row: bool) -> tuple | None:
    """What consecutive outputs must share to be read as one; ``single_row``: the call's input is one row."""
    if outputs is None:
        return ("none",)
    t = type(outputs)
    if t is np.ndarray:
        if outputs.dtype.names is not None or outputs.ndim not in (1, 2) or outputs.dtype.kind == "O":
            return None
        if single_row and outputs.ndim == 1 and outputs.shape[0] != 1:
            # One row's class probabilities or outputs: the fold reads it as a (1, k) matrix.
            return ("array-row", outputs.shape, outputs.dtype, bool(is_probability(outputs.reshape(1, -1))))
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            return ("array", outputs.shape[1:], outputs.dtype, bool(is_probability(outputs)))
        return ("array", outputs.shape[1:], outputs.dtype)
    if t in _VALUES:
        return ("value", t)
    if t is list and outputs:
        types = frozenset(map(type, outputs))
        return ("list", types) if _CELLS.issuperset(types) else None
    return None


def _rows(kind: str, features: Any) -> int | None:
    """Rows of an input of a stacking kind: batch_size's answer, without the generic adapter dispatch."""
    if kind in ("value", "record", "row"):
        return 1
    if kind == "frame":
        return len(features.index)  # len(df), without DataFrame.__len__
    if kind in ("rows", "records"):
        return len(features)
    if kind == "array":
        return 1 if features.ndim == 1 else int(features.shape[0])
    return batch_size(features)


def _combine(kind: tuple, items: list[Any]) -> Any:
    name = kind[0]
    if name == "array":
        return np.vstack([np.atleast_2d(x) for x in items])
    if name == "value":
        return [[x] for x in items]
    if name in ("record", "row"):
        return list(items)
    if name in ("records", "rows"):
        return [row for x in items for row in x]
    if name == "arrow":
        import pyarrow as pa

        tables = [pa.Table.from_batches([x]) if kind[1] == "RecordBatch" else x for x in items]
        return pa.concat_tables(tables)
    raise AssertionError(kind)


def _combine_outputs(kind: tuple, items: list[Any]) -> Any:
    name = kind[0]
    if name == "none":
        return None
    if name == "array-row":
        return np.vstack(items)
    if name == "array":
        return np.concatenate(items)
    if name == "value":
        return list(items)
    return [v for x in items for v in x]


def stack_rows(buffer: list[tuple[Any, Any, Any]], max_rows: int | None) -> list[tuple[Any, Any, Any]]:
    """Group runs of small calls with the same input and output structure into single batches.

    Every group keeps the original entries too, so that a batch that fails to read can be read call by call.
    Calls with more than ``max_rows`` rows are never grouped (their rows are subsampled on their own).
    """
    out: list[tuple[Any, Any, Any]] = []
    run: list[tuple[Any, Any, Any]] = []
    run_key: tuple | None = None
    frames: FrameRun | None = None  # a run of DataFrames: their blocks, gathered as they are checked

    def flush() -> None:
        nonlocal frames, frame_type
        if len(run) == 1:
            out.append(run[0])
        elif run:
            try:
                if frames is not None:
                    features = frames.stack()
                else:
                    features = _combine(run_key[0], [entry[0] for entry in run])
                outputs = _combine_outputs(run_key[1], [entry[1] for entry in run])
            except Exception:  # noqa: BLE001 - never expected; the calls are then read one by one
                out.extend(run)
            else:
                out.append((Stacked(features, list(run)), outputs, run[0][2]))
        run.clear()
        frames = None
        frame_type = None

    # The run of frames being gathered: its frame type, owner and outputs key. A frame of that type, owner and
    # outputs key gets the same key from the general path below (a pandas DataFrame and outputs of a plain type
    # have no converter), so it is offered to the run directly: a run costs one schema check per frame.
    frame_type: type | None = None
    frame_owner: Any = None
    frame_outputs: tuple | None = None
    skip = 0  # entries before this index were taken into the run of frames at once (see _take_frames)
    for index, entry in enumerate(buffer):
        if index < skip:
            continue
        features, outputs, owner = entry
        if type(features) is frame_type and owner is frame_owner and type(outputs) in _PLAIN_TYPES:
            rows = len(features.index)
            if (
                rows > 0
                and (max_rows is None or rows <= max_rows)
                and outputs_key(outputs, rows == 1) == frame_outputs
                and frames is not None
                and frames.add(features, rows)
            ):
                run.append(entry)
                continue
        features, outputs, owner = entry = _host_arrays(entry)
        key = None
        features_kind = features_key(features)
        if features_kind is not None:
            rows = _rows(features_kind[0], features)
            if rows is not None and rows > 0 and (max_rows is None or rows <= max_rows):
                outputs_kind = outputs_key(outputs, single_row=rows == 1)
                if outputs_kind is not None:
                    key = (features_kind, outputs_kind, id(owner))
        if features_kind is _FRAME and key is not None:
            if key == run_key and frames is not None and frames.add(features, rows):
                run.append(entry)
                continue
            flush()
            frames = FrameRun.start(features, rows)
            if frames is None:  # blocks that do not concatenate cheaply: read on its own
                key = None
            else:
                frame_type, frame_owner, frame_outputs = type(features), owner, key[1]
                if rows == 1:
                    run.append(entry)
                    run_key = key
                    taken = _take_frames(buffer, index + 1, frames, frame_type, owner, outputs, key[1])
                    run.extend(taken)
                    skip = index + 1 + len(taken)
                    continue
            run_key = key
        elif key is None or key != run_key:
            flush()
            run_key = key
        run.append(entry)
        if key is None:
            flush()
            run_key = None
    flush()
    return out


def _take_frames(
    buffer: list[tuple[Any, Any, Any]],
    start: int,
    frames: FrameRun,
    frame_type: type,
    owner: Any,
    outputs: Any,
    outputs_kind: tuple,
) -> list[tuple[Any, Any, Any]]:
    """Take the one-row frames that follow a run's first one-row frame into the run at once, column-major.

    The candidates are the following entries with a frame of the same type, the same owner and outputs of the
    same plain type; the leading ones that have one row, outputs with the first one's key and the run's schema
    join (checked in C loops, here and by :meth:`FrameRun.add_all`, rather than frame by frame). Candidates are
    looked at in windows that double while all join, so runs of one frame each cost O(1) here. Returns the
    entries taken; the caller offers the next ones one by one as before.
    """
    output_type = type(outputs)
    # Lists are keyed by the types of their items, and some one-row array outputs by whether they are
    # probabilities: those are offered one by one.
    if (
        output_type not in _PLAIN_TYPES
        or output_type is list
        or (len(outputs_kind) != 3 and output_type is np.ndarray)
    ):
        return []
    taken: list[tuple[Any, Any, Any]] = []
    end, n, window = start, len(buffer), 16
    owner_id = id(owner)  # owners compared by identity (their __eq__ is the model's business)
    while end < n:
        entries = buffer[end : end + window]
        count = len(entries)
        dfs = list(map(_FIRST, entries))
        others = list(map(_SECOND, entries))
        count = _same_prefix(list(map(type, dfs)), [frame_type] * count)
        count = _same_prefix(list(map(id, map(_THIRD, entries[:count]))), [owner_id] * count)
        count = _same_prefix(list(map(type, others[:count])), [output_type] * count)
        if output_type is np.ndarray:  # then the key is made of the shape and dtype (and single_row)
            count = _same_prefix(list(map(_SHAPE, others[:count])), [outputs.shape] * count)
            count = _same_prefix(list(map(_DTYPE, others[:count])), [outputs.dtype] * count)
        taken_now = frames.add_all(dfs[:count]) if count else 0
        taken.extend(entries[:taken_now])
        end += taken_now
        if taken_now < len(entries) or end >= n:
            break
        window *= 2
    return taken


def _same_prefix(got: list[Any], want: list[Any]) -> int:
    """How many leading items of ``got`` equal those of ``want`` (as long as ``want``)."""
    if got == want:
        return len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        if a is not b and a != b:
            return i
    return min(len(got), len(want))


_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_SHAPE = attrgetter("shape")
_DTYPE = attrgetter("dtype")


def _host_arrays(entry: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """The entry with tensor-likes converted to numpy and polars frames to arrow (here, in the folder), so they
    stack like arrays and arrow tables.

    Reading a tensor is reading the array it converts to (a polars frame, the arrow table it holds), so this
    changes no result; an object that fails to convert is left as it is, to be read (and counted as a fault)
    on its own.
    """
    features, outputs, owner = entry
    convert_features, convert_outputs = _converter(features), _converter(outputs)
    if convert_features is None and convert_outputs is None:
        return entry
    try:
        if convert_features is not None:
            features = convert_features(features)
        if convert_outputs is not None:
            outputs = convert_outputs(outputs)
    except Exception:  # noqa: BLE001 - read on its own, where the failure is counted
        return entry
    return features, outputs, owner


def _converter(obj: Any) -> Any:
    """How to convert ``obj`` before stacking (cached per type), or None."""
    t = type(obj)
    if t in _PLAIN_TYPES:
        return None
    try:
        return _converters[t]
    except KeyError:
        pass
    convert = None
    if t.__module__.startswith("polars"):
        if t.__name__ == "DataFrame":
            convert = _polars_to_arrow
    else:  # a tensor is what the tensor adapter reads (pandas and pyarrow objects have __array__ too)
        try:
            if isinstance(adapter_for(obj), TensorAdapter):
                convert = tensor_to_numpy
        except UnsupportedInput:
            pass
    _converters[t] = convert
    return convert


def _polars_to_arrow(frame: Any) -> Any:
    return frame.to_arrow()


_PLAIN_TYPES = frozenset({np.ndarray, dict, list, tuple, type(None)}) | _VALUES
_converters: dict[type, Any] = {}


class Stacked:
    """A batch made of several calls' inputs, with the calls kept for a call-by-call retry."""

    __slots__ = ("entries", "features")

    def __init__(self, features: Any, entries: list[tuple[Any, Any, Any]]) -> None:
        self.features = features
        self.entries = entries
