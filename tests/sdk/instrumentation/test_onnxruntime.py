"""Zero-code instrumentation of ONNX Runtime: ``InferenceSession.run`` is one span with the decorator's telemetry."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon import conventions as conv

from ._helpers import predictions_by_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _model_bytes() -> bytes:
    """A two-feature linear model y = X @ w built with onnx.helper (nothing downloaded)."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [2, 1], [2.0, -1.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "w"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_session_run_is_one_span_with_rows_and_summaries(telemetry, instrumented):
    """session.run(None, {"X": batch}) is one span ``predict InferenceSession`` counting the batch's rows, and
    its input and first output are summarised."""
    instrumented()
    session = ort.InferenceSession(_model_bytes(), providers=["CPUExecutionProvider"])
    X = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    (y,) = session.run(None, {"X": X})
    np.testing.assert_allclose(y[:, 0], [1.0, 4.0, -3.0])
    (span,) = telemetry.spans()
    assert span.name == "predict InferenceSession"
    assert span.attributes[conv.ATTR_OPERATION] == "run"
    assert span.attributes[conv.ATTR_BATCH_SIZE] == 3
    assert predictions_by_model(telemetry) == {"InferenceSession": 3}
    (rows,) = telemetry.points(conv.METRIC_SUMMARY_ROWS)
    assert rows.value == 3
    assert telemetry.points(conv.METRIC_PREDICTION_DISTRIBUTION)
