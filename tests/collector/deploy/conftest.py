"""Shared helpers of the deployment tests: where the deploy files are, and finding the real binaries they need.

Binaries come from ``.ci/.cache`` (``.ci/install-prometheus``, ``.ci/install-backends``) or from the environment
(``OTEL_MLMON_PROMTOOL_BIN``, ``OTEL_MLMON_VICTORIA_METRICS_BIN``). A missing binary fails the test when ``CI`` is
set (a silent skip in CI is not a pass) and skips it with the reason otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "collector" / "deploy"
CACHE = REPO / ".ci" / ".cache"
PROMTOOL_BIN_ENV = "OTEL_MLMON_PROMTOOL_BIN"
VM_BIN_ENV = "OTEL_MLMON_VICTORIA_METRICS_BIN"


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"unavailable in CI: {reason}")
    pytest.skip(reason)


def find_binary(env: str, default: Path, install_hint: str) -> str:
    """The executable named by ``env`` or at ``default``; unavailable() when there is none."""
    binary = os.environ.get(env) or str(default)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        unavailable(f"{Path(binary).name} not found at {binary} (run {install_hint} or set {env})")
    return binary


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian 12's Prometheus 2.42)."""
    return find_binary(
        PROMTOOL_BIN_ENV, CACHE / "prometheus" / "usr" / "bin" / "promtool", ".ci/install-prometheus"
    )
