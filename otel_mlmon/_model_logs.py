"""``ml.prediction`` / ``ml.ground_truth`` records under a per-model resource, so a load balancer can shard by model.

One collector replica keeps a model's windows and label joins, so a router in front of several replicas must send
a model's metrics *and* its label records to the same one. The OpenTelemetry Collector's load-balancing exporter
(``routing_key: attributes``) reads a log batch's routing attributes from its resource first, then from the first
scope's attributes, then from the first record only: records of two models under one resource would all follow the
first record's model. :func:`model_logger` therefore emits each model's records under the provider's resource plus
``ml.model.name``; the OTLP exporters group records by resource, so every model gets its own ``ResourceLogs`` and
the router sees the right key for every record (docs/deployment.md, "Several collector replicas").

Only ``ml.model.name`` goes on the resource (not the version): ``record_ground_truth`` may be called without a
version, and its records must land where the predictions are.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry._logs import LogRecord

from otel_mlmon import conventions as conv

__all__ = ["model_logger"]

_cache: dict[tuple[int, str], tuple[Any, Any]] = {}
_cache_lock = threading.Lock()
_MAX_CACHED = 4096


class _ModelLogger:
    """Emits through an SDK ``Logger`` with the resource replaced by the per-model one."""

    def __init__(self, logger: Any, resource: Any, record_class: Any) -> None:
        self._logger = logger
        self._resource = resource
        self._record_class = record_class

    def emit(self, **fields: Any) -> None:
        record = self._record_class(
            log_record=LogRecord(**fields),
            resource=self._resource,
            instrumentation_scope=self._logger.instrumentation_scope,
        )
        self._logger.emit(record)


def model_logger(logger: Any, model: str) -> Any:
    """``logger`` (from ``LoggerProvider.get_logger``) emitting under its resource plus ``ml.model.name=model``.

    For a logger that is not the OpenTelemetry SDK's (no-op, proxy, another SDK), ``logger`` itself: its records
    keep the provider's resource.
    """
    resource = getattr(logger, "resource", None)
    if resource is None or not hasattr(logger, "instrumentation_scope"):
        return logger
    try:
        from opentelemetry.sdk._logs import ReadWriteLogRecord
        from opentelemetry.sdk.resources import Resource
    except ImportError:  # an SDK without the writable record: the provider's resource is kept
        return logger
    key = (id(resource), model)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None or cached[0] is not resource:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            cached = (resource, resource.merge(Resource({conv.ATTR_MODEL_NAME: model})))
            _cache[key] = cached
    return _ModelLogger(logger, cached[1], ReadWriteLogRecord)
