"""A scoring service that records its predictions so outcomes reported later can be joined to them.

Run the collector with a ground_truth: section first (see README.md here), then:
    python examples/ground_truth/predict_service.py predictions.csv
It scores requests, and stores each prediction id with its request id (the business key the outcome will come with).
"""

from __future__ import annotations

import csv
import sys

import numpy as np

import otel_mlmon

telemetry = otel_mlmon.configure(service_name="churn-scoring")  # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT


@otel_mlmon.monitor(model="churn", version="2", classes=["stay", "leave"], record_predictions=1.0)
def predict_proba(X: np.ndarray) -> np.ndarray:
    """A stand-in classifier: churn probability rises with the first feature."""
    p = 1.0 / (1.0 + np.exp(-X[:, 0]))
    return np.column_stack([1.0 - p, p])


def main(path: str, requests: int = 20, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["request_id", "prediction_id", "p_leave"])
        for r in range(requests):
            X = rng.normal(size=(25, 3))
            proba = predict_proba(X)
            for i, prediction_id in enumerate(otel_mlmon.last_prediction_ids()):
                out.writerow([f"req-{r}-{i}", prediction_id, f"{proba[i, 1]:.6f}"])
    telemetry.shutdown()  # sends the buffered ml.prediction records
    print(f"scored {requests * 25} rows; prediction ids stored in {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "predictions.csv")
