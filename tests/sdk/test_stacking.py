"""A run of small calls folded as one stacked batch must read to exactly the table of its calls read one by one."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_mlmon._stack import Stacked, stack_rows
from otel_mlmon.adapters import Table, UnsupportedInput, read_features, read_outputs

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
ints = st.integers(-(2**53), 2**53)
texts = st.text(alphabet="ab1 .-", max_size=4)
cells = st.one_of(floats, ints, st.booleans(), texts, st.none(), st.sampled_from([0.5, 1.0, 1e-5, 3e20]))
numbers = st.one_of(floats, ints, st.booleans(), st.none())


def _read(features: Any, outputs: Any, names: list[str] | None = None) -> tuple[Table | None, Any]:
    """Read one call (or a stacked batch) the way the folder does; None where reading raises."""
    try:
        table = read_features(features, names=names)
    except UnsupportedInput:
        return None, None
    if table.n_rows == 1 and type(outputs) is np.ndarray and outputs.ndim == 1 and outputs.shape[0] > 1:
        outputs = outputs.reshape(1, -1)
    read = None if outputs is None else read_outputs(outputs)
    return table, read


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == np.float64:
        return bool(np.array_equal(a, b, equal_nan=True))
    return all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.tolist(), b.tolist())
    )


def _concat_tables(tables: list[Table]) -> list[tuple[str, str, np.ndarray]]:
    names = [(c.name, c.kind) for c in tables[0].columns]
    for t in tables[1:]:
        assert [(c.name, c.kind) for c in t.columns] == names, "calls of one run read to different columns"
    return [
        (name, kind, np.concatenate([t.columns[j].values for t in tables]))
        for j, (name, kind) in enumerate(names)
    ]


def _assert_same(stacked: Table, tables: list[Table]) -> None:
    expected = _concat_tables(tables)
    assert stacked.n_rows == sum(t.n_rows for t in tables)
    got = [(c.name, c.kind, c.values) for c in stacked.columns]
    assert [(n, k) for n, k, _ in got] == [(n, k) for n, k, _ in expected]
    for (name, _, values), (_, _, want) in zip(got, expected):
        assert _same_values(values, want), (name, values, want)


def check_stacking(calls: list[tuple[Any, Any]], names: list[str] | None = None) -> int:
    """Stack ``calls`` and compare every stacked run with its calls read one by one; returns the runs stacked."""
    stacked_runs = 0
    for features, outputs, _ in stack_rows([(f, o, None) for f, o in calls], max_rows=None):
        if not isinstance(features, Stacked):
            continue
        stacked_runs += 1
        singles = [_read(f, o, names) for f, o, _ in features.entries]
        table, read = _read(features.features, outputs, names)
        if any(t is None for t, _ in singles):
            assert table is None, "a run that cannot be read call by call must not read as a batch"
            continue
        assert table is not None
        _assert_same(table, [t for t, _ in singles])
        if read is not None:
            _assert_same(read.table, [r.table for _, r in singles])
            for key, values in read.confidence.items():
                want = np.concatenate([r.confidence[key] for _, r in singles])
                assert np.array_equal(values, want, equal_nan=True)
            assert all(set(r.confidence) == set(read.confidence) for _, r in singles)
    return stacked_runs


scalar_outputs = st.one_of(
    st.none(), floats, st.integers(0, 3), st.booleans(), st.sampled_from(["yes", "no"])
)


@_SETTINGS
@given(
    st.lists(
        st.tuples(st.one_of(floats, ints, st.booleans(), texts), scalar_outputs), min_size=2, max_size=30
    )
)
def test_scalars_stack_like_calls(calls):
    """Consecutive scalar inputs (numbers, bools, texts) fold to the same column as one call at a time."""
    check_stacking(calls)


@_SETTINGS
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.lists(
            st.tuples(st.lists(numbers, min_size=k, max_size=k), scalar_outputs), min_size=2, max_size=20
        )
    )
)
def test_list_rows_stack_like_calls(calls):
    """Lists of numbers (one row each) fold like the rows read one at a time."""
    check_stacking(calls)
    check_stacking(calls, names=[f"x{j}" for j in range(len(calls[0][0]))])


@_SETTINGS
@given(
    st.lists(
        st.tuples(st.fixed_dictionaries({"a": cells, "b": cells}, optional={"c": cells}), scalar_outputs),
        min_size=2,
        max_size=20,
    )
)
def test_dict_rows_stack_like_calls(calls):
    """Dicts of scalars (JSON rows) with any value types fold like the rows read one at a time."""
    check_stacking(calls)


@_SETTINGS
@given(
    st.lists(
        st.tuples(
            st.lists(st.fixed_dictionaries({"a": cells, "b": numbers}), min_size=1, max_size=3),
            st.none(),
        ),
        min_size=2,
        max_size=10,
    )
)
def test_records_and_rows_batches_stack_like_calls(calls):
    """Lists of dicts and lists of lists (small batches) fold like the batches read one at a time."""
    check_stacking(calls)
    check_stacking([([list(r.values()) for r in f], o) for f, o in calls])


probabilities = st.floats(0, 1).map(lambda p: np.array([1 - p, p]))
array_outputs = st.one_of(
    probabilities,
    st.lists(floats, min_size=2, max_size=2).map(np.array),
    st.integers(0, 2).map(lambda i: np.array([i])),
)


@_SETTINGS
@given(
    st.lists(
        st.tuples(st.lists(floats, min_size=3, max_size=3).map(np.array), array_outputs),
        min_size=2,
        max_size=20,
    )
)
def test_numpy_rows_stack_like_calls(calls):
    """1-D numpy rows with probability, value or label outputs fold like one call at a time."""
    check_stacking(calls)


def _frame(values: dict[str, Any], kinds: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame({k: [v] for k, v in values.items()})
    for name, kind in kinds.items():
        df[name] = df[name].astype(kind)
    return df


frame_rows = st.fixed_dictionaries(
    {
        "f": floats,
        "i": st.integers(-5, 5),
        "s": st.one_of(texts, st.none()),
        "b": st.booleans(),
        "c": st.sampled_from(["x", "y", None]),
        "n": st.one_of(st.integers(0, 3), st.none()),
        "o": st.one_of(texts, floats),
        "t": st.one_of(
            st.none(), st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))
        ),
        "z": st.one_of(st.none(), st.integers(0, 2**32).map(lambda s: pd.Timestamp(s, unit="s", tz="UTC"))),
        "d": st.one_of(st.none(), st.integers(-(2**40), 2**40).map(lambda s: pd.Timedelta(s, unit="ms"))),
    }
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(frame_rows, st.one_of(floats.map(lambda v: np.array([v])), scalar_outputs)),
        min_size=2,
        max_size=10,
    ),
    st.booleans(),
)
def test_one_row_dataframes_stack_like_calls(rows, reorder):
    """One-row DataFrames of float, int, str, bool, category, nullable Int64, object, datetime (naive and
    tz-aware) and timedelta columns fold like one call at a time; another column order or dtype starts a new run."""
    kinds = {
        "c": "category",
        "n": "Int64",
        "o": "object",
        "t": "datetime64[ns]",
        "z": "datetime64[ns, UTC]",
        "d": "timedelta64[ns]",
    }
    calls = []
    for i, (row, out) in enumerate(rows):
        df = _frame(row, kinds)
        if reorder and i % 3 == 2:
            df = df[list(reversed(df.columns))]
        calls.append((df, out))
    check_stacking(calls)


def test_frames_with_same_layout_but_other_labels_are_not_mixed():
    """Frames whose columns differ only in label type (0 vs 0.0) or names are never read as one."""
    a = pd.DataFrame(np.zeros((1, 2)))
    b = pd.DataFrame(np.zeros((1, 2)), columns=[0.0, 1.0])
    c = pd.DataFrame(np.zeros((1, 2)), columns=["x", "y"])
    groups = stack_rows([(a, None, None), (b, None, None), (c, None, None)], None)
    assert len(groups) == 3 and not any(isinstance(g[0], Stacked) for g in groups)


def test_frames_with_str_labels_stack_only_under_the_same_names():
    """str labels (arrow-backed under pandas 3) compared by value: same names stack, another name or a missing
    label starts a new run; an object-dtype Index of the same names stacks with str ones (same names), and labels
    in several chunks still match."""
    same = [pd.DataFrame([[float(i), 1.0]], columns=["x", "y"]) for i in range(3)]
    other = pd.DataFrame([[3.0, 1.0]], columns=["x", "z"])
    missing = pd.DataFrame([[4.0, 1.0]], columns=pd.Index(["x", None], dtype=same[0].columns.dtype))
    objects = pd.DataFrame([[5.0, 1.0]], columns=pd.Index(["x", "y"], dtype=object))
    frames = [*same, other, missing, objects, same[0]]
    groups = stack_rows([(f, None, None) for f in frames], None)
    sizes = [len(g[0].entries) if isinstance(g[0], Stacked) else 1 for g in groups]
    assert sizes == [3, 1, 1, 2]
    labels = same[0].columns
    data = getattr(labels.array, "_pa_array", None)
    if data is not None:  # arrow-backed labels: a frame whose labels are in two chunks is the same schema
        chunked = pd.DataFrame([[6.0, 1.0]], columns=["x", "y"])
        two = type(labels.array)(pa.chunked_array([data.slice(0, 1), data.slice(1)]))
        chunked.columns = pd.Index(two)
        assert chunked.columns._data._pa_array.num_chunks == 2
        assert check_stacking([(f, None) for f in [*same, chunked]]) == 1
    assert check_stacking([(f, None) for f in frames]) == 2


def test_range_index_frames_take_model_names_when_stacked():
    """Frames without column labels stack and still take names= (e.g. feature_names_in_) like one frame does."""
    calls = [(pd.DataFrame(np.full((1, 2), float(i))), None) for i in range(5)]
    assert check_stacking(calls, names=["a", "b"]) == 1


def test_stacked_frames_are_one_run():
    """512 one-row frames of one schema become a single batch (the point of stacking)."""
    calls = [(_frame({"x": float(i), "s": "a"}, {}), np.array([0.5])) for i in range(512)]
    groups = stack_rows([(f, o, None) for f, o in calls], None)
    assert len(groups) == 1 and isinstance(groups[0][0], Stacked)
    assert check_stacking(calls) == 1


@_SETTINGS
@given(
    st.lists(
        st.tuples(
            st.lists(st.one_of(floats, st.none()), min_size=1, max_size=3), st.sampled_from(["a", "b", None])
        ),
        min_size=2,
        max_size=10,
    )
)
def test_arrow_tables_stack_like_calls(rows):
    """pyarrow Tables and RecordBatches of one schema fold like one call at a time."""
    calls = []
    for i, (values, label) in enumerate(rows):
        table = pa.table(
            {"x": pa.array(values, pa.float64()), "s": pa.array([label] * len(values), pa.string())}
        )
        calls.append((table.to_batches()[0] if i % 2 and table.num_rows else table, None))
    check_stacking(calls)


@pytest.mark.parametrize(
    "features",
    [
        [{"role": "user", "content": "hi"}],  # chat messages are one conversation, not rows
        ["some text", "more text"],  # a list of strings may be a batch of texts
        [None, None],  # ... and so may a list of missing texts
        np.array([1, "a"], dtype=object),
        {"a": [1, 2]},  # a dict of columns
    ],
)
def test_inputs_read_on_their_own_are_not_stacked(features):
    """Inputs whose reading depends on more than their value types are always read call by call."""
    groups = stack_rows([(features, None, None), (features, None, None)], None)
    assert len(groups) == 2


@pytest.mark.parametrize(
    "features",
    [
        1.5,
        "some text",
        True,
        np.float32(2.0),
        [1.0, 2.0],
        (1, 2),
        {"a": 1.0, "b": "x"},
        [{"a": 1}, {"a": 2}],
        [[1.0, 2.0]] * 3,
        np.zeros(4),
        np.zeros((3, 4)),
        pd.DataFrame({"a": [1.0], "s": ["x"]}),
        pd.DataFrame({"a": np.arange(7.0)}),
        pa.table({"a": [1.0, 2.0]}),
    ],
)
def test_row_counts_of_stacked_kinds_agree_with_batch_size(features):
    """The rows the folder counts for a stackable input are what batch_size (ml.batch.size) says."""
    from otel_mlmon._stack import _rows, features_key
    from otel_mlmon.adapters import batch_size

    key = features_key(features)
    assert key is not None
    assert _rows(key[0], features) == batch_size(features)
    assert batch_size(features) == read_features(features).n_rows


def _histograms(telemetry, metric):
    from otel_mlmon import conventions as conv

    points = sorted(telemetry.points(getattr(conv, metric)), key=lambda p: sorted(p.attributes.items()))
    return [(sorted(p.attributes.items()), p.count, p.scale, list(p.positive.bucket_counts)) for p in points]


def test_one_row_frames_through_monitor_equal_one_batch():
    """A model called with one-row DataFrames exports the same summaries and batch sizes as with one big frame."""
    import otel_mlmon
    from otel_mlmon.testing import InMemoryTelemetry

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "a": rng.lognormal(size=200),
            "n": rng.integers(0, 9, size=200),
            "s": rng.choice(["x", "y"], size=200),
        }
    )
    rows, whole = InMemoryTelemetry(), InMemoryTelemetry()

    def model(df):
        return df["a"].to_numpy() * 2

    single = otel_mlmon.monitor(model="m", **rows.providers)(model)
    batch = otel_mlmon.monitor(model="m", **whole.providers)(model)
    for i in range(len(frame)):
        single(frame.iloc[[i]])
    batch(frame)
    for metric in ("METRIC_FEATURE_DISTRIBUTION", "METRIC_PREDICTION_DISTRIBUTION"):
        assert _histograms(rows, metric) == _histograms(whole, metric) != []
    assert {s.attributes["ml.batch.size"] for s in rows.spans()} == {1}
    assert [s.attributes["ml.batch.size"] for s in whole.spans()] == [200]


def test_frames_with_same_labels_but_swapped_column_types_are_not_mixed():
    """Same labels, same block types and widths, other placement (x float / y int, then x int / y float)."""
    a = pd.DataFrame({"x": [1.5], "y": [2]})
    b = pd.DataFrame({"x": [1], "y": [2.5]})
    groups = stack_rows([(a, None, None), (a, None, None), (b, None, None), (b, None, None)], None)
    assert len(groups) == 2 and all(isinstance(g[0], Stacked) for g in groups)
    check_stacking([(a, None), (a, None), (b, None), (b, None)])


def test_frames_whose_blocks_are_scattered_are_not_mixed_with_contiguous_ones():
    """After frames whose float block holds columns 0-2 (a slice), a frame whose float block holds columns 0, 2
    and 3 (an index array) starts a new run, and frames of that layout stack with each other."""
    contiguous = pd.DataFrame({"x": [1.5], "y": [2.5], "z": [0.0], "s": ["a"]})
    scattered = pd.DataFrame({"x": [0.5], "s": ["b"], "y": [3.5], "z": [1.0]})
    assert not isinstance(scattered._mgr.blocks[0]._mgr_locs.indexer, slice)
    calls = [(contiguous, None), (contiguous, None), (scattered, None), (scattered, None)]
    groups = stack_rows([(f, o, None) for f, o in calls], None)
    assert [len(g[0].entries) for g in groups] == [2, 2]
    assert check_stacking(calls) == 2


def test_frames_with_either_string_dtype_stack_like_calls():
    """``str`` (NaN missing) and ``string`` (NA missing) columns read the same, stacked or not."""
    calls = [
        (pd.DataFrame({"s": pd.array([v], dtype=dtype), "x": [float(i)]}), None)
        for i, (v, dtype) in enumerate([("a", "str"), (None, "string"), ("b", "string"), (None, "str")])
    ]
    assert check_stacking(calls) >= 1


def test_a_run_of_frames_ends_where_owner_outputs_or_row_bound_change():
    """Frames of one schema stack only while the model object, the outputs' structure and the row bound agree:
    another owner, outputs of another shape, dtype or kind (probabilities), or a frame over ``max_rows`` each
    start a new run."""
    one = [_frame({"x": float(i), "s": "a"}, {}) for i in range(12)]
    two = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    first, second = object(), object()
    entries = [
        (one[0], np.array([0.5]), first),
        (one[1], np.array([0.25]), first),
        (one[2], np.array([0.5]), second),  # another model object
        (one[3], np.array([0.5]), second),
        (one[4], np.array([0.2, 0.8]), second),  # one row's probabilities
        (one[5], np.array([0.3, 0.7]), second),
        (one[6], np.array([1, 2]), second),  # another dtype, not probabilities
        (one[7], 1.5, second),  # a plain value
        (one[8], 2.5, second),
        (two, 3.5, second),  # over max_rows: on its own
        (one[9], 4.5, second),
        (one[10], [1, 2], second),  # a list output
        (one[11], [3, 4], second),
    ]
    groups = stack_rows(entries, max_rows=1)
    sizes = [len(g[0].entries) if isinstance(g[0], Stacked) else 1 for g in groups]
    assert sizes == [2, 2, 2, 1, 2, 1, 1, 2]
    assert [e for g in groups for e in (g[0].entries if isinstance(g[0], Stacked) else [g])] == entries
    assert check_stacking([(f, o) for f, o, _ in entries]) >= 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 40)), min_size=1, max_size=8), st.randoms())
def test_long_runs_of_frames_split_exactly_where_the_schema_changes(segments, rnd):
    """Runs longer than the windows frames are taken in (16, 32, ...) and schema changes at any position:
    frames stack exactly while labels, column types and order and outputs agree (one-row probabilities, whose
    key depends on their values, are offered one by one)."""

    def make(variant: int, i: int) -> tuple[pd.DataFrame, Any, Any]:
        row = {"x": float(i), "n": i, "s": "ab"[i % 2]}
        if variant == 1:
            row = {"x": float(i), "n": float(i), "s": "ab"[i % 2]}  # n is a float column
        if variant == 2:
            row = {"s": "ab"[i % 2], "x": float(i), "n": i}  # another column order
        if variant == 3:
            row = {"x": float(i), "m": i, "s": "ab"[i % 2]}  # another label
        out = np.array([0.5 * i]) if variant != 4 else np.array([0.25, 0.75])
        return pd.DataFrame([row]), out, None

    entries = [make(variant, rnd.randrange(1000)) for variant, length in segments for _ in range(length)]
    sizes_want = [length for _, length in _merged(segments)]
    groups = stack_rows(entries, max_rows=None)
    sizes = [len(g[0].entries) if isinstance(g[0], Stacked) else 1 for g in groups]
    assert sizes == sizes_want
    assert [e for g in groups for e in (g[0].entries if isinstance(g[0], Stacked) else [g])] == entries
    check_stacking([(f, o) for f, o, _ in entries])


def _merged(segments: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for variant, length in segments:
        if merged and merged[-1][0] == variant:
            merged[-1] = (variant, merged[-1][1] + length)
        else:
            merged.append((variant, length))
    return merged


def test_long_runs_of_one_row_frames_with_strings_read_like_calls_and_keep_codes():
    """Runs of one-row frames long enough for coded string columns (CODED_MIN_ROWS), with the dtypes and the
    columns changing between runs (str labels, a float or an int column, another label): each run stacks alone,
    its string columns are one coded column (not one chunk per frame), and every run reads exactly like its
    calls read one by one."""
    from otel_mlmon.sketch._coded import CODED_MIN_ROWS, CodedStrings

    def make(variant: int, i: int) -> pd.DataFrame:
        row: dict[str, Any] = {
            "x": float(i),
            "n": i,
            "s": "abc"[i % 3],
            "t": None if i % 7 == 0 else "uv"[i % 2],
        }
        if variant == 1:
            row["n"] = float(i)
        if variant == 2:
            row = {"m" if k == "n" else k: v for k, v in row.items()}
        return pd.DataFrame({k: pd.array([v], dtype="str") if k in "st" else [v] for k, v in row.items()})

    segments = [(0, CODED_MIN_ROWS + 40), (1, 3), (0, CODED_MIN_ROWS), (2, CODED_MIN_ROWS + 1), (0, 1)]
    calls = [(make(v, i), np.array([0.5 * i])) for v, n in segments for i in range(n)]
    groups = stack_rows([(f, o, None) for f, o in calls], max_rows=None)
    assert [len(g[0].entries) if isinstance(g[0], Stacked) else 1 for g in groups] == [n for _, n in segments]
    stacked = groups[0][0].features
    assert [a._pa_array.num_chunks for a in stacked.arrays if hasattr(a, "_pa_array")] == [1, 1]
    table, _ = _read(stacked, groups[0][1])
    strings = {c.name: c.values for c in table.columns if c.kind == "categorical"}
    assert set(strings) == {"s", "t"}
    assert all(type(v) is CodedStrings and v.codes is not None for v in strings.values())
    assert strings["t"].tolist()[:8] == [None, "v", "u", "v", "u", "v", "u", None]
    assert check_stacking(calls) == 4
