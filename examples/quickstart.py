"""Quickstart: a decorated model exporting its spans and metrics to the console.

Run: python examples/quickstart.py
Set OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER to ``otlp`` (and OTEL_EXPORTER_OTLP_ENDPOINT) to send the same
telemetry to a collector or backend instead.
"""

from __future__ import annotations

import os

import numpy as np

import otel_mlmon

os.environ.setdefault("OTEL_TRACES_EXPORTER", "console")
os.environ.setdefault("OTEL_METRICS_EXPORTER", "console")
os.environ.setdefault("OTEL_LOGS_EXPORTER", "console")
telemetry = otel_mlmon.configure(service_name="quickstart")


@otel_mlmon.monitor(model="fraud", version="3")
def predict(X: np.ndarray) -> np.ndarray:
    """A stand-in model: flags rows whose first feature is large."""
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D batch, got shape {X.shape}")
    return (X[:, 0] > 1.0).astype(int)


rng = np.random.default_rng(0)
for rows in (1, 8, 32):
    predict(rng.normal(size=(rows, 4)))
try:
    predict(np.zeros(4))  # a malformed request: the error is recorded and re-raised unchanged
except ValueError as exc:
    print("predict failed as expected:", exc)
telemetry.shutdown()  # flushes spans and metrics
