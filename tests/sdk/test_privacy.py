"""No raw text leaves the process: secrets planted in every kind of text input appear in no exported item."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

import otel_mlmon
from otel_mlmon import conventions as conv

SSN = "123-45-6789"
EMAIL = "alice.smith@example.com"
SYSTEM_SECRET = "Zebra-Passphrase-Orchid"
SHORT_SECRET = "hunter2"
SECRETS = (SSN, EMAIL, SYSTEM_SECRET, SHORT_SECRET, "Orchid", "SSN", "alice")


def _sentences(i: int) -> str:
    return f"review number {i}: the parcel arrived late but the support was kind"


def _strings(value, out: list[str]) -> None:
    """Every string inside an attribute value, log body or nested structure."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bytes):
        out.append(value.decode("utf-8", "replace"))
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _strings(v, out)
    elif value is not None and not isinstance(value, (int, float, bool)):
        out.append(str(value))


def _exported_strings(telemetry, caplog) -> list[str]:
    """The strings of every exported metric point, span (attributes, events, status) and log record, and of every
    Python log line otel-mlmon wrote."""
    out: list[str] = []
    for _ in range(2):  # a second collection exports what the first fold decided
        data = telemetry.collect()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    out.append(metric.name)
                    for point in metric.data.data_points:
                        _strings(dict(point.attributes or {}), out)
    for span in telemetry.spans():
        out.append(span.name)
        _strings(dict(span.attributes or {}), out)
        _strings(span.status.description, out)
        for event in span.events:
            out.append(event.name)
            _strings(dict(event.attributes or {}), out)
    for record in telemetry.records():
        _strings(record.body, out)
        _strings(dict(record.attributes or {}), out)
        _strings(record.event_name, out)
    out.extend(r.getMessage() for r in caplog.records)
    return out


def _assert_no_secret(strings: list[str]) -> None:
    leaks = sorted({(secret, s) for s in strings for secret in SECRETS if secret in s})
    assert not leaks, f"raw text exported: {leaks[:5]}"


@pytest.fixture
def recorded(telemetry, caplog):
    """A monitored scoring function with summaries and prediction records on, for every call."""
    caplog.set_level(logging.DEBUG, logger="otel_mlmon")

    def make(**options):
        @otel_mlmon.monitor(model="m", record_predictions=1.0, **options, **telemetry.providers)
        def predict(x):
            return 0.5

        return predict

    return make


def test_single_strings_and_lists_of_texts_never_leave_the_process(telemetry, caplog, recorded):
    """Texts passed one by one or as lists are exported as descriptors, never as values."""
    predict = recorded()
    predict(f"my SSN is {SSN}")
    for i in range(40):
        predict(_sentences(i))
    predict(SHORT_SECRET)  # a one-word text after the column was decided: still text
    predict([f"my SSN is {SSN}", f"mail me at {EMAIL}", SHORT_SECRET, None])
    strings = _exported_strings(telemetry, caplog)
    _assert_no_secret(strings)
    names = {p.attributes[conv.ATTR_FEATURE_NAME] for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)}
    assert {"f0.chars", "f0.words", "f0.digits"} <= names
    # The only category points are the text column's hashed vocabulary buckets: numbers, never words.
    buckets = telemetry.points(conv.METRIC_FEATURE_CATEGORY_COUNT)
    assert buckets and {p.attributes[conv.ATTR_FEATURE_NAME] for p in buckets} == {"f0.vocabulary"}
    assert all(re.fullmatch(r"h[0-9]{3}", p.attributes[conv.ATTR_FEATURE_CATEGORY]) for p in buckets)


