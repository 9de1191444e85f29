"""Column kinds through @monitor: rows and kinds stay right whatever the calls look like."""

from __future__ import annotations

import otel_mlmon
from otel_mlmon import conventions as conv


def _points(telemetry, metric, feature):
    return telemetry.points(metric, {conv.ATTR_FEATURE_NAME: feature})


def test_one_conversation_per_call_is_one_row_per_call(telemetry):
    """Many calls with one chat conversation each count one row per call, each conversation on its own."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(messages):
        return 0.0

    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    for _ in range(40):
        predict(conversation)
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 40
    (chars,) = _points(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "messages.user.chars")
    assert (chars.count, chars.min, chars.max) == (40, 11.0, 11.0)


def test_a_column_keeps_its_kind_across_calls_and_collections(telemetry):
    """A dict field decided as categorical stays categorical; later text-like values count as __other__."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(row):
        return 0.0

    for i in range(40):
        predict({"plan": ["free", "pro"][i % 2]})
    telemetry.collect()
    predict({"plan": "please cancel my subscription right now"})
    counts = {
        p.attributes[conv.ATTR_FEATURE_CATEGORY]: p.value
        for p in _points(telemetry, conv.METRIC_FEATURE_CATEGORY_COUNT, "plan")
    }
    assert counts == {"free": 20, "pro": 20, conv.OTHER_CATEGORY: 1}
    assert not _points(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "plan.chars")


def test_text_and_ids_parameters_are_validated():
    """text= and ids= take collections of names; a bare string is refused at decoration time."""
    import pytest

    for name in ("text", "ids"):
        with pytest.raises(ValueError, match=f"monitor\\({name}="):
            otel_mlmon.monitor(model="m", **{name: "review"})


def test_a_string_column_is_exported_from_its_32nd_value_on(telemetry):
    """Until the rule has 32 values a string column is held, not exported; then every held value is counted."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(row):
        return 0.0

    for i in range(31):
        predict({"plan": ["free", "pro"][i % 2], "amount": float(i)})
    telemetry.collect()
    assert not _points(telemetry, conv.METRIC_FEATURE_CATEGORY_COUNT, "plan")
    assert _points(telemetry, conv.METRIC_FEATURE_DISTRIBUTION, "amount")[0].count == 31
    predict({"plan": "pro", "amount": 31.0})
    counts = {
        p.attributes[conv.ATTR_FEATURE_CATEGORY]: p.value
        for p in _points(telemetry, conv.METRIC_FEATURE_CATEGORY_COUNT, "plan")
    }
    assert counts == {"free": 16, "pro": 16}
