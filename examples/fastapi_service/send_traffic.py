"""Send real traffic to the example service: batches of rows from the breast-cancer data, optionally shifted.

    python send_traffic.py --url http://127.0.0.1:8000 --requests 200
    python send_traffic.py --url http://127.0.0.1:8000 --requests 200 --shift "mean radius=1.5"   # drift

``--shift NAME=K`` moves one feature by K standard deviations, so the drift dashboard has something to show.
Prints the rows and requests sent; uses the standard library only, besides scikit-learn for the data.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

import numpy as np
from sklearn.datasets import load_breast_cancer


def post(url: str, rows: list[list[float]]) -> int:
    """POST one batch; return the HTTP status."""
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps({"rows": rows}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--max-batch", type=int, default=32, help="rows per request: 1 to this, at random")
    parser.add_argument("--shift", action="append", default=[], metavar="NAME=K")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with urllib.request.urlopen(f"{args.url}/model", timeout=30) as response:
        features = json.loads(response.read())["features"]
    data = load_breast_cancer()
    X = data.data[:, [list(data.feature_names).index(name) for name in features]].copy()
    for item in args.shift:
        name, k = item.split("=", 1)
        column = features.index(name)
        X[:, column] += float(k) * X[:, column].std()
    rng = np.random.default_rng(args.seed)
    rows = failed = 0
    for _ in range(args.requests):
        batch = X[rng.integers(0, len(X), int(rng.integers(1, args.max_batch + 1)))]
        if post(args.url, batch.tolist()) == 200:
            rows += len(batch)
        else:
            failed += 1
    print(f"sent {rows} rows in {args.requests - failed} requests ({failed} failed)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
