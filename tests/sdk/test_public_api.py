"""The public API: every promised name imports, and importing the SDK stays light."""

from __future__ import annotations

import subprocess
import sys

import otel_mlmon


def test_every_promised_name_imports():
    """Each name in otel_mlmon.__all__ exists, and __all__ is sorted."""
    for name in otel_mlmon.__all__:
        assert hasattr(otel_mlmon, name), name
    assert list(otel_mlmon.__all__) == sorted(otel_mlmon.__all__)


def test_import_does_not_load_heavy_libraries():
    """import otel_mlmon loads neither scipy, pandas, pyarrow, torch nor the collector."""
    code = (
        "import sys, otel_mlmon; "
        "print(sorted(m for m in ('scipy', 'pandas', 'pyarrow', 'torch', 'grpc', 'otel_mlmon_collector') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_version():
    """otel-mlmon version prints the package version."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_mlmon.cli", "version"], capture_output=True, text=True, check=True
    )
    assert otel_mlmon.__version__ in result.stdout


def test_quickstart_example_runs():
    """examples/quickstart.py runs as the README says and prints the model's spans and metrics."""
    result = subprocess.run(
        [sys.executable, "examples/quickstart.py"], capture_output=True, text=True, timeout=120, check=True
    )
    assert '"name": "predict fraud"' in result.stdout
    assert "ml.inference.duration" in result.stdout
    assert "predict failed as expected" in result.stdout
