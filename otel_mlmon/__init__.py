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
from otel_mlmon._records import last_prediction_ids
from otel_mlmon._summarize import folder as _folder
from otel_mlmon._version import __version__
from otel_mlmon.decisions import Columns, Threshold
from otel_mlmon.ground_truth import record_ground_truth
from otel_mlmon.profile import Profile
from otel_mlmon.summary import SummaryConfig

__all__ = [
    "Columns",
    "Monitor",
    "Profile",
    "SummaryConfig",
    "Telemetry",
    "Threshold",
    "__version__",
    "configure",
    "flush",
    "instrument",
    "last_prediction_ids",
    "monitor",
    "record_ground_truth",
    "uninstrument",
]


def flush() -> None:
    """Emit the buffered ``ml.prediction`` records now (they also go out every second in the background).

    :meth:`Telemetry.force_flush` and :meth:`Telemetry.shutdown` call it; with your own providers, call it before
    shutting down your logger provider.
    """
    _folder.flush()
