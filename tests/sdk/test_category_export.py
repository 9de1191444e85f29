"""Category series as the SDK exports them: every category the sketch holds, or a documented cap with an exact
``__other__``; under cumulative temporality a category once exported keeps its series and ``__other__`` never
decreases."""

from __future__ import annotations

import pytest

import otel_mlmon
from otel_mlmon import conventions as conv
from otel_mlmon.summary import SummaryConfig
from otel_mlmon.testing import InMemoryTelemetry


def _monitor(telemetry: InMemoryTelemetry, export_categories: int | None = None):
    @otel_mlmon.monitor(
        model="m",
        categorical=["city"],
        max_rows=None,
        summary_config=SummaryConfig(max_categories=2048, export_categories=export_categories),
        **telemetry.providers,
    )
    def predict(records):
        return ["ok"] * len(records)

    return predict


def _rows(counts: dict[str, int]) -> list[dict[str, str]]:
    return [{"city": city} for city, n in counts.items() for _ in range(n)]


def _categories(telemetry: InMemoryTelemetry) -> dict[str, int]:
    points = telemetry.points(conv.METRIC_FEATURE_CATEGORY_COUNT)
    return {p.attributes[conv.ATTR_FEATURE_CATEGORY]: p.value for p in points}


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_every_category_the_sketch_holds_is_exported(temporality) -> None:
    """Without a cap, all 300 categories of a column are exported with their exact counts and no __other__."""
    telemetry = InMemoryTelemetry(temporality)
    try:
        predict = _monitor(telemetry)
        counts = {f"c{i}": 1 + i % 7 for i in range(300)}
        predict(_rows(counts))
        assert _categories(telemetry) == counts
    finally:
        telemetry.shutdown()


def test_cumulative_categories_once_exported_stay_exported() -> None:
    """With a cap of 3 and cumulative temporality, the first categories exported keep their series and growing
    counts when later categories overtake them, and __other__ holds exactly the rest and never decreases."""
    telemetry = InMemoryTelemetry("cumulative")
    try:
        predict = _monitor(telemetry, export_categories=3)
        totals: dict[str, int] = {}
        last_other = 0
        for step in range(5):
            # first a, b, c lead; from step 1 on, x, y, z take over with far more rows
            counts = (
                {"a": 30, "b": 20, "c": 10, "d": 5}
                if step == 0
                else {"a": 1, "x": 100 * step, "y": 90, "z": 80}
            )
            predict(_rows(counts))
            for city, n in counts.items():
                totals[city] = totals.get(city, 0) + n
            exported = _categories(telemetry)
            assert set(exported) == {"a", "b", "c", conv.OTHER_CATEGORY}
            assert {c: exported[c] for c in "abc"} == {c: totals.get(c, 0) for c in "abc"}
            assert exported[conv.OTHER_CATEGORY] == sum(totals.values()) - sum(
                totals.get(c, 0) for c in "abc"
            )
            assert exported[conv.OTHER_CATEGORY] >= last_other
            last_other = exported[conv.OTHER_CATEGORY]
    finally:
        telemetry.shutdown()


def test_delta_exports_each_intervals_largest_categories_and_the_exact_rest() -> None:
    """With a cap of 2 and delta temporality, each collection exports that interval's two largest categories and
    __other__ equal to the interval's other rows."""
    telemetry = InMemoryTelemetry("delta")
    try:
        predict = _monitor(telemetry, export_categories=2)
        for counts in ({"a": 30, "b": 20, "c": 10}, {"x": 50, "y": 40, "a": 1, "b": 2}):
            predict(_rows(counts))
            exported = _categories(telemetry)
            largest = sorted(counts, key=counts.__getitem__, reverse=True)[:2]
            assert exported == {
                **{c: counts[c] for c in largest},
                conv.OTHER_CATEGORY: sum(counts.values()) - sum(counts[c] for c in largest),
            }
    finally:
        telemetry.shutdown()


def test_export_categories_is_checked() -> None:
    """export_categories takes None or a positive int and survives with_kinds."""
    assert SummaryConfig(export_categories=5).with_kinds(categorical=["x"]).export_categories == 5
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="export_categories"):
            SummaryConfig(export_categories=bad)