def test_free_text_and_identifier_fields_of_dicts_and_dataframes_never_leave_the_process(
    telemetry, caplog, recorded
):
    """Free-text and identifier fields of dict rows, lists of dicts and DataFrames export only numbers; the
    categorical field next to them keeps its categories."""
    predict = recorded()
    rows = [
        {"review": _sentences(i), "email": f"user{i}@example.com", "country": ["FR", "DE"][i % 2]}
        for i in range(40)
    ]
    predict(rows)
    predict({"review": f"my SSN is {SSN}", "email": EMAIL, "country": "FR"})
    predict({"review": SHORT_SECRET, "email": EMAIL, "country": "DE"})
    predict(pd.DataFrame({"review": [f"SSN {SSN}", "fine"], "email": [EMAIL, None], "country": ["FR", "DE"]}))
    strings = _exported_strings(telemetry, caplog)
    _assert_no_secret(strings)
    categories = {
        p.attributes[conv.ATTR_FEATURE_CATEGORY]
        for p in telemetry.points(conv.METRIC_FEATURE_CATEGORY_COUNT, {conv.ATTR_FEATURE_NAME: "country"})
    }
    assert categories == {"FR", "DE"}
    names = {p.attributes[conv.ATTR_FEATURE_NAME] for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)}
    assert {"review.chars", "review.words", "email.chars"} <= names


def test_chat_messages_never_leave_the_process(telemetry, caplog, recorded):
    """Chat conversations (one, a batch, or inside a request body) export per-role descriptors, never the system
    prompt or the user's words."""
    predict = recorded()
    conversation = [
        {"role": "system", "content": f"You are a bank assistant. The vault code is {SYSTEM_SECRET}."},
        {"role": "user", "content": f"my SSN is {SSN}, mail {EMAIL}"},
        {"role": "assistant", "content": [{"type": "text", "text": f"noted {SHORT_SECRET}"}]},
        {"role": f"weird role {SSN}", "content": "x"},
    ]
    predict(conversation)
    predict([conversation, conversation[1:2]])
    predict({"model": "gpt-x", "messages": conversation})
    strings = _exported_strings(telemetry, caplog)
    _assert_no_secret(strings)
    names = {p.attributes[conv.ATTR_FEATURE_NAME] for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)}
    assert {"messages.system.chars", "messages.user.words", "messages.assistant.chars"} <= names
    assert "messages.other.chars" in names


def test_declared_kinds_override_the_rule_and_hashing_still_applies(telemetry, caplog):
    """text= and ids= keep even short values private; a declared categorical column with hash_salt exports
    only hashes."""
    caplog.set_level(logging.DEBUG, logger="otel_mlmon")

    @otel_mlmon.monitor(
        model="m",
        text=["note"],
        ids=["user"],
        categorical=["code"],
        summary_config=otel_mlmon.summary.SummaryConfig(hash_salt="pepper"),
        record_predictions=1.0,
        **telemetry.providers,
    )
    def predict(x):
        return np.zeros(len(x))

    predict([{"note": SHORT_SECRET, "user": "alice", "code": SSN} for _ in range(3)])
    strings = _exported_strings(telemetry, caplog)
    _assert_no_secret(strings)
    names = {p.attributes[conv.ATTR_FEATURE_NAME] for p in telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)}
    assert {"note.chars", "user.chars"} <= names
    assert len(telemetry.points(conv.METRIC_FEATURE_CATEGORY_COUNT, {conv.ATTR_FEATURE_NAME: "code"})) == 1


def test_generated_text_outputs_never_leave_the_process(telemetry, caplog):
    """A model that returns text (an echo, a generator) exports neither the text in metrics nor in records."""
    caplog.set_level(logging.DEBUG, logger="otel_mlmon")

    @otel_mlmon.monitor(model="m", record_predictions=1.0, **telemetry.providers)
    def generate(prompt):
        return f"Sure! Your SSN {SSN} is noted, {EMAIL}."

    for i in range(3):
        generate(_sentences(i))
    _assert_no_secret(_exported_strings(telemetry, caplog))
    (record, *_) = telemetry.records(conv.EVENT_PREDICTION)
    assert record.attributes[conv.ATTR_PREDICTION_VALUE] == conv.OTHER_CATEGORY
