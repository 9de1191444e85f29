"""Prediction and label records: the ``ml.prediction`` / ``ml.ground_truth`` log records decoded into dataclasses.

Only log records whose event name (the ``event_name`` field, or else the ``event.name`` attribute) is one of the
two ml events are read; every other log record is ignored. A malformed ml record (missing model name or
prediction id, no value, non-finite number, probabilities that do not match their classes) is counted under a
reason and skipped: parsing never raises.

Values: a string ``AnyValue`` is a class label; a double or int ``AnyValue`` is a number (stored as ``float``).
Times: ``time_unix_nano``, else ``observed_time_unix_nano``, else the caller's ``now_unix_nano``.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon_collector._otlp import MalformedRequest, OtlpRequest

__all__ = [
    "DEFAULT_OUTPUT_NAME",
    "GroundTruthRecord",
    "JoinedRow",
    "ParsedRecords",
    "PredictionRecord",
    "Value",
    "label_from_json",
    "parse_log_records",
    "parse_logs_request",
    "parse_otlp_request",
    "prediction_from_json",
    "record_to_json",
]

#: Output name used when a record carries no ``ml.output.name`` (the SDK's default output name).
DEFAULT_OUTPUT_NAME = "prediction"

#: A predicted or true value: a class label (``str``) or a number (``float``).
Value = str | float


@dataclass(frozen=True)
class PredictionRecord:
    """One sampled prediction (event ``ml.prediction``).

    Attributes:
        model: ``ml.model.name``.
        version: ``ml.model.version`` (``""`` when absent).
        output: ``ml.output.name`` (``"prediction"`` when absent).
        prediction_id: ``ml.prediction.id``.
        time_unix_nano: Prediction time.
        value: Predicted class label (``str``) or number (``float``).
        operation: ``ml.operation`` (``""`` when absent).
        confidence: Max class probability, when sent.
        classes: Class labels of ``probabilities`` (same order), empty when not sent.
        probabilities: Per-class probabilities, empty when not sent.
        trace_id: Hex trace id of the predict span (``""`` when absent).
        span_id: Hex span id of the predict span (``""`` when absent).
    """

    model: str
    version: str
    output: str
    prediction_id: str
    time_unix_nano: int
    value: Value
    operation: str = ""
    confidence: float | None = None
    classes: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    trace_id: str = ""
    span_id: str = ""

    @property
    def join_key(self) -> tuple[str, str, str]:
        """``(model, output, prediction_id)``: what a label must match (the version comes from the prediction)."""
        return (self.model, self.output, self.prediction_id)


@dataclass(frozen=True)
class GroundTruthRecord:
    """One observed label (event ``ml.ground_truth``).

    Attributes:
        model: ``ml.model.name``.
        version: ``ml.model.version`` (``""`` when absent; informational, the join does not need it).
        output: ``ml.output.name`` (``"prediction"`` when absent).
        prediction_id: ``ml.prediction.id`` of the prediction it labels.
        time_unix_nano: When the label was observed.
        value: True class label (``str``) or number (``float``).
    """

    model: str
    version: str
    output: str
    prediction_id: str
    time_unix_nano: int
    value: Value

    @property
    def join_key(self) -> tuple[str, str, str]:
        """``(model, output, prediction_id)``, the same key as the prediction's."""
        return (self.model, self.output, self.prediction_id)


@dataclass(frozen=True)
class JoinedRow:
    """A prediction joined with its label: the unit the performance metrics and the error stream read.

    The row belongs to the window of ``prediction_time_unix_nano`` (performance is attributed to when the model
    predicted, not to when the label arrived).
    """

    prediction: PredictionRecord
    label: GroundTruthRecord

    @property
    def series_key(self) -> tuple[str, str, str]:
        """``(model, version, output)``: one performance series."""
        p = self.prediction
        return (p.model, p.version, p.output)

    @property
    def prediction_time_unix_nano(self) -> int:
        """When the model predicted."""
        return self.prediction.time_unix_nano

    @property
    def label_delay_seconds(self) -> float:
        """Label time minus prediction time, in seconds (negative when clocks disagree)."""
        return (self.label.time_unix_nano - self.prediction.time_unix_nano) / 1e9


