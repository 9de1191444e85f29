"""The embeddings-and-text example runs as a real process, through a real collector, and finds the drift it should.

The example starts its collector in its own process (from its collector.yaml, on a free loopback port) and writes
what the collector's drift engine found after each phase of traffic to a JSON file, which this test reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES

SCRIPT = EXAMPLES / "embeddings_and_text" / "run.py"
ROWS = 1000
TEXT = ("query.chars", "query.words")  # the descriptors a longer, other-topic text must move


def _columns(found: dict[str, Any], model: str, target: str = "feature") -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in found[model]["columns"] if c["target"] == target}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One run of the example (about 10-20 s): its findings and everything it printed."""
    out = tmp_path_factory.mktemp("embeddings") / "findings.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", str(ROWS), "--json", str(out)],
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    return json.loads(Path(out).read_text()), printed


@pytest.mark.e2e
def test_normal_traffic_is_compared_and_nothing_drifts(run) -> None:
    """Every model's stream got all the rows and was compared column by column (vector and text descriptors
    included), and no column of any model is flagged."""
    found, _ = run
    normal = found["normal"]
    for model in ("topic-classifier", "embedder", "faq-search"):
        assert normal[model]["rows"] == ROWS, model
        assert [c["name"] for c in normal[model]["columns"] if c["detected"]] == [], model
    vector = _columns(normal, "faq-search")["vector"]
    assert vector["kind"] == "vector" and vector["method"] == "projections"
    assert vector["n_current"] == ROWS and vector["p_value"] > 0.05
    # The embedder's own output (384 dimensions) is one vector output column, not 384 outputs.
    (embedding,) = _columns(normal, "embedder", "output").values()
    assert (embedding["name"], embedding["kind"], embedding["method"]) == (
        "prediction",
        "vector",
        "projections",
    )
    assert embedding["n_current"] == ROWS and embedding["p_value"] > 0.05
    for model in ("topic-classifier", "embedder"):
        compared = _columns(normal, model)
        assert set(TEXT) <= set(compared), model
        assert all(compared[name]["n_current"] == ROWS for name in TEXT)
        vocabulary = compared["query.vocabulary"]
        assert (vocabulary["kind"], vocabulary["method"]) == ("vocabulary", "vocabulary"), model
    assert "prediction" in _columns(normal, "topic-classifier", "output")


@pytest.mark.e2e
def test_shifted_traffic_flags_the_vectors_and_the_text_columns(run) -> None:
    """A third of the questions about a new topic in texts twice as long: the embeddings' vector columns drift
    (the embedder's output and the search's input, projections test), and so do the length descriptors and the
    vocabulary of the text models' input."""
    found, _ = run
    shifted = found["shifted"]
    vector = _columns(shifted, "faq-search")["vector"]
    assert vector["detected"] and vector["method"] == "projections" and vector["p_value"] < 1e-6
    for model in ("topic-classifier", "embedder"):
        columns = _columns(shifted, model)
        assert all(columns[name]["detected"] for name in TEXT), (model, columns)
        # New words: the hashed vocabulary of the questions moves too.
        assert columns["query.vocabulary"]["detected"] and columns["query.vocabulary"]["p_value"] < 1e-6
    # The embeddings drift where they leave the embedder as where they enter the search.
    embedding = _columns(shifted, "embedder", "output")["prediction"]
    assert embedding["detected"] and embedding["kind"] == "vector" and embedding["p_value"] < 1e-6
    # The model outputs follow: the classifier routes the new questions to some old topic, search to other entries.
    assert _columns(shifted, "topic-classifier", "output")["prediction"]["detected"]
    assert _columns(shifted, "faq-search", "output")["prediction"]["detected"]


@pytest.mark.e2e
def test_the_printed_findings_name_the_drift_and_no_error(run) -> None:
    """What the user reads: both phases, the drifted columns with their method, and no error or traceback."""
    _, printed = run
    assert "== normal traffic ==" in printed and "== shifted traffic ==" in printed
    normal = printed.split("== shifted traffic ==")[0]
    assert "DRIFT" not in normal
    lines = [line.split()[:4] for line in printed.splitlines()]
    assert ["DRIFT", "feature", "vector", "projections"] in lines
    assert ["DRIFT", "output", "prediction", "projections"] in lines
    assert ["DRIFT", "feature", "query.vocabulary", "vocabulary"] in lines
    assert "ERROR" not in printed and "Traceback" not in printed
