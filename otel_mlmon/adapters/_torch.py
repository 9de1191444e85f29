"""Former home of the torch adapter, now the duck-typed tensor adapter in ``_tensor``; kept for imports."""

from __future__ import annotations

from otel_mlmon.adapters._tensor import TensorAdapter, tensor_to_numpy

__all__ = ["TorchAdapter", "tensor_to_numpy"]

TorchAdapter = TensorAdapter