@dataclass
class ParsedRecords:
    """What one logs request held: predictions, labels, malformed ml records by reason, other records skipped."""

    predictions: list[PredictionRecord] = field(default_factory=list)
    labels: list[GroundTruthRecord] = field(default_factory=list)
    malformed: Counter[str] = field(default_factory=Counter)
    ignored: int = 0


def parse_otlp_request(request: OtlpRequest, now_unix_nano: int | None = None) -> ParsedRecords:
    """Read the ml records of a collector request; requests of other signals give an empty result.

    Uses the decoded message when the request still holds it, else decodes its payload (a payload that does
    not decode is counted as ``malformed["undecodable"]``).
    """
    if request.signal != "logs":
        return ParsedRecords()
    try:
        message = request.decoded()
    except MalformedRequest:
        parsed = ParsedRecords()
        parsed.malformed["undecodable"] += 1
        return parsed
    return parse_logs_request(message, now_unix_nano)


def parse_logs_request(message: Any, now_unix_nano: int | None = None) -> ParsedRecords:
    """Read the ml records out of a decoded ``ExportLogsServiceRequest``; never raises.

    Args:
        message: The decoded request (``OtlpRequest.message`` for the ``logs`` signal).
        now_unix_nano: Time given to records that carry neither time field (default: the wall clock).
    """
    records = []
    try:
        for resource_logs in message.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                records.extend(scope_logs.log_records)
    except AttributeError:
        parsed = ParsedRecords()
        parsed.malformed["not_a_logs_request"] += 1
        return parsed
    return parse_log_records(records, now_unix_nano)


def parse_log_records(records: Iterable[Any], now_unix_nano: int | None = None) -> ParsedRecords:
    """Read ml records out of protobuf ``LogRecord`` messages; other records are counted in ``ignored``."""
    now = time.time_ns() if now_unix_nano is None else int(now_unix_nano)
    parsed = ParsedRecords()
    for record in records:
        attributes = {kv.key: kv.value for kv in record.attributes}
        event = getattr(record, "event_name", "") or _string(attributes.get("event.name"))
        if event == conv.EVENT_PREDICTION:
            result: PredictionRecord | GroundTruthRecord | str = _prediction(record, attributes, now)
        elif event == conv.EVENT_GROUND_TRUTH:
            result = _label(record, attributes, now)
        else:
            parsed.ignored += 1
            continue
        if isinstance(result, str):
            parsed.malformed[result] += 1
        elif isinstance(result, PredictionRecord):
            parsed.predictions.append(result)
        else:
            parsed.labels.append(result)
    return parsed


_ENCODER = json.JSONEncoder(separators=(",", ":"))
_PREDICTION_FIELDS = tuple(f.name for f in fields(PredictionRecord))
_LABEL_FIELDS = tuple(f.name for f in fields(GroundTruthRecord))
_CLASSES = _PREDICTION_FIELDS.index("classes")
_PROBABILITIES = _PREDICTION_FIELDS.index("probabilities")


def record_to_json(record: PredictionRecord | GroundTruthRecord) -> str:
    """The record's fields as a JSON array, in declaration order (a string stays a string, a float a float)."""
    names = _PREDICTION_FIELDS if isinstance(record, PredictionRecord) else _LABEL_FIELDS
    return _ENCODER.encode([getattr(record, name) for name in names])


def prediction_from_json(text: str) -> PredictionRecord:
    """Inverse of :func:`record_to_json` for a prediction."""
    data = json.loads(text)
    data[_CLASSES] = tuple(data[_CLASSES])
    data[_PROBABILITIES] = tuple(data[_PROBABILITIES])
    return PredictionRecord(*data)


def label_from_json(text: str) -> GroundTruthRecord:
    """Inverse of :func:`record_to_json` for a label."""
    return GroundTruthRecord(*json.loads(text))


#: Longest model name, version, output name, prediction id or text value a record may carry (issue 16: 1 MB ids
#: were kept for 7 days); a longer one makes the record malformed (``too_long``).
MAX_TEXT_CHARS = 1024
#: Record times at or past this (the int64 limit) are refused per record (``bad_time``): SQLite and the windows
#: keep times as signed 64-bit integers.
_TIME_LIMIT = 1 << 63


