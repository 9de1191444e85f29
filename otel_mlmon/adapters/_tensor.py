"""Adapter for tensor-likes (torch, JAX, TensorFlow, CuPy, MLX, ...), read by duck typing, never by import.

Any object with a ``shape`` and one of ``__array__``, ``__dlpack__`` or ``.numpy()`` reads exactly like the numpy
array it converts to (2-D = rows × features, 1-D = one row). No framework is imported: the object's own methods
do the conversion.

Cost on the hot path: only ``shape`` is read (for ``ml.batch.size``). The tensor itself is kept by reference and
converted when the background folder reads it, so a GPU batch is never copied to the host synchronously inside
the predict call. A batch of more than ``max_rows`` rows is cut to a row sample when the call is buffered
(:func:`take_rows`: a gather on the device, still no host copy), so the buffer never keeps a whole large batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, Outputs, Table, UnsupportedInput
from otel_mlmon.adapters._convert import describe
from otel_mlmon.adapters._numpy import NumpyAdapter

__all__ = ["TensorAdapter", "is_tensor_like", "sample_rows", "take_rows", "tensor_shape", "tensor_to_numpy"]

_NUMPY = NumpyAdapter()


def is_tensor_like(obj: object) -> bool:
    """Whether ``obj`` has a shape and converts to numpy through ``__array__``, ``__dlpack__`` or ``.numpy()``."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return False
    t = type(obj)
    if getattr(obj, "shape", None) is None:
        return False
    return hasattr(t, "__array__") or hasattr(t, "__dlpack__") or callable(getattr(obj, "numpy", None))


def tensor_shape(obj: Any) -> tuple[int, ...]:
    """The shape as ints (torch.Size, TensorShape and plain tuples alike); O(1), no data access."""
    return tuple(int(d) for d in obj.shape)


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A tensor on any device → a numpy array. Runs in the background folder, never in the predict call.

    The conversion asks the tensor itself, in this order: ``detach()`` (autograd), ``cpu()`` (device memory; what
    torch requires before ``.numpy()``), then ``.numpy()``, ``__array__``, ``.get()`` (CuPy's host copy) and
    ``__dlpack__``. bfloat16, which numpy lacks, becomes float32.
    """
    if callable(getattr(t, "detach", None)):
        t = t.detach()
    if "bfloat16" in str(getattr(t, "dtype", "")) and callable(getattr(t, "float", None)):
        t = t.float()  # torch: numpy has no bfloat16
    if callable(getattr(t, "cpu", None)):
        t = t.cpu()
    errors: list[str] = []
    for how in ("numpy", "__array__", "get", "__dlpack__"):
        convert = getattr(t, how, None)
        if not callable(convert):
            continue
        try:
            if how == "__array__":
                a = np.asarray(t)
            elif how == "__dlpack__":
                a = np.from_dlpack(t)
            else:
                a = np.asarray(convert())
        except (TypeError, ValueError, RuntimeError, BufferError, AttributeError) as exc:
            errors.append(f"{how}: {exc}")
            continue
        if a.dtype.kind == "V" and "bfloat16" in str(a.dtype):  # JAX/ml_dtypes bfloat16
            a = a.astype(np.float32)
        return a
    raise UnsupportedInput(f"cannot convert {describe(t)} to numpy ({'; '.join(errors) or 'no conversion'})")


def sample_rows(obj: Any, max_rows: int, rng: np.random.Generator) -> Any:
    """A uniform sample of ``max_rows`` rows of a tensor batch (in order), taken on its device; ``obj`` itself
    when it has at most ``max_rows`` rows or cannot be indexed by a list of rows."""
    shape = tensor_shape(obj)
    if len(shape) < 2 or shape[0] <= max_rows:
        return obj
    keep = np.sort(rng.choice(shape[0], size=max_rows, replace=False)).tolist()
    sampled = take_rows(obj, keep)
    return obj if sampled is None else sampled


def take_rows(obj: Any, keep: list[int]) -> Any:
    """``obj[keep]`` (a gather on the tensor's device: no host copy, no synchronisation), or None when the
    tensor cannot be indexed by a list of rows."""
    try:
        sampled = obj[keep]
    except (TypeError, IndexError, ValueError, NotImplementedError, RuntimeError):
        return None
    return sampled if tensor_shape(sampled)[:1] == (len(keep),) else None


class TensorAdapter:
    """Reads tensor-likes exactly like the numpy array they convert to (2-D rows, 1-D one row, ...)."""

    def accepts(self, obj: object) -> bool:
        """Objects with a ``shape`` and ``__array__``, ``__dlpack__`` or ``.numpy()`` (see is_tensor_like)."""
        return is_tensor_like(obj)

    def batch_size(self, obj: object) -> int | None:
        """``shape[0]`` of a tensor of 2 or more dimensions, else 1 (reads the shape only)."""
        shape = tensor_shape(obj)
        return shape[0] if len(shape) >= 2 else 1

    def read_features(self, obj: object, names: Sequence[str] | None, categorical: Collection[str]) -> Table:
        """Read as the equivalent numpy array."""
        return _NUMPY.read_features(tensor_to_numpy(obj), names, categorical)

    def read_outputs(
        self, obj: object, names: Sequence[str] | None, classes: Sequence | Mapping | None
    ) -> Outputs:
        """Read as the equivalent numpy array (logits are not probabilities: apply softmax first)."""
        return _NUMPY.read_outputs(tensor_to_numpy(obj), names, classes)

    def read_column(self, obj: object, name: str, categorical: bool, labels: bool) -> Column:
        """Read a 1-D tensor as one column."""
        return _NUMPY.read_column(tensor_to_numpy(obj), name, categorical, labels)
