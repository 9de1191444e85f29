"""Reports what really happened, later and from another process: ml.ground_truth records joined by the collector.

    python examples/ground_truth/report_outcomes.py predictions.csv
Here the outcomes are simulated from the stored probabilities (a calibrated model); in production they come from
your systems (a CRM export, a chargeback feed...) keyed by the request id you stored with each prediction id.
"""

from __future__ import annotations

import csv
import sys

import numpy as np

import otel_mlmon

telemetry = otel_mlmon.configure(service_name="churn-outcomes")


def main(path: str, share: float = 0.8, seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    reported = [r for r in rows if rng.random() < share]  # some outcomes never arrive
    labels = ["leave" if rng.random() < float(r["p_leave"]) else "stay" for r in reported]
    otel_mlmon.record_ground_truth(
        model="churn", prediction_id=[r["prediction_id"] for r in reported], value=labels
    )
    telemetry.shutdown()
    print(f"reported {len(reported)} outcomes of {len(rows)} predictions")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "predictions.csv")
