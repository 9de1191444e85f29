"""Arrow string columns encoded by the C extension (``adapters/_strings.py``) read exactly as pyarrow's encoding.

``encode_strings`` against ``pyarrow.compute.dictionary_encode`` (distinct values in order of first occurrence,
the same codes, -1 for nulls) on short, long, empty and non-ASCII values, nulls, sliced arrays, both offset
widths, values at the very end of the data buffer and columns with many distinct values; and the columns
``arrow_column`` reads with the extension against the same columns read with it turned off (the fallback).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mlmon.adapters._arrow import arrow_column
from otel_mlmon.adapters._strings import encode_chunks, encoded_strings
from otel_mlmon.sketch import _kernel
from otel_mlmon.sketch._coded import coded_counts


@pytest.fixture(scope="module")
def compiled():
    module = _kernel.kernel()
    if module is None or not hasattr(module, "encode_strings"):
        pytest.skip("the C extension is not built here (no C compiler at install time)")
    return module


def _reference(arr: pa.Array) -> tuple[list[str], list[int]]:
    encoded = pc.dictionary_encode(arr)
    return encoded.dictionary.to_pylist(), pc.fill_null(encoded.indices.cast(pa.int64()), -1).to_pylist()


def _values(rng: np.random.Generator, rows: int, levels: int) -> list[str | None]:
    """Values of 0 to 40 characters (some non-ASCII: multi-byte UTF-8), with nulls."""
    alphabet = [*"abcdefghij", "é", "ß", "中", "🙂"]
    pool = ["".join(rng.choice(alphabet, size=rng.integers(0, 41))) for _ in range(levels)]
    pool += ["", "a", "a" * 8, "a" * 16, "a" * 17, "b" * 15]  # the short path's word boundaries
    picks = rng.integers(0, len(pool), size=rows)
    return [None if rng.random() < 0.05 else pool[i] for i in picks]


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("levels", [1, 7, 300, 5000])
def test_codes_and_values_are_pyarrows(compiled, string_type, levels):
    rng = np.random.default_rng(levels)
    arr = pa.array(_values(rng, 6000, levels), type=string_type)
    for part in (arr, arr.slice(13, 4000), arr.slice(5999), arr.slice(0, 0)):
        categories, codes = encode_chunks([part])
        assert (categories, codes.tolist()) == _reference(part)


def test_chunks_encode_as_one_column(compiled):
    """Chunks of one column (sliced, with nulls, repeating each other's values) encode as their concatenation."""
    rng = np.random.default_rng(11)
    arr = pa.array(_values(rng, 9000, 200), type=pa.large_string())
    chunks = [arr.slice(0, 3000), arr.slice(3000, 10), arr.slice(3010, 0), arr.slice(3010)]
    categories, codes = encode_chunks(chunks)
    assert (categories, codes.tolist()) == _reference(pa.concat_arrays(chunks))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=24)), max_size=60), st.booleans())
def test_any_text(compiled, values, wide):
    """Whatever the text (surrogates aside: not UTF-8), including values in the data buffer's last bytes."""
    values = [v if v is None else v.encode("utf-8", "replace").decode("utf-8") for v in values]
    arr = pa.array(values, type=pa.large_string() if wide else pa.string())
    categories, codes = encode_chunks([arr])
    assert (categories, codes.tolist()) == _reference(arr)


def test_not_utf8_falls_back_to_pyarrow(compiled):
    """A value that is not UTF-8 (a binary buffer viewed as strings): None, pyarrow decides."""
    arr = pa.array([b"ok", b"\xff\xfe"], type=pa.binary()).view(pa.string())
    assert encode_chunks([arr]) is None


def test_offsets_outside_the_data_are_refused(compiled):
    codes = np.empty(2, dtype=np.int32)
    offsets = np.array([0, 3, 99], dtype=np.int32)
    with pytest.raises(ValueError):
        compiled.encode_strings([(offsets, b"abcdef", None, 0, 2)], 0, codes)
    with pytest.raises(ValueError):  # codes too short
        compiled.encode_strings([(offsets, b"abcdef", None, 0, 2)], 0, np.empty(1, dtype=np.int32))


def _read(arr, **kwargs):
    column = arrow_column(arr, "c", **kwargs)
    return (
        column.kind,
        column.values.tolist(),
        column.values.codes.tolist(),
        column.values.categories.tolist(),
    )


@pytest.mark.parametrize("chunks", [1, 3])
def test_columns_equal_the_fallbacks(compiled, chunks):
    """The same column (values, codes, categories, counts) with the encoder and without it."""
    rng = np.random.default_rng(chunks)
    parts = [pa.array(_values(rng, 2000, 40), type=pa.large_string()) for _ in range(chunks)]
    arr = pa.chunked_array(parts)
    with_c = _read(arr, categorical=True)
    with _kernel.disabled():
        assert encoded_strings(arr, "c") is None
        without = _read(arr, categorical=True)
    assert with_c == without
    with _kernel.disabled():
        counts = coded_counts(arrow_column(arr, "c").values)
    assert coded_counts(arrow_column(arr, "c").values) == counts


def test_pandas_str_column_uses_the_encoder(compiled):
    pd = pytest.importorskip("pandas")
    values = _values(np.random.default_rng(3), 3000, 50)
    frame = pd.DataFrame({"c": pd.array(values, dtype=pd.StringDtype("pyarrow"))})
    from otel_mlmon.adapters import read_features

    column = read_features(frame).columns[0]
    assert column.values.tolist() == values
    categories, codes = _reference(pa.array(values, type=pa.large_string()))
    assert column.values.categories.tolist() == categories
    assert column.values.codes.tolist() == codes
