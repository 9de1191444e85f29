"""Tests for reading torch tensors (skipped when torch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon.adapters import batch_size, read_features, read_outputs
from tests.adapters._helpers import assert_categorical, assert_numeric, column

torch = pytest.importorskip("torch")


def test_2d_tensor_features():
    """A 2-D float tensor reads like the numpy array it holds, named by names=."""
    t = torch.tensor([[1.0, float("nan")], [3.0, 4.0]])
    table = read_features(t, names=["a", "b"])
    assert table.n_rows == 2
    assert_numeric(column(table, "b"), [np.nan, 4.0])
    assert batch_size(t) == 2
    assert batch_size(torch.tensor([1.0, 2.0])) == 1


def test_grad_and_bfloat16_tensors():
    """Tensors requiring grad and bfloat16 tensors are read without errors."""
    t = torch.ones((2, 2), requires_grad=True)
    assert_numeric(read_features(t).columns[0], [1.0, 1.0])
    assert_numeric(read_features(torch.ones((1, 1), dtype=torch.bfloat16)).columns[0], [1.0])


def test_tensor_outputs():
    """Integer tensors are labels; softmax outputs are probabilities with confidence."""
    assert_categorical(read_outputs(torch.tensor([2, 0])).table.columns[0], ["2", "0"])
    proba = torch.softmax(torch.tensor([[0.0, 2.0], [3.0, 0.0]]), dim=1)
    out = read_outputs(proba, classes=["neg", "pos"])
    assert_categorical(out.table.columns[0], ["pos", "neg"])
    assert set(out.confidence) == {"prediction"}


def test_tensor_dict_column():
    """A 1-D tensor works as a dict column."""
    assert_numeric(read_features({"x": torch.tensor([0.5, 1.5])}).columns[0], [0.5, 1.5])


def test_list_of_tensors_is_rows_and_tuple_of_tensors_is_outputs():
    """A list of 1-D tensors stacks into rows; a tuple of tensors is several outputs."""
    rows = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]
    assert batch_size(rows) == 2
    assert_numeric(column(read_features(rows), "f1"), [2.0, 4.0])
    out = read_outputs((torch.tensor([1, 0]), torch.tensor([0.25, 0.5])))
    assert out.table.names == ("output_0", "output_1")
    assert_categorical(column(out.table, "output_0"), ["1", "0"])
