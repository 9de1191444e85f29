"""The per-function state and the four call paths (sync, coroutine, generator, async generator) of ``@monitor``.

Per call it starts a span (through the user's tracer provider), times the call, and adds duration, batch size and
rows to a local stream; nothing per call touches an OpenTelemetry instrument (the bridge exports the streams at
collection time). Whatever goes wrong inside monitoring is counted and logged, and the user's return value or
exception passes through untouched, as the same object. :mod:`otel_mlmon._decorator` holds the configuration.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

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
from otel_mlmon._usage import Usage, callback_reader, openai_usage
from otel_mlmon._version import __version__

__all__ = ["Call"]

#: How often a decorator whose metrics go to the global provider looks again for an SDK provider to attach to.
_BIND_RETRY_SECONDS = 1.0
_perf_counter = time.perf_counter
_monotonic = time.monotonic

#: ``[obj]`` while a monitored method of ``obj`` runs in this context. A monitored call on the same object made from
#: inside it (scikit-learn's ``predict`` calling ``predict_proba`` or ``decision_function``) is part of the user's
#: one call: it runs unmonitored, so one call stays one span, one count, and one set of summaries and records,
#: those of the outer call, whose inputs and outputs are what the user saw. The list is emptied when the call
#: ends, so a task or context copied inside the call and run later (a batching worker) is not taken for nested.
_active_call: ContextVar[list[Any] | None] = ContextVar("otel_mlmon_active_call", default=None)


def _nested(instance: Any) -> bool:
    active = _active_call.get()
    return active is not None and active[0] is instance


class Call:
    """Per-decorated-function state and the four call paths (sync, coroutine, generator, async generator)."""

    def __init__(self, config: Any, operation: str, target: Callable[..., Any]) -> None:
        # ``config`` is the :class:`~otel_mlmon._decorator.Monitor` (not imported: that module imports this one).
        self.config = config
        attrs = {conv.ATTR_MODEL_NAME: config.model}
        if config.version is not None:
            attrs[conv.ATTR_MODEL_VERSION] = config.version
        attrs[conv.ATTR_OPERATION] = operation
        genai = config.genai
        default_span_name = f"predict {config.model}"
        if genai is not None:
            attrs[conv.ATTR_GENAI_OPERATION_NAME] = genai["operation"]
            if "provider" in genai:
                attrs[conv.ATTR_GENAI_PROVIDER_NAME] = genai["provider"]
            attrs[conv.ATTR_GENAI_REQUEST_MODEL] = genai.get("request_model", config.model)
            # The GenAI conventions' span name: "{gen_ai.operation.name} {gen_ai.request.model}".
            default_span_name = f"{genai['operation']} {attrs[conv.ATTR_GENAI_REQUEST_MODEL]}"
        attrs.update(config.attributes)
        self.span_attributes = attrs
        self.span_name = config.span_name or default_span_name
        # Token usage readers: of a call's return value, and of a stream's last chunk (None: not read).
        token_usage = config.token_usage
        if callable(token_usage):
            self.usage_of = self.stream_usage_of = callback_reader(token_usage)
        elif token_usage is False:
            self.usage_of = self.stream_usage_of = None
        else:  # automatic: streams always; plain calls when told (True) or when the monitor is a GenAI one
            self.stream_usage_of = openai_usage
            self.usage_of = openai_usage if token_usage is True or genai is not None else None
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
                decision=config.decision,
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
                max_rows=config.record_max_rows,  # records are complete unless sampled: max_rows is for summaries
                decision=config.decision,
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

    def _finish(
        self,
        span: Any,
        rows: int | None,
        duration: float,
        exc: BaseException | None,
        usage: Usage | None = None,
        first_chunk: float | None = None,
    ) -> None:
        """End the span and record the call (and its token usage, if read). Never raises."""
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
                    if first_chunk is not None:
                        span.set_attribute(conv.ATTR_GENAI_RESPONSE_TIME_TO_FIRST_CHUNK, first_chunk)
                    if usage is not None:
                        if usage[0] is not None:
                            span.set_attribute(conv.ATTR_GENAI_USAGE_INPUT_TOKENS, usage[0])
                        if usage[1] is not None:
                            span.set_attribute(conv.ATTR_GENAI_USAGE_OUTPUT_TOKENS, usage[1])
                    ctx = span.get_span_context()
                    if ctx.trace_flags.sampled:
                        span_ids = (ctx.trace_id, ctx.span_id)
                span.end()
        except Exception as fault:  # noqa: BLE001
            report_fault("span", fault)
        try:
            self.stream.record(duration, rows, error_type, span_ids)
            if usage is not None:
                self.stream.record_tokens(usage[0], usage[1])
        except Exception as fault:  # noqa: BLE001
            report_fault("metrics", fault)

    @staticmethod
    def _read_usage(reader: Any, result: Any) -> Usage | None:
        """Token counts of a result (or a stream's last chunk) by ``reader``. Never raises."""
        try:
            return reader(result)
        except Exception as exc:  # noqa: BLE001
            report_fault("token_usage", exc)
            return None

    def _record_chunks(self, first_chunk: float | None, chunk_times: Sequence[float]) -> None:
        """Hand a stream's chunk times to the stream's buffer. Never raises."""
        try:
            self.stream.record_stream(first_chunk, chunk_times)
        except Exception as exc:  # noqa: BLE001
            report_fault("metrics", exc)

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
        mark = guard = None
        if instance is not None:  # a method: calls nested on the same object are the same user call
            active = _active_call.get()
            if active is not None and active[0] is instance:
                return wrapped(*args, **kwargs)
            mark = [instance]
            guard = _active_call.set(mark)
        span, rows, ids = self._start(instance, args, kwargs)
        token = self._attach(span)
        start = _perf_counter()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            duration = _perf_counter() - start
            self._detach(token)
            if mark is not None:
                mark[0] = None
                _active_call.reset(guard)
            self._finish(span, rows, duration, exc)
            raise
        duration = _perf_counter() - start
        self._detach(token)
        if mark is not None:
            mark[0] = None
            _active_call.reset(guard)
        usage = self._read_usage(self.usage_of, result) if self.usage_of is not None else None
        self._finish(span, rows, duration, None, usage)
        if self.summary is not None:
            self._summarize(span, wrapped, instance, args, kwargs, result)
        if self.recorder is not None and ids is not None:
            self._record(span, ids, wrapped, instance, result)
        return result

    async def coroutine(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        mark = guard = None
        if instance is not None:
            active = _active_call.get()
            if active is not None and active[0] is instance:
                return await wrapped(*args, **kwargs)
            mark = [instance]
            guard = _active_call.set(mark)  # set and reset in this coroutine, so in one context
        span, rows, ids = self._start(instance, args, kwargs)
        token = self._attach(span)
        start = _perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            duration = _perf_counter() - start
            self._detach(token)
            if mark is not None:
                mark[0] = None
                _active_call.reset(guard)
            self._finish(span, rows, duration, exc)
            raise
        duration = _perf_counter() - start
        self._detach(token)
        if mark is not None:
            mark[0] = None
            _active_call.reset(guard)
        usage = self._read_usage(self.usage_of, result) if self.usage_of is not None else None
        self._finish(span, rows, duration, None, usage)
        if self.summary is not None:
            self._summarize(span, wrapped, instance, args, kwargs, result)
        if self.recorder is not None and ids is not None:
            self._record(span, ids, wrapped, instance, result)
        return result

    def generator(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        # Calling a generator function runs none of its body: the span starts at the first next().
        if instance is not None and _nested(instance):
            return wrapped(*args, **kwargs)  # nested in a monitored call on the same object
        return self._iterate(wrapped(*args, **kwargs), wrapped, instance, args, kwargs)

    def _iterate(self, gen: Any, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        # The span is made current only around each step of the inner generator: a context token is never held
        # across a ``yield``, which is what causes "Failed to detach context" when a consumer stops early.
        span, rows, _ = self._start(instance, args, kwargs)
        items = 0
        error: BaseException | None = None
        # Chunk timing: the first chunk's time from the first next() (recorded at once), then each later chunk's
        # step time (the inner generator's own time: a slow consumer between two chunks does not count). Those go
        # to a local list handed to the stream's buffer every _CHUNK_BATCH chunks and at the end: O(1) per chunk.
        first_chunk: float | None = None
        chunk_times: list[float] = []
        last: Any = _NO_RESULT
        start = _perf_counter()
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                # The owner is marked only while the inner generator runs: a sync generator shares its
                # consumer's context, which must not see the mark between steps.
                mark = [instance] if instance is not None else None
                guard = _active_call.set(mark) if mark is not None else None
                token = self._attach(span)
                try:
                    step = _perf_counter()
                    item = gen.send(to_send) if to_throw is None else gen.throw(to_throw)
                    now = _perf_counter()
                except StopIteration as stop:
                    return stop.value
                finally:
                    self._detach(token)
                    if mark is not None:
                        mark[0] = None
                        _active_call.reset(guard)
                items += 1
                last = item
                if first_chunk is None:
                    first_chunk = now - start
                    self._record_chunks(first_chunk, ())  # now: a long stream's first chunk shows at once
                else:
                    chunk_times.append(now - step)
                    if len(chunk_times) >= _CHUNK_BATCH:
                        self._record_chunks(None, chunk_times)
                        chunk_times = []
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
            duration = _perf_counter() - start
            usage = None
            if error is None and last is not _NO_RESULT and self.stream_usage_of is not None:
                usage = self._read_usage(self.stream_usage_of, last)
            if chunk_times:
                self._record_chunks(None, chunk_times)
            self._finish(span, rows if rows is not None else items, duration, error, usage, first_chunk)
            if self.summary is not None and error is None:
                # A stream's items are not one prediction per input row: summarise its input only.
                self._summarize(span, wrapped, instance, args, kwargs, _NO_RESULT)

    def async_generator(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        if instance is not None and _nested(instance):
            return wrapped(*args, **kwargs)  # nested in a monitored call on the same object
        return self._aiterate(wrapped(*args, **kwargs), wrapped, instance, args, kwargs)

    async def _aiterate(self, agen: Any, wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        span, rows, _ = self._start(instance, args, kwargs)
        items = 0
        error: BaseException | None = None
        first_chunk: float | None = None  # chunk timing as in _iterate
        chunk_times: list[float] = []
        last: Any = _NO_RESULT
        start = _perf_counter()
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                mark = [instance] if instance is not None else None
                guard = _active_call.set(mark) if mark is not None else None
                token = self._attach(span)
                try:
                    step = _perf_counter()
                    item = await (agen.asend(to_send) if to_throw is None else agen.athrow(to_throw))
                    now = _perf_counter()
                except StopAsyncIteration:
                    return
                finally:
                    self._detach(token)
                    if mark is not None:
                        mark[0] = None
                        _active_call.reset(guard)
                items += 1
                last = item
                if first_chunk is None:
                    first_chunk = now - start
                    self._record_chunks(first_chunk, ())  # now: a long stream's first chunk shows at once
                else:
                    chunk_times.append(now - step)
                    if len(chunk_times) >= _CHUNK_BATCH:
                        self._record_chunks(None, chunk_times)
                        chunk_times = []
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
            duration = _perf_counter() - start
            usage = None
            if error is None and last is not _NO_RESULT and self.stream_usage_of is not None:
                usage = self._read_usage(self.stream_usage_of, last)
            if chunk_times:
                self._record_chunks(None, chunk_times)
            self._finish(span, rows if rows is not None else items, duration, error, usage, first_chunk)
            if self.summary is not None and error is None:
                # A stream's items are not one prediction per input row: summarise its input only.
                self._summarize(span, wrapped, instance, args, kwargs, _NO_RESULT)


_NO_RESULT = object()
#: A stream hands its chunk times to the shared buffer every this many chunks (bounds a long stream's list).
_CHUNK_BATCH = 256


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
