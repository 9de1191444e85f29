"""The ``@monitor`` decorator: its configuration, checked once at decoration time, and the wrapping.

:class:`Monitor` validates the arguments and wraps each function in a ``wrapt`` proxy whose call path (sync,
coroutine, generator, async generator) lives in :mod:`otel_mlmon._call`, with the per-call timing and span logic.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import wrapt
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace

from otel_mlmon._call import Call
from otel_mlmon.decisions import Decision, check_decision
from otel_mlmon.summary import SummaryConfig

__all__ = ["Monitor", "monitor"]

F = TypeVar("F", bound=Callable[..., Any])


class Monitor:
    """``@monitor(model=...)``: one span per call plus latency, throughput, error and usage metrics, and sketches
    of the features and predictions.

    The instance is the configuration (inspectable as ``wrapped._self_monitor``); calling it on a function returns
    the monitored function.

    Works on plain functions, ``async`` functions, instance/class/static methods, generators and async generators
    (their span ends when the stream is exhausted or closed). Spans go through the global tracer provider unless
    ``tracer_provider`` is given; metrics through the global meter provider unless ``meter_provider`` is given, so
    it composes with an existing OpenTelemetry setup and with ``opentelemetry-instrument``.

    Args:
        model: The model's name (``ml.model.name``). Required, non-empty.
        version: The model's version (``ml.model.version``); omitted from the telemetry when None.
        span_name: Span name; default ``"predict {model}"``.
        operation: ``ml.operation``; default the function's name (``predict``, ``predict_proba``...).
        attributes: Extra constant attributes for every span and series (keep them low-cardinality).
        batch_size: ``f(args, kwargs) -> rows`` for inputs whose row count cannot be read automatically.
        trace: False to record metrics only (no span).
        tracer_provider: A tracer provider to use instead of the global one.
        meter_provider: A meter provider to use instead of the global one.
        summaries: False to skip feature and prediction summaries (spans and inference metrics only).
        features: Where the features are: the name of an argument, or ``f(args, kwargs) -> input``. Default:
            the first positional argument (or the first keyword argument).
        outputs: Where the predictions are in the return value: a key (dicts) or attribute name, or
            ``f(result) -> outputs``. Default: the return value itself.
        feature_names: Column names for inputs without their own (arrays); default the model's
            ``feature_names_in_`` when the decorated function is a method of an estimator.
        categorical: Names of columns to summarise as categories: numeric-looking ones (integer codes), or string
            columns the kind rule would read as text or identifiers (their values are then exported, bounded).
        text: Names of string columns to summarise as free text (numeric descriptors, never values).
        ids: Names of columns to summarise as identifiers (length and missing count only, never values).
        classes: Class labels for probability outputs (default the model's ``classes_``).
        sample_rate: Share of calls whose inputs and outputs enter the summaries (decided by trace id, so
            consistent with trace sampling).
        max_rows: At most this many rows (a uniform random subset) of one call enter the summaries (it does not
            limit the ``ml.prediction`` records: see ``record_max_rows``).
        summary_config: Sketch sizes (:class:`otel_mlmon.summary.SummaryConfig`).
        prediction_id: Where each row's prediction id is: an argument name or ``f(args, kwargs) -> ids`` (one id
            per row, or a scalar for a one-row call). Without it, ids are generated when ``record_predictions``
            is on. Either way ``otel_mlmon.last_prediction_ids()`` returns them after the call, and a one-row
            call's span carries ``ml.prediction.id``.
        record_predictions: Share of calls (decided on the trace id) whose rows are emitted as ``ml.prediction``
            log records (ids, predicted value/class, confidence, probabilities; never feature values), for the
            collector to join with labels reported by :func:`otel_mlmon.record_ground_truth`. Every row of a
            recorded call becomes a record unless ``record_max_rows`` says otherwise.
        record_max_rows: Record sampling within a call: at most this many rows (a uniform random subset) of one
            recorded call become ``ml.prediction`` records; None (default) records every row, so every label
            can join. The other rows' ids are still returned by ``last_prediction_ids()``; their labels count as
            ``unknown_ids`` in the collector.
        decision: The deployed decision rule of a model that returns class probabilities, when it is not their
            argmax: ``otel_mlmon.Threshold(0.8)`` (the positive class when its probability is at least 0.8), or
            ``f(probabilities) -> class index per row``; ``otel_mlmon.Columns(decision=..., scores=...)`` when the
            function returns its decision and its probabilities as two outputs. The decided class is the recorded
            and summarised prediction (realized and estimated performance then describe the deployed predictor);
            the probabilities are recorded with it.
        logger_provider: A logger provider for the records instead of the global one.
        genai: For generative models: ``{"operation": "chat", "provider": "openai"}`` (``provider`` and
            ``request_model`` optional; ``request_model`` defaults to ``model``) sets the OpenTelemetry GenAI
            attributes ``gen_ai.operation.name``, ``gen_ai.provider.name`` and ``gen_ai.request.model`` on the
            span and every series, names the span ``"{operation} {request_model}"``, exports the duration as
            ``gen_ai.client.operation.duration`` too, and reads token usage from every result. Prompts and
            completions are never captured.
        token_usage: Where token counts come from: ``f(result) -> {"input": n, "output": m}`` (either optional,
            or None); True to read OpenAI-style ``usage`` (``prompt_tokens``/``completion_tokens`` or
            ``input_tokens``/``output_tokens``, attribute or key) from every result; False never to read it.
            Default: read it from the last chunk of streams (generators), and from every result with ``genai``.
            Streams pass their last chunk to the callback. Counts become ``gen_ai.client.token.usage`` and the
            span attributes ``gen_ai.usage.input_tokens`` / ``gen_ai.usage.output_tokens``.

    Raises:
        ValueError: on an invalid argument, at decoration time.

    Example:
        >>> import otel_mlmon
        >>> @otel_mlmon.monitor(model="fraud", version="3")
        ... def predict(rows):
        ...     return [0 for _ in rows]
        >>> predict([[1.0, 2.0], [3.0, 4.0]])
        [0, 0]
    """

    def __init__(
        self,
        func: Any = None,
        /,
        *,
        model: str,
        version: str | None = None,
        span_name: str | None = None,
        operation: str | None = None,
        attributes: Mapping[str, str] | None = None,
        batch_size: Callable[..., int | None] | None = None,
        trace: bool = True,
        tracer_provider: otel_trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
        summaries: bool = True,
        features: str | Callable[..., Any] | None = None,
        outputs: str | Callable[[Any], Any] | None = None,
        feature_names: Sequence[str] | None = None,
        categorical: Collection[str] = (),
        text: Collection[str] = (),
        ids: Collection[str] = (),
        classes: Sequence[Any] | None = None,
        sample_rate: float = 1.0,
        max_rows: int | None = 1000,
        summary_config: SummaryConfig | None = None,
        prediction_id: str | Callable[..., Any] | None = None,
        record_predictions: float = 0.0,
        record_max_rows: int | None = None,
        decision: Decision | None = None,
        logger_provider: Any = None,
        genai: Mapping[str, str] | None = None,
        token_usage: bool | Callable[[Any], Mapping[str, int] | None] | None = None,
    ) -> None:
        if func is not None:
            raise TypeError("use @monitor(model='...') with keyword arguments; the model name is required")
        if (
            not isinstance(record_predictions, (int, float))
            or isinstance(record_predictions, bool)
            or not 0 <= record_predictions <= 1
        ):
            raise ValueError(
                f"monitor(record_predictions=...) must be a number in [0, 1], got {record_predictions!r}"
            )
        if prediction_id is not None and not isinstance(prediction_id, str) and not callable(prediction_id):
            raise ValueError(
                f"monitor(prediction_id=...) must be an argument name or a callable, got {prediction_id!r}"
            )
        if (
            not isinstance(sample_rate, (int, float))
            or isinstance(sample_rate, bool)
            or not 0 <= sample_rate <= 1
        ):
            raise ValueError(f"monitor(sample_rate=...) must be a number in [0, 1], got {sample_rate!r}")
        for name, value in (("max_rows", max_rows), ("record_max_rows", record_max_rows)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"monitor({name}=...) must be a positive int or None, got {value!r}")
        self.decision = check_decision(decision)
        self.record_max_rows = record_max_rows
        for name, value in (("features", features), ("outputs", outputs)):
            if value is not None and not isinstance(value, str) and not callable(value):
                raise ValueError(f"monitor({name}=...) must be an argument name or a callable, got {value!r}")
        for name, value in (("categorical", categorical), ("text", text), ("ids", ids)):
            if isinstance(value, str):
                raise ValueError(f"monitor({name}=...) must be a collection of column names, got {value!r}")
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"monitor(model=...) must be a non-empty string naming the model, got {model!r}")
        if version is not None and not isinstance(version, str):
            raise ValueError(
                f"monitor(version=...) must be a string such as '3' or '2024-06-01', got {version!r}"
            )
        if span_name is not None and (not isinstance(span_name, str) or not span_name):
            raise ValueError(f"monitor(span_name=...) must be a non-empty string, got {span_name!r}")
        if batch_size is not None and not callable(batch_size):
            raise ValueError(
                f"monitor(batch_size=...) must be a callable taking the call's (args, kwargs), got {batch_size!r}"
            )
        if attributes is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise ValueError("monitor(attributes=...) must map str to str (they label every series and span)")
        if token_usage is not None and not isinstance(token_usage, bool) and not callable(token_usage):
            raise ValueError(
                "monitor(token_usage=...) must be True, False or f(result) -> {'input': n, 'output': m}, "
                f"got {token_usage!r}"
            )
        self.genai = _check_genai(genai)
        self.token_usage = token_usage
        self.model = model
        self.version = version
        self.span_name = span_name
        self.operation = operation
        self.attributes = dict(attributes or {})
        self.batch_size = batch_size
        self.trace = trace
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.summaries = summaries
        self.features = features
        self.outputs = outputs
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.categorical = frozenset(categorical)
        self.text = frozenset(text)
        self.ids = frozenset(ids)
        self.classes = classes
        self.sample_rate = float(sample_rate)
        self.max_rows = max_rows
        # A copy per monitor: it holds the column kinds decided for this monitor's inputs.
        self.summary_config = (summary_config or SummaryConfig()).with_kinds(
            categorical=self.categorical, text=self.text, ids=self.ids
        )
        self.prediction_id = prediction_id
        self.record_predictions = float(record_predictions)
        self.logger_provider = logger_provider

    def __call__(self, func: F) -> F:
        return self.wrap(func)

    def wrap(self, func: F, proxy: type[wrapt.FunctionWrapper] = wrapt.FunctionWrapper) -> F:
        """Return ``func`` monitored, as a ``proxy`` (a ``wrapt.FunctionWrapper`` subclass)."""
        target = getattr(func, "__func__", func)  # classmethod / staticmethod objects
        if not callable(target):
            raise TypeError(f"monitor(...) decorates a function or method, got {type(func).__name__}")
        operation = self.operation or getattr(target, "__name__", None) or "predict"
        if inspect.isasyncgenfunction(target):
            kind = Call.async_generator
        elif inspect.isgeneratorfunction(target):
            kind = Call.generator
        elif inspect.iscoroutinefunction(target):
            kind = Call.coroutine
        else:
            kind = Call.sync
        call = Call(self, operation, target)
        wrapper = proxy(func, getattr(call, kind.__name__))
        wrapper._self_monitor = self  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


_GENAI_KEYS = ("operation", "provider", "request_model")


def _check_genai(genai: Mapping[str, str] | None) -> dict[str, str] | None:
    """Validate ``monitor(genai=...)``: known keys, non-empty string values, ``operation`` present."""
    if genai is None:
        return None
    if not isinstance(genai, Mapping):
        raise ValueError(
            f"monitor(genai=...) must be a mapping such as {{'operation': 'chat'}}, got {genai!r}"
        )
    unknown = sorted(set(genai) - set(_GENAI_KEYS))
    if unknown:
        raise ValueError(f"monitor(genai=...): unknown keys {unknown}; known keys are {list(_GENAI_KEYS)}")
    if "operation" not in genai:
        raise ValueError(
            "monitor(genai=...) needs 'operation' (gen_ai.operation.name: chat, text_completion...)"
        )
    for key, value in genai.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"monitor(genai=...): {key!r} must be a non-empty string, got {value!r}")
    return dict(genai)


#: The decorator: ``@monitor(model=...)`` builds a :class:`Monitor`, which wraps the function it is applied to.
monitor = Monitor
