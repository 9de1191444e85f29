"""Strings by what they are: text descriptors, the column-kind rule, lists of texts and chat messages."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon import conventions as conv
from otel_mlmon._kinds import DECIDE_AT, KindRule, guard_categories, looks_like_id, looks_like_text
from otel_mlmon._text import TEXT_DESCRIPTORS, text_descriptors, vector_descriptors
from otel_mlmon.adapters import batch_size, read_features
from otel_mlmon.summary import Summary, SummaryConfig


def assert_same_summaries(a: Summary, b: Summary) -> None:
    """Equal sketches (bucket for bucket); sums only up to float rounding, which depends on the order of adds."""
    da, db = a.to_dict(), b.to_dict()
    assert da["rows"] == db["rows"] and set(da["features"]) == set(db["features"])
    for name, column in da["features"].items():
        other = db["features"][name]
        if "sum" in column["sketch"]:
            assert column["sketch"].pop("sum") == pytest.approx(other["sketch"].pop("sum")), name
        assert column == other, name


def _slow_descriptors(text: str) -> list[float]:
    """The documented definition, one character at a time."""
    n = len(text)
    share = (lambda k: k / n) if n else (lambda k: 0.0)
    words = len(text.split())
    return [
        float(n),
        float(words),
        share(sum(c in "0123456789" for c in text)),
        share(sum("A" <= c <= "Z" for c in text)),
        share(sum(c.isascii() and not c.isspace() and not c.isalpha() for c in text)),
        share(sum(ord(c) >= 128 for c in text)),
        float(words == 0),
    ]


def test_text_descriptors_match_their_definition_text_by_text():
    """The vectorised descriptors of a batch equal the documented definition applied to each text alone."""
    texts = [
        "Hello World 42!",
        "",
        "   \t\n ",
        "héllo wörld — naïve café ☕",
        "tab\tseparated\nlines  and  double  spaces",
        "ALL CAPS 123-45-6789",
        "日本語のテキスト　全角スペース",
        "\x00control\x1fchars",
    ]
    got = text_descriptors(np.array([*texts, None], dtype=object))
    for i, text in enumerate(texts):
        assert got[i].tolist() == pytest.approx(_slow_descriptors(text)), text
        assert text_descriptors(np.array([text], dtype=object))[0].tolist() == got[i].tolist()
    assert np.isnan(got[-1]).all()
    assert got.shape == (len(texts) + 1, len(TEXT_DESCRIPTORS))


def test_vector_descriptors_are_norm_moments_extremes_and_zero_share():
    """Each vector row becomes its L2 norm, mean, std, min, max and share of zeros; a NaN row is missing."""
    m = np.array([[3.0, 4.0, 0.0, 0.0], [1.0, np.nan, 1.0, 1.0]])
    got = vector_descriptors(m)
    assert got[0].tolist() == pytest.approx([5.0, 1.75, np.std([3, 4, 0, 0]), 0.0, 4.0, 0.5])
    assert np.isnan(got[1]).all()


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["the parcel arrived late but the support was kind"] * DECIDE_AT, "text"),
        ([f"user{i}@example.com" for i in range(DECIDE_AT)], "identifier"),
        ([f"ORD-{100000 + i}" for i in range(DECIDE_AT)], "identifier"),
        ([f"name{i}" for i in range(DECIDE_AT)], "identifier"),  # mostly unique
        (["FR", "DE", "New York", "IT"] * (DECIDE_AT // 4), "categorical"),
    ],
)
def test_rule_decides_text_identifier_or_categorical_from_the_first_values(values, kind):
    """A string column's kind follows the documented rule once DECIDE_AT values have been seen."""
    rule = KindRule()
    decided = rule.offer("features", "c", np.array(values, dtype=object))
    assert decided is not None and decided[0] == kind


def test_rule_latches_and_holds_values_until_decided():
    """Values are held (not summarised) until the column is decided, then the kind never changes."""
    rule = KindRule()
    for _ in range(DECIDE_AT - 1):
        assert rule.offer("features", "c", np.array(["FR"], dtype=object)) is None
    kind, held = rule.offer("features", "c", np.array(["DE", None], dtype=object))
    assert kind == "categorical" and sum(len(h) for h in held) == DECIDE_AT + 1
    text = np.array(["a long free text value that would have made this column text"] * 100, dtype=object)
    assert rule.offer("features", "c", text)[0] == "categorical"
    assert rule.decided() == {("features", "c"): "categorical"}


