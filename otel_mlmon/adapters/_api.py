"""The three entry points the decorator and profiles call: batch_size, read_features, read_outputs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from otel_mlmon.adapters._arrow import ArrowAdapter
from otel_mlmon.adapters._base import Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import describe
from otel_mlmon.adapters._mapping import MappingAdapter
from otel_mlmon.adapters._numpy import NumpyAdapter
from otel_mlmon.adapters._pandas import PandasAdapter
from otel_mlmon.adapters._registry import adapter_for, register
from otel_mlmon.adapters._scalar import ScalarAdapter
from otel_mlmon.adapters._sequence import SequenceAdapter
from otel_mlmon.adapters._tensor import TensorAdapter

__all__ = ["batch_size", "read_features", "read_outputs"]

# Later registrations are tried first: numpy scalars go to numpy, not to scalars; pandas and pyarrow objects
# (which also expose __array__) to their own adapters before the duck-typed tensor adapter.
for _adapter in reversed(
    (
        NumpyAdapter(),
        PandasAdapter(),
        ArrowAdapter(),
        TensorAdapter(),
        MappingAdapter(),
        SequenceAdapter(),
        ScalarAdapter(),
    )
):
    register(_adapter)

# Errors a library may raise on data we passed the type checks for; reported as UnsupportedInput.
_DATA_ERRORS = (ValueError, TypeError, OverflowError, ArithmeticError, AttributeError)


def batch_size(obj: Any) -> int | None:
    """The number of rows in an input, in O(1) and without copying.

    Returns:
        The batch length for batch inputs (2-D arrays, DataFrames, tables, dicts of columns, lists of
        dicts or rows), 1 for a single row (1-D array, Series, dict of scalars, list of scalars, scalar),
        None when unknown (unsupported types, None, an empty dict).
    """
    try:
        return adapter_for(obj).batch_size(obj)
    except UnsupportedInput:
        return None
    except _DATA_ERRORS:
        return None


def _frozen(names: Collection[str]) -> Collection[str]:
    return names if isinstance(names, (set, frozenset)) else frozenset(names)


def read_features(
    obj: Any, *, names: Sequence[str] | None = None, categorical: Collection[str] = ()
) -> Table:
    """Read a predict call's input as a feature table.

    Args:
        obj: the input (see docs/adapters.md for the supported kinds).
        names: column names for inputs without their own (arrays, lists of rows, tensors), e.g. a model's
            ``feature_names_in_``; ignored by inputs that name their columns (DataFrames, dicts, tables).
        categorical: names of columns to read as categorical even when they hold numbers (names not in
            the input are ignored).

    Returns:
        The columns, numeric (float64, NaN = missing) or categorical (object str, None = missing).

    Raises:
        UnsupportedInput: the type or shape cannot be read; the message says what is supported.
    """
    try:
        return adapter_for(obj).read_features(obj, names, _frozen(categorical))
    except UnsupportedInput:
        raise
    except _DATA_ERRORS as exc:
        raise UnsupportedInput(f"cannot read {describe(obj)} as features: {exc}") from exc


def read_outputs(
    obj: Any, *, names: Sequence[str] | None = None, classes: Sequence | Mapping | None = None
) -> Outputs:
    """Read a predict call's return value as outputs.

    Args:
        obj: the return value: labels, regression values, probability matrices, dicts, tuples, ...
        names: output names: one name for a single output (default ``prediction``; a 2-D multi-output
            matrix then gets ``name_0, name_1, ...``), one per column of a 2-D matrix, or one per element
            of a tuple/list of outputs (default ``output_0, output_1, ...``).
        classes: class labels for the columns of a probability matrix (e.g. an estimator's ``classes_``);
            for several outputs, a list with one array per output or a dict by output name.

    Returns:
        The predicted value or label per row of each output, and the max probability per row of outputs
        that were probability matrices. An embedding (a 2-D float output at least 64 columns wide that is not
        probabilities, or a list of such 1-D rows) is one column of kind ``vector`` holding the ``(n, d)``
        matrix (docs/adapters.md, "Outputs").

    Raises:
        UnsupportedInput: the type or shape cannot be read; the message says what is supported.
    """
    try:
        return adapter_for(obj).read_outputs(obj, names, classes)
    except UnsupportedInput:
        raise
    except _DATA_ERRORS as exc:
        raise UnsupportedInput(f"cannot read {describe(obj)} as outputs: {exc}") from exc
