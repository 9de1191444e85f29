"""Embedding drift side by side: our vector tests (from sketches) and the peers' methods on the same vectors.

Run: ``python bench/vector_peers.py [--windows N]`` from the repository root in the venv, after
``bench/setup-peers`` (or with ``OTEL_MLMON_PEERS_PYTHON`` naming an interpreter that has evidently 0.7 and,
optionally, alibi-detect). Each window draws a fresh mixture of eight clusters in 768 dimensions
(tests/collector/drift/vector_sim.py), a 2 000-row reference and a 2 000-row current window: no drift, a cluster going
from 12.5 % to 20 % of rows, a mean shift of one noise standard deviation along one direction, a new cluster on
5 % of rows. Every method sees the same rows and flags drift with its own default rule:

* ours: ``projections`` (the default), ``centroid``, ``mean_distance`` and ``sliced_ks`` at alpha 0.05, each
  side sketched first (the time includes sketching both sides);
* Evidently 0.7 embedding drift methods with their defaults: ``model`` (domain classifier ROC AUC > 0.55),
  ``distance`` (euclidean distance of the means > 0.2), ``ratio`` (share of components with Wasserstein drift
  > 0.2), ``mmd`` (MMD > 0.015);
* Alibi Detect ``MMDDrift`` on its PyTorch backend (CPU) with its defaults: Gaussian kernel with the median
  heuristic bandwidth, p-value from 100 permutations, drift at p < 0.05 (if it imports in the peers environment).

Prints the share of windows flagged per scenario (false alarms under no drift, power otherwise), the median
seconds per comparison and the peak traced memory (tracemalloc: Python and numpy allocations, not PyTorch's
tensors, so Alibi Detect's row also states the size of its kernel matrix) of one comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.collector.drift.vector_sim
from _peers import peers_python  # bench/ is on sys.path when run as a script
from otel_mlmon_collector.drift import Centroid, MeanDistance, Projections, SlicedKS, VectorColumn

from tests.collector.drift.vector_sim import SCENARIOS, full_rows, mixture

ROWS = 2_000

_PEER_SCRIPT = r"""
import json, statistics, sys, time, tracemalloc, warnings
import numpy as np
import pandas as pd
warnings.filterwarnings("ignore")
from evidently.legacy.metrics.data_drift.embedding_drift_methods import distance, mmd, model, ratio
references = np.load(sys.argv[1], mmap_mode="r")
data = np.load(sys.argv[2], mmap_mode="r")
methods = {"evidently model": model(), "evidently distance": distance(), "evidently ratio": ratio(),
           "evidently mmd": mmd()}
try:
    import torch
    from alibi_detect.cd import MMDDrift
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread, as numpy's BLAS for ours (docs/drift.md: threads spin on a busy host)
    def alibi(current, reference):
        # The detector is built on the reference (kernel bandwidth from it) and tests the current window: both
        # are part of one comparison, as for the others.
        detector = MMDDrift(reference.to_numpy(), backend="pytorch", p_val=0.05, n_permutations=100, device="cpu")
        return None, bool(detector.predict(current.to_numpy())["data"]["is_drift"]), "mmd"
    methods["alibi-detect MMDDrift (pytorch, cpu)"] = alibi
except ImportError as exc:  # not installed: the table goes without it, and says why
    print(f"alibi-detect not usable: {exc}", file=sys.stderr)
wanted = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else None
out = {}
for name, method in methods.items():
    if wanted is not None and not any(w in name for w in wanted):
        continue
    flags, seconds, peak = [], [], 0
    for w in range(data.shape[0]):
        ref = pd.DataFrame(np.asarray(references[w]))
        cur = pd.DataFrame(np.asarray(data[w]))
        tracemalloc.start()
        t = time.perf_counter()
        _, drift, _ = method(cur, ref)
        seconds.append(time.perf_counter() - t)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        flags.append(bool(drift))
    out[name] = {"flags": flags, "seconds": statistics.median(seconds), "peak": peak}
print(json.dumps(out))
"""

OURS = {
    "ours: projections (default)": Projections(),
    "ours: centroid": Centroid(),
    "ours: mean_distance": MeanDistance(),
    "ours: sliced_ks": SlicedKS(),
}


def _ours(references: np.ndarray, data: np.ndarray) -> dict[str, dict]:
    out = {}
    for name, method in OURS.items():
        flags, seconds, peak = [], [], 0
        for w in range(data.shape[0]):
            tracemalloc.start()
            t = time.perf_counter()
            result = method.compare(
                VectorColumn.from_values(references[w]), VectorColumn.from_values(data[w])
            )
            seconds.append(time.perf_counter() - t)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            flags.append(result.detected)
        out[name] = {"flags": flags, "seconds": statistics.median(seconds), "peak": peak}
    return out


def _peers(references: str, data: str, only: str) -> dict[str, dict]:
    python = peers_python()
    if python is None:
        print("(no peers environment: run bench/setup-peers or set OTEL_MLMON_PEERS_PYTHON)")
        return {}
    run = subprocess.run(
        [python, "-c", _PEER_SCRIPT, references, data, only], capture_output=True, text=True, timeout=7200
    )
    if run.returncode != 0:
        raise RuntimeError(f"peer benchmark failed:\n{run.stderr[-2000:]}")
    for line in run.stderr.splitlines():
        if line.startswith("alibi-detect not usable"):
            print(f"({line})")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20, help="windows per scenario")
    parser.add_argument("--reference", type=int, default=ROWS, help="reference rows (current: 2 000)")
    parser.add_argument(
        "--peers", default="", help="only the peer methods whose names contain one of these (comma-separated)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(12)
    scenarios = list(SCENARIOS)
    rows: dict[str, dict[str, list]] = {}
    seconds: dict[str, list[float]] = {}
    peaks: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenarios:
            references = np.empty((args.windows, args.reference, 768), dtype=np.float32)
            data = np.empty((args.windows, ROWS, 768), dtype=np.float32)
            for w in range(args.windows):
                mix = mixture(rng)
                references[w] = full_rows(rng, mix, args.reference)
                data[w] = full_rows(rng, SCENARIOS[scenario](rng, mix), ROWS)
            paths = os.path.join(tmp, "references.npy"), os.path.join(tmp, "windows.npy")
            np.save(paths[0], references)
            np.save(paths[1], data)
            for name, found in {**_ours(references, data), **_peers(*paths, args.peers)}.items():
                rows.setdefault(name, {})[scenario] = found["flags"]
                seconds.setdefault(name, []).append(found["seconds"])
                peaks[name] = max(peaks.get(name, 0), found["peak"])
    print(
        f"Windows flagged ({args.windows} per scenario; {args.reference:,} reference and 2,000 current rows, 768 dims)"
    )
    print(f"| method | {' | '.join(scenarios)} | seconds per comparison | peak memory |")
    print(f"|---|{'---|' * len(scenarios)}---|---|")
    for name, flags in rows.items():
        shares = " | ".join(f"{np.mean(flags[s]):.2f}" for s in scenarios)
        print(
            f"| {name} | {shares} | {statistics.median(seconds[name]):.3f} | {peaks[name] / 2**20:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
