"""Tests for the adapters' public API: names, lazy imports, cross-container consistency, protocol."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import otel_mlmon.adapters as adapters
from otel_mlmon.adapters import Adapter, UnsupportedInput, read_features, read_outputs


def test_public_names():
    """Every promised name is exported, and __all__ is sorted."""
    for name in (
        "Column",
        "Table",
        "Outputs",
        "UnsupportedInput",
        "batch_size",
        "read_features",
        "read_outputs",
    ):
        assert hasattr(adapters, name), name
    assert adapters.__all__ == sorted(adapters.__all__)
    assert issubclass(UnsupportedInput, TypeError)


def test_importing_and_reading_plain_inputs_never_imports_heavy_libraries():
    """Importing the adapters and reading numpy/dict/list inputs imports neither pandas, pyarrow nor torch."""
    code = textwrap.dedent(
        """
        import sys, numpy as np
        from otel_mlmon.adapters import read_features, read_outputs, batch_size
        read_features(np.zeros((3, 2))); read_features({"a": [1, 2]}); read_features([{"a": 1}])
        read_outputs(np.array([[0.5, 0.5]])); batch_size([1, 2])
        heavy = [m for m in ("pandas", "pyarrow", "torch") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _frames(rows: list[dict]) -> dict[str, object]:
    """The same records in every container the adapters read."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    keys = list(rows[0])
    columns = {k: [r[k] for r in rows] for k in keys}
    return {
        "records": rows,
        "dict of lists": columns,
        "dataframe": pd.DataFrame(columns),
        "arrow": pa.table(columns),
    }


def test_same_data_reads_the_same_in_every_container():
    """Records, dict of columns, DataFrame and arrow Table give identical columns for the same data."""
    rows = [
        {"x": 1.5, "n": 3, "s": "a", "b": True},
        {"x": None, "n": 4, "s": None, "b": False},
        {"x": 2.0, "n": 5, "s": "c", "b": True},
    ]
    tables = {kind: read_features(obj, categorical=["n"]) for kind, obj in _frames(rows).items()}
    reference = tables.pop("records")
    for kind, table in tables.items():
        assert table.names == reference.names, kind
        for a, b in zip(table.columns, reference.columns):
            assert a.kind == b.kind, (kind, a.name)
            if a.kind == "numeric":
                np.testing.assert_array_equal(a.values, b.values)
            else:
                assert list(a.values) == list(b.values), (kind, a.name)


def test_single_row_reads_like_a_one_row_batch():
    """A dict of scalars reads exactly like the same values as a one-element list of dicts."""
    row = {"a": 1, "b": "x", "c": None, "d": 2.5, "e": False, "f": float("nan")}
    single = read_features(row, categorical={"a"})
    batch = read_features([row], categorical={"a"})
    assert single.names == batch.names
    for a, b in zip(single.columns, batch.columns):
        assert a.kind == b.kind, a.name
        assert a.values.dtype == b.values.dtype
        if a.kind == "numeric":
            np.testing.assert_array_equal(a.values, b.values)
        else:
            assert list(a.values) == list(b.values), a.name


def test_library_errors_become_unsupported_input():
    """A data error raised inside a library surfaces as UnsupportedInput with the cause chained."""
    with pytest.raises(UnsupportedInput) as info:
        read_features([np.zeros(2), np.zeros(3)])
    assert "do not stack" in str(info.value)


def test_custom_adapter_registration():
    """A registered adapter is used for its type; the built-in adapters satisfy the protocol."""

    class Wrapped:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

    class WrappedAdapter:
        def accepts(self, obj: object) -> bool:
            return isinstance(obj, Wrapped)

        def batch_size(self, obj: object) -> int | None:
            return len(obj.x)  # type: ignore[attr-defined]

        def read_features(self, obj, names, categorical):
            return read_features(obj.x, names=names, categorical=categorical)

        def read_outputs(self, obj, names, classes):
            return read_outputs(obj.x, names=names, classes=classes)

        def read_column(self, obj, name, categorical, labels):
            raise UnsupportedInput("not a column")

    assert isinstance(WrappedAdapter(), Adapter)
    adapters.register(WrappedAdapter())
    assert read_features(Wrapped(np.zeros((4, 2)))).n_rows == 4
    assert adapters.batch_size(Wrapped(np.zeros((4, 2)))) == 4
