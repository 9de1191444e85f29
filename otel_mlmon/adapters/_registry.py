"""Finds the adapter for an object's type (cached per type) without importing any optional library."""

from __future__ import annotations

from otel_mlmon.adapters._base import Adapter, UnsupportedInput
from otel_mlmon.adapters._convert import describe

__all__ = ["SUPPORTED", "adapter_for", "register"]

SUPPORTED = (
    "numpy arrays, pandas DataFrame/Series, pyarrow Table/RecordBatch/Array, polars DataFrame/Series, tensors "
    "(torch, JAX, TensorFlow, CuPy, MLX: anything with a shape and __array__, __dlpack__ or .numpy()), dicts of "
    "columns or of scalars, lists of dicts, lists of rows, lists of scalars, and scalars"
)

_ADAPTERS: list[Adapter] = []
_BY_TYPE: dict[type, Adapter | None] = {}


def register(adapter: Adapter) -> None:
    """Add an adapter, tried before those registered earlier (so a custom adapter can override a built-in).

    Args:
        adapter: an object implementing the :class:`~otel_mlmon.adapters.Adapter` protocol.
    """
    _ADAPTERS.insert(0, adapter)
    _BY_TYPE.clear()


def adapter_for(obj: object) -> Adapter:
    """The adapter that reads ``type(obj)``.

    Raises:
        UnsupportedInput: no adapter reads this type.
    """
    t = type(obj)
    try:
        adapter = _BY_TYPE[t]
    except KeyError:
        adapter = next((a for a in _ADAPTERS if a.accepts(obj)), None)
        _BY_TYPE[t] = adapter
    if adapter is None:
        raise UnsupportedInput(f"cannot read {describe(obj)}; supported: {SUPPORTED}")
    return adapter
