"""Offline drift: the collector's drift engine on files, DataFrames and past data, with text, JSON and HTML reports.

``compare(reference, current)`` runs one evaluation and ``replay(reference, current, by=..., every=...)`` one per
event-time window, both through the collector's own column checks and policy; ``otel-mlmon drift`` is the
command line over both. See docs/offline.md.
"""

from __future__ import annotations

from ._compare import DriftReport, compare
from ._replay import ReplayResult, replay

__all__ = ["DriftReport", "ReplayResult", "compare", "replay"]
