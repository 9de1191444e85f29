"""The records the batched paths make without the frozen dataclass ``__init__`` are the dataclasses' own."""

from __future__ import annotations

import dataclasses
import math

import pytest
from otel_mlmon_collector._drift_engine.records import ColumnDrift, column_drift
from otel_mlmon_collector.drift import DriftResult
from otel_mlmon_collector.drift._base import make_result


def test_make_result_equals_the_dataclass() -> None:
    fields = ("ks", 0.25, 0.0, True, 0.001, 100, 90, 0.05, {"n_eff": 47.4})
    fast, slow = make_result(*fields), DriftResult(*fields)
    assert type(fast) is DriftResult and fast == slow and hash(fast.method) == hash(slow.method)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    assert repr(fast) == repr(slow) and fast.skipped is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.score = 1.0  # type: ignore[misc]
    skipped = make_result("psi", math.nan, 0.1, False, None, 0, 5, None, {"skipped": "empty"})
    assert skipped.skipped == "empty"
    assert dataclasses.replace(fast, score=0.5) == DriftResult(*fields[:1], 0.5, *fields[2:])


def test_column_drift_equals_the_dataclass() -> None:
    result = DriftResult("wasserstein", 0.3, 0.1, True, None, 10, 10)
    fields = ("confidence", ("prediction", "1"), "numeric", {"distribution": result}, True, result)
    fast, slow = column_drift(*fields), ColumnDrift(*fields)
    assert type(fast) is ColumnDrift and fast == slow and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.detected = False  # type: ignore[misc]
