"""The zero-code path end to end: an unchanged scikit-learn + LightGBM script under ``opentelemetry-instrument``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")
pytest.importorskip("opentelemetry.distro")

ROOT = Path(__file__).resolve().parents[3]

#: The user's script: it imports and calls its models and knows nothing about monitoring.
APP = """
import numpy as np
import lightgbm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(0)
X = rng.normal(size=(200, 3))
y = (X[:, 0] > 0).astype(int)
pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
gbm = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
for _ in range(3):
    pipe.predict(X[:4])
    gbm.predict_proba(X[:5])
print("done")
"""


def _entry_point_path(tmp_path: Path) -> list[str]:
    """Where the ``opentelemetry_instrumentor`` entry point is found: the installed metadata, or (a checkout
    not yet reinstalled) a minimal distribution declaring the same entry point as pyproject.toml."""
    declared = metadata.entry_points(group="opentelemetry_instrumentor", name="otel_mlmon")
    if any(ep.value == "otel_mlmon.instrumentation:MlmonInstrumentor" for ep in declared):
        return []
    info = tmp_path / "ep" / "otel_mlmon_entry_point-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otel-mlmon-entry-point\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[opentelemetry_instrumentor]\notel_mlmon = otel_mlmon.instrumentation:MlmonInstrumentor\n"
    )
    return [str(tmp_path / "ep")]


def _run(tmp_path: Path, **env: str) -> list[dict]:
    """Run the script under opentelemetry-instrument with console exporters; the JSON objects it printed."""
    command = Path(sys.executable).parent / "opentelemetry-instrument"
    if not command.exists():
        pytest.skip("opentelemetry-instrument is not installed (pip install 'otel-mlmon[auto]')")
    script = tmp_path / "app.py"
    script.write_text(APP)
    path = [*_entry_point_path(tmp_path), str(ROOT), str(ROOT / "collector")]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    run_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "zero-code-app",
        **env,
    }
    done = subprocess.run(
        [str(command), sys.executable, str(script)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done" in done.stdout
    return _json_objects(done.stdout)


def _json_objects(text: str) -> list[dict]:
    """The console exporters print one JSON document per span and per metrics export, between other output."""
    decoder = json.JSONDecoder()
    objects, i = [], 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return objects
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        objects.append(obj)
        i = end


def _metric_points(objects: list[dict]) -> dict[str, list[dict]]:
    points: dict[str, list[dict]] = {}
    for obj in objects:
        for resource in obj.get("resource_metrics", []):
            for scope in resource["scope_metrics"]:
                for metric in scope["metrics"]:
                    points.setdefault(metric["name"], []).extend(metric["data"]["data_points"])
    return points


def test_unchanged_script_gets_spans_and_metrics_named_by_class(tmp_path):
    """Under opentelemetry-instrument, each predict call of the unchanged script is one ``predict <ClassName>``
    span (fit and the pipeline's steps make none), and the ml.inference.* metrics carry the class names."""
    objects = _run(tmp_path)
    spans = [o for o in objects if "context" in o and "name" in o]
    assert sorted(s["name"] for s in spans) == ["predict LGBMClassifier"] * 3 + ["predict Pipeline"] * 3
    assert {s["attributes"]["ml.operation"] for s in spans if s["name"] == "predict LGBMClassifier"} == {
        "predict_proba"
    }
    points = _metric_points(objects)
    predictions = points["ml.inference.predictions"]
    by_model = {p["attributes"]["ml.model.name"]: p["value"] for p in predictions}
    assert by_model == {"Pipeline": 12, "LGBMClassifier": 15}
    for metric in ("ml.inference.duration", "ml.inference.batch.size"):
        calls = points[metric]
        assert {p["attributes"]["ml.model.name"] for p in calls} == {"Pipeline", "LGBMClassifier"}
        assert all(p["count"] == 3 for p in calls)
    assert "ml.feature.distribution" in points  # the summaries, as with the decorator


def test_disabled_instrumentation_leaves_the_script_alone(tmp_path):
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_mlmon turns the zero-code monitoring off."""
    objects = _run(tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="otel_mlmon")
    assert not [o for o in objects if str(o.get("name", "")).startswith("predict")]
    assert "ml.inference.predictions" not in _metric_points(objects)