def test_a_mostly_missing_column_is_decided_without_holding_values_forever():
    """A column of missing values is decided after a bounded number of held rows."""
    rule = KindRule()
    results = [rule.offer("features", "c", np.array([None] * 100, dtype=object)) for _ in range(11)]
    assert results[0] is None and results[-1] is not None


def test_guard_hides_text_and_identifier_values_of_a_categorical_column():
    """In a rule-decided categorical column, values that look like text or identifiers count as __other__."""
    values = np.array(["FR", "my SSN is 123-45-6789", "bob@example.com", None, "x" * 65], dtype=object)
    assert guard_categories(values).tolist() == ["FR", "__other__", "__other__", None, "__other__"]
    assert looks_like_text("one two three four") and not looks_like_text("one two three")
    assert looks_like_id("550e8400-e29b-41d4-a716-446655440000") and not looks_like_id("FR")


def test_summary_of_a_text_column_is_numeric_descriptor_columns_only():
    """A text column becomes {name}.{descriptor} numeric columns; no categorical sketch holds its values."""
    summary = Summary()
    texts = [f"review {i}: arrived late, support was kind" for i in range(DECIDE_AT)]
    summary.add_features(read_features([{"review": t, "country": "FR"} for t in texts]))
    assert set(summary.features) == {
        *(conv.descriptor_name("review", d) for d in TEXT_DESCRIPTORS),
        "country",
    }
    assert summary.features["review.chars"].count == DECIDE_AT
    assert summary.features["country"].categorical.top() == [("FR", DECIDE_AT)]


def test_declared_kinds_win_over_the_rule():
    """categorical=, text= and ids= decide a column's kind whatever its values."""
    config = SummaryConfig(categorical=["a"], text=["b"], ids=["c"])
    summary = Summary(config)
    summary.add_features(read_features({"a": "one two three four five", "b": "FR", "c": "x", "d": 1.0}))
    assert summary.features["a"].categorical is not None
    assert {"b.chars", "b.words", "c.chars", "d"} <= set(summary.features)
    assert "c.words" not in summary.features


def test_a_list_of_strings_is_a_batch_of_texts_read_like_single_strings():
    """A list of strings is n rows of one column f0, summarised exactly as the same strings one call at a time."""
    texts = [f"text number {i} with some words" for i in range(DECIDE_AT + 8)]
    table = read_features([*texts, None])
    assert table.columns[0].values[-1] is None
    table = read_features(texts)
    assert (table.n_rows, table.names) == (len(texts), ("f0",))
    assert batch_size(texts) == len(texts)
    batched, single = Summary(), Summary()
    batched.add_features(table)
    for text in texts:
        single.add_features(read_features(text))
    single.settle()
    assert_same_summaries(batched, single)


def test_chat_messages_are_text_per_role_one_row_per_conversation():
    """A message list is one row with a text column per role; a list of them is a batch; unknown roles are
    'other' so a column name never carries input text."""
    conversation = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}, {"type": "image_url"}]},
        {"role": "user", "content": "bye"},
        {"role": "secret role name", "content": "x"},
    ]
    table = read_features(conversation)
    assert batch_size(conversation) == 1
    assert table.n_rows == 1
    got = {c.name: (c.kind, c.values.tolist()) for c in table.columns}
    assert got == {
        "messages.system": ("text", ["be brief"]),
        "messages.user": ("text", ["hi\nbye"]),
        "messages.assistant": ("text", ["hello"]),
        "messages.other": ("text", ["x"]),
    }
    batch = read_features([conversation, conversation[1:2]])
    assert batch.n_rows == 2 and batch_size([conversation, conversation]) == 2
    assert dict(zip(batch.names, (c.values.tolist() for c in batch.columns)))["messages.system"] == [
        "be brief",
        None,
    ]
    body = read_features({"model": "gpt-x", "messages": conversation})
    assert body.n_rows == 1 and {"model", "messages.user"} <= set(body.names)


def test_only_all_string_lists_are_batches_of_texts():
    """Lists mixing numbers and strings, or read with several names, stay one row; tuples of strings are batches."""
    assert read_features([1.0, "a"]).n_rows == 1
    assert batch_size([1.0, "a"]) == 1
    row = read_features(["a", "b"], names=["x", "y"])
    assert (row.n_rows, row.names) == (1, ("x", "y"))
    named = read_features(("first text", "second text"), names=["review"])
    assert (named.n_rows, named.names) == (2, ("review",))
    assert read_features([None, None]).n_rows == 1  # no string at all: a row of two missing values
