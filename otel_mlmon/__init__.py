"""OpenTelemetry-native monitoring for machine-learning inference.

>>> import otel_mlmon
>>> @otel_mlmon.monitor(model="fraud", version="3")
... def predict(X):
...     return [0] * len(X)
"""

from __future__ import annotations

from otel_mlmon._configure import Telemetry, configure
from otel_mlmon._decorator import Monitor, monitor
from otel_mlmon._instrument import instrument, uninstrument
from otel_mlmon._version import __version__
from otel_mlmon.profile import Profile
from otel_mlmon.summary import SummaryConfig

__all__ = [
    "Monitor",
    "Profile",
    "SummaryConfig",
    "Telemetry",
    "__version__",
    "configure",
    "instrument",
    "monitor",
    "uninstrument",
]
