"""The ``@monitor`` decorator: wrapping and timing of predict calls, for every kind of callable.

Per call it starts a span (through the user's tracer provider), times the call, and adds duration, batch size and
rows to a local stream; nothing per call touches an OpenTelemetry instrument (the bridge exports the streams at
collection time). Whatever goes wrong inside monitoring is counted and logged, and the user's return value or
exception passes through untouched, as the same object.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlmon import conventions as conv
from otel_mlmon._aggregate import InferenceStream
from otel_mlmon._batch import rows_of
from otel_mlmon._faults import report_fault
from otel_mlmon._records import as_ids, generate_ids, set_last_ids, span_context_of
from otel_mlmon._registry import inference_stream, prediction_recorder, summary_stream
from otel_mlmon._summarize import Sampler
from otel_mlmon._version import __version__
from otel_mlmon.summary import SummaryConfig

__all__ = ["Monitor", "monitor"]

F = TypeVar("F", bound=Callable[..., Any])

#: How often a decorator whose metrics go to the global provider looks again for an SDK provider to attach to.
_BIND_RETRY_SECONDS = 1.0
_perf_counter = time.perf_counter
_monotonic = time.monotonic


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
        max_rows: At most this many rows (a uniform random subset) of one call enter the summaries.
        summary_config: Sketch sizes (:class:`otel_mlmon.summary.SummaryConfig`).
        prediction_id: Where each row's prediction id is: an argument name or ``f(args, kwargs) -> ids`` (one id
            per row, or a scalar for a one-row call). Without it, ids are generated when ``record_predictions``
            is on. Either way ``otel_mlmon.last_prediction_ids()`` returns them after the call, and a one-row
            call's span carries ``ml.prediction.id``.
        record_predictions: Share of calls (decided on the trace id) whose rows are emitted as ``ml.prediction``
            log records (ids, predicted value/class, confidence, probabilities; never feature values), for the
            collector to join with labels reported by :func:`otel_mlmon.record_ground_truth`.
        logger_provider: A logger provider for the records instead of the global one.

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
        logger_provider: Any = None,
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
        if max_rows is not None and (
            not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1
        ):
            raise ValueError(f"monitor(max_rows=...) must be a positive int or None, got {max_rows!r}")
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
            kind = _Call.async_generator
        elif inspect.isgeneratorfunction(target):
            kind = _Call.generator
        elif inspect.iscoroutinefunction(target):
            kind = _Call.coroutine
        else:
            kind = _Call.sync
        call = _Call(self, operation, target)
        wrapper = proxy(func, getattr(call, kind.__name__))
        wrapper._self_monitor = self  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


#: The decorator: ``@monitor(model=...)`` builds a :class:`Monitor`, which wraps the function it is applied to.
monitor = Monitor


class _Call:
    """Per-decorated-function state and the four call paths (sync, coroutine, generator, async generator)."""

    def __init__(self, config: Monitor, operation: str, target: Callable[..., Any]) -> None:
        self.config = config
        attrs = {conv.ATTR_MODEL_NAME: config.model}
        if config.version is not None:
            attrs[conv.ATTR_MODEL_VERSION] = config.version
        attrs[conv.ATTR_OPERATION] = operation
        attrs.update(config.attributes)
        self.span_attributes = attrs
        self.span_name = config.span_name or f"predict {config.model}"
        self.tracer = (
            otel_trace.get_tracer(conv.SCOPE_NAME, __version__, tracer_provider=config.tracer_provider)
            if config.trace
            else None
        )
        self.stream: InferenceStream = inference_stream(config.meter_provider, attrs)
        self.summary = None
        if config.summaries and config.sample_rate > 0:
            self.summary = summary_stream(
                config.meter_provider,
                attrs,
                config.summary_config,
                feature_names=config.feature_names,
                categorical=config.categorical,
                classes=config.classes,
                max_rows=config.max_rows,
            )
        self.sampler = Sampler(config.sample_rate) if config.sample_rate < 1 else None
        self.ids_of = None
        if config.prediction_id is not None:
            self.ids_of = _argument_getter(config.prediction_id, target)
        self.recorder = None
        self.record_sampler = None
        if config.record_predictions > 0:
            self.recorder = prediction_recorder(
                config.meter_provider,
                attrs,
                classes=config.classes,
                max_rows=config.max_rows,
                logger_provider=config.logger_provider,
            )
            if config.record_predictions < 1:
                self.record_sampler = Sampler(config.record_predictions)
        self.ids_enabled = self.ids_of is not None or self.recorder is not None
        self.bound = inspect.ismethod(target)  # a bound method (instrument() on an instance)
        self.features_of = _argument_getter(config.features, target)
        self.outputs_of = _result_getter(config.outputs)
        self._bound = False
        self._next_bind = 0.0
        if config.meter_provider is not None:
            self._bind()

    # -- helpers shared by every call path ----------------------------------------------------------------------

    def _bind(self) -> None:
        """Register this stream with the bridge of its meter provider, once that is an SDK provider."""
        self._next_bind = _monotonic() + _BIND_RETRY_SECONDS
        try:
            provider = self.config.meter_provider or otel_metrics.get_meter_provider()
            from otel_mlmon._bridge import bridge_for  # the SDK bridge loads on first use

            bridge = bridge_for(provider)
            if bridge is not None:
                bridge.register(self.stream)
                if self.summary is not None:
                    bridge.register(self.summary)
                self._bound = True
        except Exception as exc:  # noqa: BLE001
            report_fault("metrics", exc)

    def _start(self, instance: Any, args: tuple, kwargs: dict) -> tuple[Any, int | None, Any]:
        """Start the span (not yet current) and read the batch size. Never raises."""
        if not self._bound and _monotonic() >= self._next_bind:
            self._bind()
        span = None
        rows = None
        try:
            if self.config.batch_size is not None:
                rows = self.config.batch_size(args, kwargs)
            else:
                rows = rows_of(self.features_of(args, kwargs, instance))
        except Exception as exc:  # noqa: BLE001
            report_fault("batch_size", exc)
        ids = None
        if self.ids_enabled:
            try:
                if self.ids_of is not None:
                    ids = as_ids(self.ids_of(args, kwargs, instance), rows)
                elif rows is not None:
                    ids = generate_ids(rows)
            except Exception as exc:  # noqa: BLE001
                report_fault("prediction_id", exc)
            set_last_ids(ids)
        if self.tracer is not None:
            try:
                # Attributes given at start cost one dict copy; set_attribute() afterwards takes the span's lock.
                attributes = self.span_attributes
                if rows is not None:
                    attributes = {**attributes, conv.ATTR_BATCH_SIZE: rows}
                if ids is not None and len(ids) == 1:
                    attributes = {**attributes, conv.ATTR_PREDICTION_ID: ids[0]}
                span = self.tracer.start_span(self.span_name, kind=SpanKind.INTERNAL, attributes=attributes)
            except Exception as exc:  # noqa: BLE001
                report_fault("span", exc)
                span = None
        return span, rows, ids

    def _finish(self, span: Any, rows: int | None, duration: float, exc: BaseException | None) -> None:
        """End the span and record the call. Never raises."""
        error_type = None
        span_ids = None
        try:
            if exc is not None:
                error_type = type(exc).__qualname__
            if span is not None:
                if span.is_recording():
                    if exc is not None:
                        span.set_attribute(conv.ATTR_ERROR_TYPE, error_type)
                        span.record_exception(exc, escaped=True)
                        span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"))
                    ctx = span.get_span_context()
                    if ctx.trace_flags.sampled:
                        span_ids = (ctx.trace_id, ctx.span_id)
                span.end()
        except Exception as fault:  # noqa: BLE001
            report_fault("span", fault)
        try:
            self.stream.record(duration, rows, error_type, span_ids)
        except Exception as fault:  # noqa: BLE001
            report_fault("metrics", fault)

    def _summarize(
        self, span: Any, wrapped: Any, instance: Any, args: tuple, kwargs: dict, result: Any
    ) -> None:
        """Hand a sampled successful call's input and output to the summaries. Never raises."""
        try:
            if self.sampler is not None and not self.sampler(span.get_span_context().trace_id if span else 0):
                return
            # The model object, whose feature_names_in_ / classes_ name the columns (read at fold time).
            owner = (
                instance
                if instance is not None
                else getattr(wrapped, "__self__", None)
                if self.bound
                else None
            )
            outputs = self.outputs_of(result) if result is not _NO_RESULT else None
            self.summary.offer(self.features_of(args, kwargs, instance), outputs, owner)
        except Exception as exc:  # noqa: BLE001
            report_fault("summaries", exc)

    def _record(self, span: Any, ids: Any, wrapped: Any, instance: Any, result: Any) -> None:
        """Hand a sampled successful call to the prediction records. Never raises."""
        try:
            context = span_context_of(span)
            if self.record_sampler is not None and not self.record_sampler(
                context.trace_id if context else 0
            ):
                return
            owner = (
                instance
                if instance is not None
                else getattr(wrapped, "__self__", None)
                if self.bound
                else None
            )
            self.recorder.offer(ids, self.outputs_of(result), owner, context)
        except Exception as exc:  # noqa: BLE001
            report_fault("records", exc)

    @staticmethod
    def _attach(span: Any) -> object | None:
        if span is None:
            return None
        try:
            return otel_context.attach(otel_trace.set_span_in_context(span))
        except Exception as exc:  # noqa: BLE001
            report_fault("context", exc)
            return None

    @staticmethod
    def _detach(token: object | None) -> None:
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception as exc:  # noqa: BLE001
                report_fault("context", exc)

    # -- the call paths (names match the kinds chosen in Monitor.__call__) -------------------------------------

    def sync(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        span, rows, ids = self._start(instance, args, kwargs)
        token = self._attach(span)
        start = _perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            duration = _perf_counter() - start
            self._detach(token)
            self._finish(span, rows, duration, exc)
            raise
        duration = _perf_counter() - start
        self._detach(token)
        self._finish(span, rows, duration, None)
        if self.summary is not None:
            self._summarize(span, wrapped, instance, args, kwargs, result)
        if self.recorder is not None and ids is not None:
            self._record(span, ids, wrapped, instance, result)
        return result

    async def coroutine(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        span, rows, ids = self._start(instance, args, kwargs)
        token = self._attach(span)
        start = _perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            duration = _perf_counter() - start
            self._detach(token)
            self._finish(span, rows, duration, exc)
            raise
        duration = _perf_counter() - start
        self._detach(token)
        self._finish(span, rows, duration, None)
        if self.summary is not None:
            self._summarize(span, wrapped, instance, args, kwargs, result)
        if self.recorder is not None and ids is not None:
            self._record(span, ids, wrapped, instance, result)
        return result

    def generator(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        # Calling a generator function runs none of its body: the span starts at the first next().
        return self._iterate(wrapped(*args, **kwargs), wrapped, instance, args, kwargs)

    def _iterate(self, gen: Any, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        # The span is made current only around each step of the inner generator: a context token is never held
        # across a ``yield``, which is what causes "Failed to detach context" when a consumer stops early.
        span, rows, _ = self._start(instance, args, kwargs)
        items = 0
        error: BaseException | None = None
        start = _perf_counter()
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = self._attach(span)
                try:
                    item = gen.send(to_send) if to_throw is None else gen.throw(to_throw)
                except StopIteration as stop:
                    return stop.value
                finally:
                    self._detach(token)
                items += 1
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: the inner generator handles it
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish(span, rows if rows is not None else items, _perf_counter() - start, error)
            if self.summary is not None and error is None:
                # A stream's items are not one prediction per input row: summarise its input only.
                self._summarize(span, wrapped, instance, args, kwargs, _NO_RESULT)

    def async_generator(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        return self._aiterate(wrapped(*args, **kwargs), wrapped, instance, args, kwargs)

    async def _aiterate(self, agen: Any, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        span, rows, _ = self._start(instance, args, kwargs)
        items = 0
        error: BaseException | None = None
        start = _perf_counter()
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = self._attach(span)
                try:
                    item = await (agen.asend(to_send) if to_throw is None else agen.athrow(to_throw))
                except StopAsyncIteration:
                    return
                finally:
                    self._detach(token)
                items += 1
                to_send, to_throw = None, None
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: the inner generator handles it
                    to_throw = exc
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish(span, rows if rows is not None else items, _perf_counter() - start, error)
            if self.summary is not None and error is None:
                # A stream's items are not one prediction per input row: summarise its input only.
                self._summarize(span, wrapped, instance, args, kwargs, _NO_RESULT)


_NO_RESULT = object()


def _argument_getter(features: str | Callable[..., Any] | None, target: Callable[..., Any]) -> Callable:
    """``f(args, kwargs, instance)`` returning the call's input, per ``monitor(features=...)``."""
    if callable(features):
        return lambda args, kwargs, instance: features(args, kwargs)
    if features is None:
        return lambda args, kwargs, instance: args[0] if args else next(iter(kwargs.values()), None)
    try:
        params = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        params = []
    if (
        params
        and features not in params
        and not any(
            p.kind == inspect.Parameter.VAR_KEYWORD for p in inspect.signature(target).parameters.values()
        )
    ):
        raise ValueError(
            f"monitor(features={features!r}): {target.__name__}() has no such argument; it has {params}"
        )
    position = params.index(features) if features in params else None

    def get(args: tuple, kwargs: dict, instance: Any) -> Any:
        if features in kwargs:
            return kwargs[features]
        if position is None:
            return None
        index = position - 1 if instance is not None and params[0] in ("self", "cls") else position
        return args[index] if 0 <= index < len(args) else None

    return get


def _result_getter(outputs: str | Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """``f(result)`` returning the predictions, per ``monitor(outputs=...)``."""
    if outputs is None:
        return lambda result: result
    if callable(outputs):
        return outputs
    return lambda result: result[outputs] if isinstance(result, dict) else getattr(result, outputs)
