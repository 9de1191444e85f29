"""A monitored async-generator model: scores a request's rows in small steps and streams each result as it is ready.

Run (see streaming_model.md for the collector side and what to look at in Grafana):
    python examples/streaming_model.py                 # 40 concurrent streams, some clients leave early
    python examples/streaming_model.py --streams 200 --step 4

The model is a digit classifier trained on the 8x8 digit images that ship with scikit-learn. ``classify_stream``
is an ``async`` generator decorated with ``@otel_mlmon.monitor``: one span per stream, from the first item to the
last (or to the moment the consumer stops), never holding an OpenTelemetry context across a ``yield``; rows,
latency and the input's feature sketches are recorded like for any other call, plus the time to the first result
and per later result (``gen_ai.client.operation.time_to_first_chunk`` / ``…time_per_output_chunk``). Scoring runs
in a worker thread (``asyncio.to_thread``) so the event loop keeps serving the other streams.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import otel_mlmon

MODEL_NAME = "digits"
MODEL_VERSION = "1"

digits = load_digits()
X_train, X_live, y_train, y_live = train_test_split(digits.data, digits.target, test_size=0.5, random_state=0)
model = LogisticRegression(max_iter=2000).fit(X_train / 16.0, y_train)
PIXELS = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]


@otel_mlmon.monitor(model=MODEL_NAME, version=MODEL_VERSION, feature_names=PIXELS)
async def classify_stream(images: np.ndarray, step: int = 8) -> AsyncIterator[dict[str, float | int]]:
    """Yield ``{"row", "digit", "confidence"}`` for each image, scoring ``step`` images at a time."""
    for start in range(0, len(images), step):
        proba = await asyncio.to_thread(model.predict_proba, images[start : start + step] / 16.0)
        for offset, p in enumerate(proba):
            yield {"row": start + offset, "digit": int(p.argmax()), "confidence": float(p.max())}


async def client(images: np.ndarray, step: int, leave_after: int | None) -> int:
    """Consume one stream; a client that leaves early closes it (the span still ends, status OK)."""
    received = 0
    stream = classify_stream(images, step=step)
    try:
        async for _ in stream:
            received += 1
            if leave_after is not None and received >= leave_after:
                break
    finally:
        await stream.aclose()  # what a web framework does when the client disconnects
    return received


async def run(streams: int, step: int, seed: int) -> tuple[int, int]:
    """Run ``streams`` concurrent clients over requests of 5-60 images; every fifth leaves after 3 results."""
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(streams):
        rows = int(rng.integers(5, 61))
        requests.append((X_live[rng.integers(0, len(X_live), rows)], 3 if i % 5 == 4 else None))
    received = await asyncio.gather(*(client(images, step, leave) for images, leave in requests))
    return sum(len(images) for images, _ in requests), sum(received)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=40, help="concurrent client streams")
    parser.add_argument("--step", type=int, default=8, help="images scored per step of a stream")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OTEL_SERVICE_NAME", "digit-streams")
    telemetry = otel_mlmon.configure()  # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (default localhost:4318)
    try:
        requested, received = asyncio.run(run(args.streams, args.step, args.seed))
    finally:
        telemetry.shutdown()
    print(f"{args.streams} streams: {requested} images requested, {received} results delivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
