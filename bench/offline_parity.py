"""Offline drift side by side with Evidently's DataDriftPreset: the same files, which columns each flags, the time.

Run: ``python bench/offline_parity.py`` (``--quick`` for smaller files). Writes a reference and a current CSV
file with graded, known changes per column (none, tiny, small, large mean shifts, a scale change, a category mix
change, more missing values), then runs ``otel_mlmon_collector.compare`` on the files and Evidently's
``DataDriftPreset`` (in the peers environment, ``bench/setup-peers``) on the same files, each timed from reading
the files to the per-column decisions. Prints one row per column and the ratio of the two times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _peers import time_in_peers
from otel_mlmon_collector.offline import compare

#: column -> (what changes in the current file, how)
CHANGES = {
    "n_same": "none",
    "n_same_2": "none",
    "n_shift_002": "mean +0.02 sd",
    "n_shift_005": "mean +0.05 sd",
    "n_shift_01": "mean +0.1 sd",
    "n_shift_05": "mean +0.5 sd",
    "n_scale_12": "sd x1.2",
    "amount_same": "none (lognormal)",
    "amount_x11": "x1.1 (lognormal)",
    "c_same": "none",
    "c_mix_small": "one category +3 points",
    "c_mix_large": "one category +20 points",
    "m_missing": "missing 2% -> 8%",
}

_EVIDENTLY = """
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
flagged, methods = [], {}
def run():
    ref = pd.read_csv(REFERENCE)
    cur = pd.read_csv(CURRENT)
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    flagged.clear()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            methods[config["column"]] = config["method"]
            p_value_method = "p_value" in config["method"] or "test" in config["method"]
            if (value < threshold) if p_value_method else (value >= threshold):
                flagged.append(config["column"])
def result():
    return {"flagged": sorted(flagged), "methods": methods}
"""


def make(rng: np.random.Generator, n: int, current: bool) -> pd.DataFrame:
    """One file's rows; ``current`` applies the changes of :data:`CHANGES`."""
    cats = np.array(["a", "b", "c", "d", "e"])
    base = [0.4, 0.25, 0.15, 0.12, 0.08]

    def mix(extra: float) -> np.ndarray:
        p = np.array(base)
        if current:
            p = p * (1 - extra)
            p[4] += extra
        return cats[rng.choice(5, size=n, p=p / p.sum())]

    shift = (lambda d: d) if current else (lambda d: 0.0)
    missing = rng.normal(size=n)
    missing[rng.random(n) < (0.08 if current else 0.02)] = np.nan
    return pd.DataFrame(
        {
            "n_same": rng.normal(size=n),
            "n_same_2": rng.normal(10, 3, size=n),
            "n_shift_002": rng.normal(shift(0.02), 1, size=n),
            "n_shift_005": rng.normal(shift(0.05), 1, size=n),
            "n_shift_01": rng.normal(shift(0.1), 1, size=n),
            "n_shift_05": rng.normal(shift(0.5), 1, size=n),
            "n_scale_12": rng.normal(0, 1.2 if current else 1.0, size=n),
            "amount_same": rng.lognormal(3, 1, size=n),
            "amount_x11": rng.lognormal(3, 1, size=n) * (1.1 if current else 1.0),
            "c_same": mix(0.0),
            "c_mix_small": mix(0.03),
            "c_mix_large": mix(0.2),
            "m_missing": missing,
        }
    )


def run(reference_rows: int, current_rows: int) -> None:
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as directory:
        ref_path, cur_path = Path(directory) / "reference.csv", Path(directory) / "current.csv"
        make(rng, reference_rows, current=False).to_csv(ref_path, index=False)
        make(rng, current_rows, current=True).to_csv(cur_path, index=False)
        started = time.perf_counter()
        report = compare(ref_path, cur_path)
        ours = time.perf_counter() - started
        script = f"REFERENCE = {str(ref_path)!r}\nCURRENT = {str(cur_path)!r}\n" + _EVIDENTLY
        theirs = time_in_peers(script, {})
    print(f"\n== {reference_rows:,} reference rows, {current_rows:,} current rows, {len(CHANGES)} columns ==")
    print(f"{'column':14} {'change':26} {'otel-mlmon':24} {'Evidently':24}")
    for name, change in CHANGES.items():
        finding = report[name]
        mine = f"{'DRIFT' if finding.drifted else 'no'} ({finding.method})"
        if theirs is None:
            peer = "-"
        else:
            peer = f"{'DRIFT' if name in theirs['flagged'] else 'no'} ({theirs['methods'].get(name, '?')})"
        print(f"{name:14} {change:26} {mine:24} {peer:24}")
    print(f"otel-mlmon compare (read files, sketch, evaluate)  {ours * 1e3:10.1f} ms")
    if theirs is None:
        print("Evidently: no peers environment (run bench/setup-peers)")
        return
    print(f"Evidently DataDriftPreset (read files, evaluate)    {theirs['seconds'] * 1e3:10.1f} ms")
    print(f"ratio: Evidently time / otel-mlmon time             {theirs['seconds'] / ours:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller files")
    args = parser.parse_args()
    for reference_rows, current_rows in ((20_000, 2_000), (100_000, 20_000)):
        if args.quick:
            reference_rows, current_rows = reference_rows // 10, current_rows // 10
        run(reference_rows, current_rows)


if __name__ == "__main__":
    main()
