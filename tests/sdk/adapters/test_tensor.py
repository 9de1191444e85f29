"""Tests for reading tensor-likes: duck-typed fakes of each conversion path, and torch when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon.adapters import UnsupportedInput, batch_size, read_features, read_outputs
from otel_mlmon.adapters._tensor import sample_rows
from tests.sdk.adapters._helpers import assert_categorical, assert_numeric, column


class _Fake:
    """Holds a numpy array and exposes only a shape (subclasses add one conversion path each)."""

    conversions = 0

    def __init__(self, data):
        self._data = np.asarray(data)
        self.shape = self._data.shape

    def __getitem__(self, rows):
        return type(self)(self._data[rows])

    def _host(self):
        type(self).conversions += 1
        return self._data


class ArrayLike(_Fake):  # JAX, MLX
    def __array__(self, dtype=None, copy=None):
        return self._host()


class DlpackLike(_Fake):  # any array-API library
    def __dlpack__(self, stream=None, **kwargs):
        return self._host().__dlpack__()

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()


class NumpyMethodLike(_Fake):  # TensorFlow eager tensors
    def numpy(self):
        return self._host()


class DeviceTensor(_Fake):
    """A tensor in device memory: like a CUDA torch tensor, .numpy() raises until .cpu() made a host copy."""

    def __init__(self, data, device="cuda"):
        super().__init__(data)
        self.device = device

    def __getitem__(self, rows):
        return DeviceTensor(self._data[rows], self.device)

    def cpu(self):
        return DeviceTensor(self._host(), "cpu")

    def numpy(self):
        if self.device != "cpu":
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() first")
        return self._data


@pytest.mark.parametrize("kind", [ArrayLike, DlpackLike, NumpyMethodLike, DeviceTensor])
def test_tensor_likes_read_like_numpy(kind):
    """Any object with a shape and __array__, __dlpack__ or .numpy() reads like its numpy array, framework-free."""
    data = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 6.0]])
    t = kind(data)
    assert batch_size(t) == 3
    assert batch_size(kind(np.array([1.0, 2.0]))) == 1
    table = read_features(t, names=["a", "b"])
    assert table.n_rows == 3
    assert_numeric(column(table, "b"), [np.nan, 4.0, 6.0])
    out = read_outputs(kind(np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])), classes=["n", "p"])
    assert_categorical(out.table.columns[0], ["p", "n", "n"])
    assert set(out.confidence) == {"prediction"}
    if hasattr(kind, "__array__") or hasattr(kind, "__dlpack__"):  # what every framework's tensor has
        assert_numeric(read_features({"x": kind(np.array([0.5, 1.5]))}).columns[0], [0.5, 1.5])


def test_batch_size_reads_only_the_shape():
    """Reading the batch size of a (device) tensor never converts it: no host copy in the predict call."""
    DeviceTensor.conversions = 0
    t = DeviceTensor(np.zeros((64, 8)))
    assert batch_size(t) == 64
    assert DeviceTensor.conversions == 0
    assert read_features(t).n_rows == 64
    assert DeviceTensor.conversions == 1  # one copy, when the folder reads it


def test_sample_rows_samples_on_the_device_before_any_copy():
    """A batch larger than max_rows is cut to a uniform row sample, in order, without converting it."""
    DeviceTensor.conversions = 0
    data = np.arange(100.0).reshape(50, 2)
    t = DeviceTensor(data)
    sampled = sample_rows(t, 8, np.random.default_rng(0))
    assert sampled.shape == (8, 2) and DeviceTensor.conversions == 0
    rows = read_features(sampled).columns[0].values
    assert np.all(np.diff(rows) > 0) and set(rows) <= set(data[:, 0])
    small = DeviceTensor(data[:4])
    assert sample_rows(small, 8, np.random.default_rng(0)) is small


def test_a_tensor_that_cannot_convert_is_unsupported_input():
    """A tensor-like whose every conversion fails raises UnsupportedInput naming why (a counted fault)."""

    class Broken(_Fake):
        def __array__(self, dtype=None, copy=None):
            raise TypeError("Implicit conversion to a NumPy array is not allowed")  # what CuPy says

    with pytest.raises(UnsupportedInput, match="Implicit conversion"):
        read_features(Broken(np.zeros((2, 2))))


def test_cupy_like_get_is_used_when_array_is_refused():
    """A CuPy-style array (no implicit __array__) is copied with its own .get()."""

    class CupyLike(_Fake):
        def __array__(self, dtype=None, copy=None):
            raise TypeError("Implicit conversion to a NumPy array is not allowed")

        def get(self):
            return self._host()

    assert_numeric(read_features(CupyLike(np.array([[2.0]]))).columns[0], [2.0])


@pytest.fixture
def torch():
    """The torch module; the test is skipped when torch is not installed."""
    return pytest.importorskip("torch")


def test_2d_tensor_features(torch):
    """A 2-D float tensor reads like the numpy array it holds, named by names=."""
    t = torch.tensor([[1.0, float("nan")], [3.0, 4.0]])
    table = read_features(t, names=["a", "b"])
    assert table.n_rows == 2
    assert_numeric(column(table, "b"), [np.nan, 4.0])
    assert batch_size(t) == 2
    assert batch_size(torch.tensor([1.0, 2.0])) == 1


def test_grad_and_bfloat16_tensors(torch):
    """Tensors requiring grad and bfloat16 tensors are read without errors."""
    t = torch.ones((2, 2), requires_grad=True)
    assert_numeric(read_features(t).columns[0], [1.0, 1.0])
    assert_numeric(read_features(torch.ones((1, 1), dtype=torch.bfloat16)).columns[0], [1.0])


def test_tensor_outputs(torch):
    """Integer tensors are labels; softmax outputs are probabilities with confidence."""
    assert_categorical(read_outputs(torch.tensor([2, 0])).table.columns[0], ["2", "0"])
    proba = torch.softmax(torch.tensor([[0.0, 2.0], [3.0, 0.0]]), dim=1)
    out = read_outputs(proba, classes=["neg", "pos"])
    assert_categorical(out.table.columns[0], ["pos", "neg"])
    assert set(out.confidence) == {"prediction"}


def test_tensor_dict_column(torch):
    """A 1-D tensor works as a dict column."""
    assert_numeric(read_features({"x": torch.tensor([0.5, 1.5])}).columns[0], [0.5, 1.5])


def test_list_of_tensors_is_rows_and_tuple_of_tensors_is_outputs(torch):
    """A list of 1-D tensors stacks into rows; a tuple of tensors is several outputs."""
    rows = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]
    assert batch_size(rows) == 2
    assert_numeric(column(read_features(rows), "f1"), [2.0, 4.0])
    out = read_outputs((torch.tensor([1, 0]), torch.tensor([0.25, 0.5])))
    assert out.table.names == ("output_0", "output_1")
    assert_categorical(column(out.table, "output_0"), ["1", "0"])


def test_torch_tensor_is_kept_not_converted_in_the_call(torch):
    """A monitored model taking a torch batch records its batch size and summaries; the hot path reads the shape."""
    from otel_mlmon._stack import features_key

    t = torch.zeros((64, 768))
    assert batch_size(t) == 64
    assert features_key(t) is None  # batches are read on their own, by the folder
    assert read_features(t).n_rows == 64
    assert batch_size(torch.tensor(3.0)) == 1


@pytest.mark.parametrize("kind", [ArrayLike, DlpackLike, NumpyMethodLike, DeviceTensor])
def test_tensor_batches_stack_in_the_folder_like_arrays(kind):
    """Consecutive tensor batches are converted in the folder and folded as one batch, reading as call by call."""
    from otel_mlmon._stack import Stacked, stack_rows

    rng = np.random.default_rng(1)
    calls = [(kind(rng.normal(size=(4, 3))), kind(rng.integers(0, 2, size=4))) for _ in range(5)]
    groups = stack_rows([(f, o, None) for f, o in calls], None)
    assert len(groups) == 1 and isinstance(groups[0][0], Stacked)
    stacked = read_features(groups[0][0].features)
    singles = [read_features(f) for f, _ in calls]
    for j, col in enumerate(stacked.columns):
        assert np.array_equal(col.values, np.concatenate([t.columns[j].values for t in singles]))
    labels = read_outputs(groups[0][1]).table.columns[0]
    assert labels.kind == "categorical"
    assert list(labels.values) == [v for _, o in calls for v in read_outputs(o).table.columns[0].values]


def test_monitored_device_tensors_are_converted_only_by_the_folder():
    """Through @monitor, a device tensor's batch size is recorded and its summaries exported, while the predict
    calls themselves never copy it to the host (it is converted when the summaries are folded)."""
    import otel_mlmon
    from otel_mlmon import conventions as conv
    from otel_mlmon.testing import InMemoryTelemetry

    telemetry = InMemoryTelemetry()
    predict = otel_mlmon.monitor(model="m", **telemetry.providers)(
        lambda t: DeviceTensor(np.zeros(t.shape[0]))
    )
    DeviceTensor.conversions = 0
    for i in range(10):
        predict(DeviceTensor(np.full((64, 4), float(i))))
    assert DeviceTensor.conversions == 0
    assert [s.attributes["ml.batch.size"] for s in telemetry.spans()] == [64] * 10
    points = telemetry.points(conv.METRIC_FEATURE_DISTRIBUTION)
    assert sum(p.count for p in points) == 10 * 64 * 4
    assert DeviceTensor.conversions == 20  # inputs and outputs, once each, by the folder
