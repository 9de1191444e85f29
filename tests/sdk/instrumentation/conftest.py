"""Fixtures for the zero-code instrumentor tests: in-memory providers and an instrumentor undone after each test."""

from __future__ import annotations

import pytest

from otel_mlmon.testing import InMemoryTelemetry


@pytest.fixture
def telemetry():
    t = InMemoryTelemetry()
    yield t
    t.shutdown()


@pytest.fixture
def instrumented(telemetry):
    """``instrumented(**settings)`` instruments the libraries into ``telemetry``; undone at the end of the test."""
    from otel_mlmon.instrumentation import MlmonInstrumentor

    instrumentor = MlmonInstrumentor()

    def start(**settings):
        instrumentor.instrument(**telemetry.providers, **settings)
        return instrumentor

    yield start
    instrumentor.uninstrument()