def _prediction(record: Any, attributes: dict[str, Any], now: int) -> PredictionRecord | str:
    common = _common(attributes, conv.ATTR_PREDICTION_VALUE)
    if isinstance(common, str):
        return common
    if _time(record, now) >= _TIME_LIMIT:
        return "bad_time"
    model, version, output, prediction_id, value = common
    confidence = _number(attributes.get(conv.ATTR_PREDICTION_CONFIDENCE))
    if conv.ATTR_PREDICTION_CONFIDENCE in attributes and (confidence is None or not 0.0 <= confidence <= 1.0):
        return "bad_confidence"
    classes = _array(attributes.get(conv.ATTR_PREDICTION_CLASSES))
    probabilities = _array(attributes.get(conv.ATTR_PREDICTION_PROBABILITIES))
    if classes is None or probabilities is None:
        return "bad_probabilities"
    if len(classes) > MAX_TEXT_CHARS or any(isinstance(c, str) and len(c) > MAX_TEXT_CHARS for c in classes):
        return "too_long"
    class_labels = tuple(_label_text(c) for c in classes)
    probs = tuple(_number_from_python(p) for p in probabilities)
    if len(class_labels) != len(probs) or any(
        p is None or not 0.0 <= p <= 1.0 or not math.isfinite(p) for p in probs
    ):
        return "bad_probabilities"
    if len(set(class_labels)) != len(class_labels) or any(c is None for c in class_labels):
        return "bad_probabilities"
    return PredictionRecord(
        model=model,
        version=version,
        output=output,
        prediction_id=prediction_id,
        time_unix_nano=_time(record, now),
        value=value,
        operation=_string(attributes.get(conv.ATTR_OPERATION)) or "",
        confidence=confidence,
        classes=class_labels,  # type: ignore[arg-type]  # None excluded above
        probabilities=probs,  # type: ignore[arg-type]
        trace_id=bytes(record.trace_id).hex(),
        span_id=bytes(record.span_id).hex(),
    )


def _label(record: Any, attributes: dict[str, Any], now: int) -> GroundTruthRecord | str:
    common = _common(attributes, conv.ATTR_GROUND_TRUTH_VALUE)
    if isinstance(common, str):
        return common
    model, version, output, prediction_id, value = common
    if _time(record, now) >= _TIME_LIMIT:
        return "bad_time"
    return GroundTruthRecord(
        model=model,
        version=version,
        output=output,
        prediction_id=prediction_id,
        time_unix_nano=_time(record, now),
        value=value,
    )


def _common(attributes: dict[str, Any], value_key: str) -> tuple[str, str, str, str, Value] | str:
    model = _string(attributes.get(conv.ATTR_MODEL_NAME))
    if not model:
        return "missing_model_name"
    prediction_id = _string(attributes.get(conv.ATTR_PREDICTION_ID))
    if not prediction_id:
        return "missing_prediction_id"
    value = _value(attributes.get(value_key))
    if value is None:
        return "missing_value"
    version = _string(attributes.get(conv.ATTR_MODEL_VERSION)) or ""
    output = _string(attributes.get(conv.ATTR_OUTPUT_NAME)) or DEFAULT_OUTPUT_NAME
    texts = (model, version, output, prediction_id, value if isinstance(value, str) else "")
    if any(len(text) > MAX_TEXT_CHARS for text in texts):
        return "too_long"
    return model, version, output, prediction_id, value


def _time(record: Any, now: int) -> int:
    return int(record.time_unix_nano or record.observed_time_unix_nano or now)


def _string(value: Any) -> str | None:
    if value is None or value.WhichOneof("value") != "string_value":
        return None
    return str(value.string_value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "double_value":
        number = float(value.double_value)
    elif kind == "int_value":
        number = float(value.int_value)
    else:
        return None
    return number if math.isfinite(number) else None


def _value(value: Any) -> Value | None:
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    return _number(value)


def _array(value: Any) -> list[Any] | None:
    """Python values of an ``array_value``; ``[]`` when absent, ``None`` when present but not an array."""
    if value is None:
        return []
    if value.WhichOneof("value") != "array_value":
        return None
    out: list[Any] = []
    for item in value.array_value.values:
        kind = item.WhichOneof("value")
        out.append(getattr(item, kind) if kind in ("string_value", "double_value", "int_value") else None)
    return out


def _number_from_python(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _label_text(value: Any) -> str | None:
    """Class labels in arrays are strings; integer class labels are accepted and written as decimal text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
