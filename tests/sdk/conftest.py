"""Fixtures for the SDK tests: in-memory providers per test."""

from __future__ import annotations

import pytest

from otel_mlmon.testing import InMemoryTelemetry


@pytest.fixture
def telemetry():
    t = InMemoryTelemetry()
    yield t
    t.shutdown()


@pytest.fixture
def delta_telemetry():
    t = InMemoryTelemetry(temporality="delta")
    yield t
    t.shutdown()
