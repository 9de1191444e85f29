"""A monitored batch-scoring job: score a table chunk by chunk and write the predictions next to it.

Run (see batch_scoring.md for the collector side and what to look at in Grafana):
    python examples/batch_scoring.py --output scores.csv                      # a generated 20 000-row table
    python examples/batch_scoring.py --input table.csv --output scores.csv    # your table (the model's columns)
    python examples/batch_scoring.py --output scores.csv --reference-dir profiles --shift bmi=1.0

The model is a regressor of diabetes progression trained on the dataset that ships with scikit-learn. Each chunk is
one monitored ``predict`` call: a span (child of the job's span), its rows, latency and feature sketches. Telemetry
goes where the ``OTEL_*`` variables say; it is flushed before the job exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from opentelemetry import trace
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor

import otel_mlmon

MODEL_NAME = "diabetes-progression"
MODEL_VERSION = "1"


def train() -> tuple[HistGradientBoostingRegressor, pd.DataFrame]:
    """Fit the model on the bundled diabetes data; return it with its training features."""
    data = load_diabetes(as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(data.data, data.target)
    return model, data.data


def make_table(train_X: pd.DataFrame, rows: int, shift: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """A table to score: rows resampled from the training data, some columns shifted by k standard deviations.

    Resampled without added noise on purpose: ``sex`` takes two values and ``s4`` few, so jitter alone would be a
    real change of their distributions, and the drift dashboard would rightly show it.
    """
    rng = np.random.default_rng(seed)
    table = train_X.iloc[rng.integers(0, len(train_X), rows)].reset_index(drop=True)
    for column, k in shift.items():
        table[column] += k * train_X[column].std()
    return table


def chunks(source: pd.DataFrame | Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The table in chunks: a CSV is streamed from disk, never loaded whole."""
    if isinstance(source, Path):
        yield from pd.read_csv(source, chunksize=chunk_size)
    else:
        for start in range(0, len(source), chunk_size):
            yield source.iloc[start : start + chunk_size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, help="CSV with the model's feature columns (default: generated)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="CSV to write: the row number and prediction"
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the generated table")
    parser.add_argument("--chunk-size", type=int, default=1_000, help="rows per monitored predict call")
    parser.add_argument(
        "--shift", action="append", default=[], metavar="COLUMN=K", help="shift a generated column by K std"
    )
    parser.add_argument(
        "--reference-dir", type=Path, help="also save the training data's reference profile here"
    )
    args = parser.parse_args(argv)
    shift = {name: float(k) for name, k in (item.split("=", 1) for item in args.shift)}

    os.environ.setdefault("OTEL_SERVICE_NAME", "batch-scoring")
    telemetry = otel_mlmon.configure()  # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (default localhost:4318)
    model, train_X = train()
    if args.reference_dir is not None:
        # What the collector's drift section compares this job's inputs and predictions with.
        profile = otel_mlmon.Profile.from_data(
            train_X, model.predict(train_X), model=MODEL_NAME, version=MODEL_VERSION
        )
        saved = profile.save(args.reference_dir / f"{MODEL_NAME}-{MODEL_VERSION}.json.gz")
        print(f"reference profile: {saved}")
    otel_mlmon.instrument(model, model=MODEL_NAME, version=MODEL_VERSION, methods=["predict"])

    source = args.input if args.input is not None else make_table(train_X, args.rows, shift)
    tracer = trace.get_tracer("examples.batch_scoring")
    started = time.perf_counter()
    rows = calls = 0
    try:
        with tracer.start_as_current_span("score table", attributes={"ml.model.name": MODEL_NAME}) as job:
            with open(args.output, "w", newline="") as out:
                out.write("row,prediction\n")
                for chunk in chunks(source, args.chunk_size):
                    predictions = model.predict(
                        chunk[model.feature_names_in_]
                    )  # one monitored call per chunk
                    pd.DataFrame({"row": chunk.index, "prediction": predictions}).to_csv(
                        out, header=False, index=False
                    )
                    rows += len(chunk)
                    calls += 1
            job.set_attribute("batch.rows", rows)
    finally:
        telemetry.shutdown()  # a batch job exits right after: flush spans and metrics now
    elapsed = time.perf_counter() - started
    print(
        f"scored {rows} rows in {calls} chunks in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s) -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
