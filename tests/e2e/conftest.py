"""The backend end-to-end tests share the collector tests' fixtures (real servers on loopback)."""

from tests.collector.conftest import (  # noqa: F401 - fixtures, found by name
    certificate,
    make_collector,
    otel_js,
    own_victoria_metrics,
    phoenix,
    victoria_metrics,
)
