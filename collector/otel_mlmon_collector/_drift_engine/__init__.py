"""The drift engine: compares each monitored model's recent traffic with its reference profile, column by column.

A pipeline processor (:class:`DriftProcessor`) keeps windows of the sketches it receives and, every
``evaluation_interval_seconds``, checks every column against the model's reference through the model's
:class:`~otel_mlmon_collector.drift.DriftPolicy`, then emits ``ml.drift.*`` gauges and ``ml.drift.changed``
events. The package holds one concept per module:

* ``config.py``: :class:`DriftConfig`, the ``drift:`` section of the collector's YAML;
* ``records.py``: what an evaluation found (:class:`Evaluation`, :class:`StreamDrift`, :class:`ColumnDrift`);
* ``sources.py``: which reference providers are asked (profile directory, MLflow, trailing traffic);
* ``columns.py``: pairing live and reference columns, planning and running their checks, deciding drift;
* ``encoding.py``: the gauges and events that leave the engine;
* ``processor.py``: :class:`DriftProcessor`, the lifecycle and the evaluation loop.

See docs/drift-engine.md.
"""

from __future__ import annotations

from .config import CHECKS, DriftConfig
from .processor import DriftProcessor
from .records import ColumnDrift, Evaluation, StreamDrift, UnmatchedColumns

__all__ = [
    "CHECKS",
    "ColumnDrift",
    "DriftConfig",
    "DriftProcessor",
    "Evaluation",
    "StreamDrift",
    "UnmatchedColumns",
]
