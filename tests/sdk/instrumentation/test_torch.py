"""Zero-code instrumentation of PyTorch: a module called in eval mode is one span; training is never monitored."""

from __future__ import annotations

import pytest

from otel_mlmon import conventions as conv

from ._helpers import predictions_by_model, span_names

pytestmark = pytest.mark.heavy
torch = pytest.importorskip("torch")


class Net(torch.nn.Module):
    """A small network with submodules (their own calls must not count)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)


def test_eval_mode_call_is_one_span_named_by_the_outer_module(telemetry, instrumented):
    """model(x) in eval mode is one span ``predict Net`` counting the batch's rows; its submodules' calls
    inside are not counted."""
    instrumented()
    model = Net().eval()
    with torch.no_grad():
        out = model(torch.zeros(5, 4))
    assert tuple(out.shape) == (5, 2)
    (span,) = telemetry.spans()
    assert span.name == "predict Net"
    assert span.attributes[conv.ATTR_OPERATION] == "predict"
    assert span.attributes[conv.ATTR_BATCH_SIZE] == 5
    assert predictions_by_model(telemetry) == {"Net": 5}


def test_training_mode_calls_are_not_monitored(telemetry, instrumented):
    """A module in training mode (the default) is being fitted: its forward passes make no span."""
    instrumented()
    model = Net()
    loss = model(torch.ones(3, 4)).sum()
    loss.backward()
    assert telemetry.spans() == []
    model.eval()
    model(torch.ones(2, 4))
    assert span_names(telemetry) == ["predict Net"]


def test_uninstrument_restores_module_call(telemetry, instrumented):
    """uninstrument() puts nn.Module.__call__ back."""
    original = torch.nn.Module.__dict__["__call__"]
    instrumentor = instrumented()
    assert torch.nn.Module.__dict__["__call__"] is not original
    instrumentor.uninstrument()
    assert torch.nn.Module.__dict__["__call__"] is original
    Net().eval()(torch.ones(1, 4))
    assert telemetry.spans() == []
