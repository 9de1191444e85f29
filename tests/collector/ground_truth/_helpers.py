"""Builders of ml.prediction / ml.ground_truth OTLP log records and records for the ground-truth tests, and a join
store on a full disk."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any
from unittest import mock

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from otel_mlmon_collector._ground_truth._records import GroundTruthRecord, PredictionRecord
from otel_mlmon_collector._ground_truth._store import JoinStore

from otel_mlmon import conventions as conv

SECOND = 10**9


def any_value(value: Any) -> common_pb2.AnyValue:
    """An OTLP AnyValue for a Python str, bool, int, float or list of those."""
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value]))
    raise TypeError(type(value))


def log_record(
    event: str | None,
    attributes: dict[str, Any],
    time_unix_nano: int = 0,
    *,
    event_in_attribute: bool = False,
    trace_id: bytes = b"",
    span_id: bytes = b"",
    observed_time_unix_nano: int = 0,
) -> logs_pb2.LogRecord:
    """A LogRecord with the event name in ``event_name`` (or in the ``event.name`` attribute)."""
    attrs = dict(attributes)
    record = logs_pb2.LogRecord(
        time_unix_nano=time_unix_nano,
        observed_time_unix_nano=observed_time_unix_nano,
        trace_id=trace_id,
        span_id=span_id,
    )
    if event is not None:
        if event_in_attribute:
            attrs["event.name"] = event
        else:
            record.event_name = event
    for key, value in attrs.items():
        record.attributes.add(key=key, value=any_value(value))
    return record


def prediction_log(pid: str, value: Any, time_unix_nano: int = SECOND, **extra: Any) -> logs_pb2.LogRecord:
    """An ml.prediction log record of model ``fraud`` version ``3``."""
    attrs = {
        conv.ATTR_MODEL_NAME: "fraud",
        conv.ATTR_MODEL_VERSION: "3",
        conv.ATTR_OPERATION: "predict",
        conv.ATTR_PREDICTION_ID: pid,
        conv.ATTR_PREDICTION_VALUE: value,
        **extra,
    }
    return log_record(conv.EVENT_PREDICTION, attrs, time_unix_nano)


def label_log(pid: str, value: Any, time_unix_nano: int = 2 * SECOND, **extra: Any) -> logs_pb2.LogRecord:
    """An ml.ground_truth log record of model ``fraud``."""
    attrs = {
        conv.ATTR_MODEL_NAME: "fraud",
        conv.ATTR_PREDICTION_ID: pid,
        conv.ATTR_GROUND_TRUTH_VALUE: value,
        **extra,
    }
    return log_record(conv.EVENT_GROUND_TRUTH, attrs, time_unix_nano)


def request(*records: logs_pb2.LogRecord) -> logs_service_pb2.ExportLogsServiceRequest:
    """An ExportLogsServiceRequest holding the records in one resource and scope."""
    message = logs_service_pb2.ExportLogsServiceRequest()
    message.resource_logs.add().scope_logs.add().log_records.extend(records)
    return message


def prediction(
    pid: str, value: str | float = "yes", t: int = SECOND, model: str = "fraud", version: str = "3", **kw: Any
) -> PredictionRecord:
    """A PredictionRecord."""
    return PredictionRecord(model, version, "prediction", pid, t, value, **kw)


def label(
    pid: str, value: str | float = "yes", t: int = 2 * SECOND, model: str = "fraud"
) -> GroundTruthRecord:
    """A GroundTruthRecord."""
    return GroundTruthRecord(model, "", "prediction", pid, t, value)


class FullDiskConnection:
    """The SQLite connection of a full disk: reads and transaction control go to the real connection, every write
    statement fails as SQLite reports it."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, sql: str, *args: object) -> object:
        if sql.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SELECT")):
            return self.real.execute(sql, *args)
        raise sqlite3.OperationalError("database or disk is full")

    def executemany(self, sql: str, *args: object) -> object:
        raise sqlite3.OperationalError("database or disk is full")


def full_disk(store: JoinStore) -> AbstractContextManager[object]:
    """Within the block the store's disk is full (:class:`FullDiskConnection`); after it, its connection is back."""
    return mock.patch.object(store, "_db", FullDiskConnection(store._db))
