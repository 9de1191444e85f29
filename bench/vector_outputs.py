"""What an embedding output costs the summaries: one vector output column against one output per dimension.

Run: ``python bench/vector_outputs.py`` (``--repeat N``). One 64 x 768 float32 batch returned by a predict function
(what an embedder returns), through the SDK's summary path (``read_outputs`` + ``Summary.add_outputs``, into one
summary per variant, batch after batch, as within one export interval):

* as one vector output (the default: 64 seeded projections and the norm, 65 histograms);
* dimension by dimension, as before vector outputs (``vector_min_width=None``: 768 numeric outputs of which
  ``max_columns`` = 256 are kept and the rest dropped);
* the same matrix as an input (``read_features`` + ``Summary.add_features``: one vector column), for reference;

and one ``X @ Q`` matmul with the same 768 x 64 projection matrix, the floor of any projection sketch. Prints the
median time of each and ratios to the vector output path measured in the same run (absolute times are noisy on
shared machines; run with ``OPENBLAS_NUM_THREADS=1`` there, or a threaded BLAS waiting for a busy core dominates).
The input row is read as one array and goes to the same sketch as the output (issue 12 target: within 1.5x).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import numpy as np

from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.sketch.vector import Projection
from otel_mlmon.summary import Summary, SummaryConfig


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches (projection matrix, bucket mappings)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    logging.getLogger("otel_mlmon").setLevel(logging.ERROR)  # the per-dimension path logs its dropped columns
    X = np.random.default_rng(0).normal(size=(64, 768)).astype(np.float32)
    Q = Projection(dim=768).matrix()
    # One summary per variant, fed batch after batch, as within one export interval of the SDK.
    vector, per_dimension, as_input = Summary(), Summary(SummaryConfig(vector_min_width=None)), Summary()
    rows = {
        "vector output (default)": lambda: vector.add_outputs(read_outputs(X)),
        "one output per dimension (before)": lambda: per_dimension.add_outputs(read_outputs(X)),
        "the same matrix as an input": lambda: as_input.add_features(read_features(X)),
        "X @ Q matmul": lambda: X @ Q,
    }
    times = {name: _median_ms(fn, args.repeat) for name, fn in rows.items()}
    base = times["vector output (default)"]
    print(f"64 x 768 float32 batch, median of {args.repeat}:")
    for name, ms in times.items():
        print(f"  {name:36} {ms:8.3f} ms   {ms / base:6.2f} x the vector output")


if __name__ == "__main__":
    main()
