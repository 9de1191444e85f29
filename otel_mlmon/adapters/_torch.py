"""Adapter for torch tensors (torch is never imported: tensors are converted through their own methods)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.adapters._base import Column, Outputs, Table
from otel_mlmon.adapters._numpy import NumpyAdapter

__all__ = ["TorchAdapter", "tensor_to_numpy"]

_NUMPY = NumpyAdapter()


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A tensor on any device → a numpy array (bfloat16, which numpy lacks, becomes float32)."""
    t = t.detach()
    if str(t.dtype) == "torch.bfloat16":
        t = t.float()
    return t.cpu().numpy()


class TorchAdapter:
    """Reads ``torch.Tensor`` exactly like the numpy array it converts to (2-D rows, 1-D one row, ...)."""

    def accepts(self, obj: object) -> bool:
        """Tensors (checked by module name and methods, without importing torch)."""
        return type(obj).__module__.startswith("torch") and hasattr(obj, "detach") and hasattr(obj, "numpy")

    def batch_size(self, obj: object) -> int | None:
        """``shape[0]`` of a tensor of 2 or more dimensions, else 1."""
        shape = tuple(obj.shape)  # type: ignore[attr-defined]
        return int(shape[0]) if len(shape) >= 2 else 1

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
