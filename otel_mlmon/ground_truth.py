"""Reporting late ground truth: ``ml.ground_truth`` records the collector joins to earlier predictions by id."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from opentelemetry._logs import SeverityNumber, get_logger_provider

from otel_mlmon import conventions as conv
from otel_mlmon._log_pipeline import install_drop_counter, patient
from otel_mlmon._model_logs import model_logger
from otel_mlmon._version import __version__

__all__ = ["record_ground_truth"]


def record_ground_truth(
    *,
    model: str,
    prediction_id: str | Sequence[str],
    value: Any,
    version: str | None = None,
    output: str | None = None,
    timestamp_ns: int | None = None,
    logger_provider: Any = None,
) -> int:
    """Report the true outcome of one or many earlier predictions, from any process.

    Emits one ``ml.ground_truth`` OTLP log record per id through the global logger provider (set up by
    :func:`otel_mlmon.configure` or your own OpenTelemetry setup) or ``logger_provider``. The collector joins each
    label to the ``ml.prediction`` record with the same id, in whichever order they arrive. When the log queue of
    the processor :func:`otel_mlmon.configure` built is full, this waits (up to 10 s) for room instead of dropping.

    Args:
        model: ``ml.model.name`` of the model that made the prediction.
        prediction_id: The id of the prediction (``otel_mlmon.last_prediction_ids()`` or your own request id),
            or a sequence of ids for a batch.
        value: The true label (str/int/bool: classification) or value (float: regression); a sequence of the same
            length as ``prediction_id`` for a batch.
        version: ``ml.model.version``, when known (the collector can join without it).
        output: ``ml.output.name`` for multi-output models (default: the single output ``prediction``).
        timestamp_ns: When the outcome was observed (default now); the collector derives label delay from it.
        logger_provider: A logger provider to use instead of the global one.

    Returns:
        The number of records emitted.

    Raises:
        ValueError: if ids and values have different lengths, or an id is empty.

    Example:
        >>> import otel_mlmon
        >>> otel_mlmon.record_ground_truth(model="fraud", prediction_id=["a1", "a2"], value=[1, 0])
        2
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"record_ground_truth(model=...) must be a non-empty string, got {model!r}")
    if isinstance(prediction_id, (str, int, np.integer)):
        ids: list[str] = [str(prediction_id)]
        values: list[Any] = [value]
    else:
        ids = [str(i) for i in prediction_id]
        values = list(value.tolist() if hasattr(value, "tolist") else value)
        if len(values) != len(ids):
            raise ValueError(f"record_ground_truth: {len(ids)} prediction ids but {len(values)} values")
    if any(not i for i in ids):
        raise ValueError("record_ground_truth: prediction ids must be non-empty")
    base: dict[str, Any] = {conv.ATTR_MODEL_NAME: model}
    if version is not None:
        base[conv.ATTR_MODEL_VERSION] = version
    if output is not None:
        base[conv.ATTR_OUTPUT_NAME] = output
    logger = (logger_provider or get_logger_provider()).get_logger(conv.SCOPE_NAME, __version__)
    logger = model_logger(logger, model)  # routed like the model's predictions (docs/deployment.md)
    when = timestamp_ns if timestamp_ns is not None else time.time_ns()
    install_drop_counter()
    with patient():  # a burst of labels waits for room in a full log queue instead of being dropped
        for prediction, truth in zip(ids, values):
            logger.emit(
                timestamp=when,
                severity_number=SeverityNumber.INFO,
                attributes={
                    **base,
                    conv.ATTR_PREDICTION_ID: prediction,
                    conv.ATTR_GROUND_TRUTH_VALUE: _label(truth),
                },
                event_name=conv.EVENT_GROUND_TRUTH,
            )
    return len(ids)


def _label(value: Any) -> str | float:
    """Labels travel as predicted classes do (the adapters' rule: ``str()``, so 1 -> "1", True -> "True");
    float targets as doubles (regression)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value
    return str(value)
