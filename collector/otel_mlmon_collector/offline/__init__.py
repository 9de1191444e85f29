"""Offline drift: the collector's drift engine on files, DataFrames and past data, with text, JSON and HTML reports.

``compare(reference, current)`` runs one evaluation, ``replay(reference, current, by=..., every=...)`` one per
event-time window; ``otel-mlmon drift`` is the command line over both. See docs/offline.md.
"""

from __future__ import annotations

from .compare import ColumnFinding, DriftReport, compare

__all__ = ["ColumnFinding", "DriftReport", "compare"]
