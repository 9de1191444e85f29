"""Run a peer library (whylogs, Evidently) in its own environment on data we hand it, and time it there.

Peers live in a separate virtual environment (``bench/setup-peers``) so they never enter the product's
dependencies; the benchmark writes the data to a temporary ``.npy`` file and runs a small script with that
environment's Python, which prints the median seconds of the timed call.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["EVIDENTLY_FLAGGED", "peers_python", "time_in_peers"]

_DEFAULT = Path(__file__).resolve().parent.parent / ".ci" / ".cache" / "peers-venv" / "bin" / "python"

#: Peer-side source of ``flagged_columns(snapshot)``: the columns an Evidently ``Report`` snapshot flags as drifted
#: (p-value methods below their threshold, distance methods at or above it), sorted.
EVIDENTLY_FLAGGED = """
def flagged_columns(snapshot):
    flagged = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            p_value_method = "p_value" in config["method"] or "test" in config["method"]
            if (value < threshold) if p_value_method else (value >= threshold):
                flagged.append(config["column"])
    return sorted(flagged)
"""


def peers_python() -> str | None:
    """The peers environment's interpreter (``OTEL_MLMON_PEERS_PYTHON`` or the default location), if present."""
    candidate = os.environ.get("OTEL_MLMON_PEERS_PYTHON") or str(_DEFAULT)
    return candidate if Path(candidate).exists() else None


def time_in_peers(
    script: str, arrays: dict[str, np.ndarray], repeat: int = 1, freeze_setup: bool = False
) -> dict | None:
    """Run ``script`` in the peers environment with ``arrays`` loaded as numpy arrays of the same names.

    The script must define ``run()``; it is timed ``repeat`` times after no warm-up (peers are slow enough) and
    may define ``result()`` returning JSON-serialisable extras. With ``freeze_setup``, the objects that exist once
    the script has run its top level (imports, data) are frozen out of the garbage collector before the timed runs
    (``gc.freeze()``), as the caller does on its own side. Returns ``{"seconds": ..., **extras}`` or None when no
    peers environment exists.
    """
    python = peers_python()
    if python is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, array in arrays.items():
            paths[name] = os.path.join(tmp, f"{name}.npy")
            np.save(paths[name], array, allow_pickle=False)
        driver = (
            "import json, statistics, time\nimport numpy as np\n"
            + "".join(f"{name} = np.load({path!r})\n" for name, path in paths.items())
            + script
            + ("\nimport gc\ngc.collect()\ngc.freeze()\n" if freeze_setup else "")
            + f"\ntimes = []\nfor _ in range({repeat}):\n    t = time.perf_counter()\n    run()\n"
            "    times.append(time.perf_counter() - t)\n"
            "extras = result() if 'result' in globals() else {}\n"
            "print(json.dumps({'seconds': statistics.median(times), **extras}))\n"
        )
        out = subprocess.run([python, "-c", driver], capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(f"peer benchmark failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
