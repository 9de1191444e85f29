"""Behaviour of @monitor on every kind of callable: spans, metrics, errors, context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import traceback

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import otel_mlmon
from otel_mlmon import conventions as conv


def _duration_points(telemetry, **attrs):
    return telemetry.points(conv.METRIC_DURATION, attrs)


def test_sync_call_emits_span_with_model_attributes(telemetry):
    """A decorated function returns the very same object and emits one INTERNAL span with model attributes."""
    out = object()

    @otel_mlmon.monitor(model="fraud", version="3", **telemetry.providers)
    def predict(X):
        return out

    assert predict(np.zeros((4, 2))) is out
    (span,) = telemetry.spans()
    assert span.name == "predict fraud"
    assert span.kind == SpanKind.INTERNAL
    assert dict(span.attributes) == {
        "ml.model.name": "fraud",
        "ml.model.version": "3",
        "ml.operation": "predict",
        "ml.batch.size": 4,
    }
    assert span.status.status_code == StatusCode.UNSET


def test_metrics_count_calls_rows_and_batch_sizes(telemetry):
    """Duration counts calls, predictions counts rows, batch size records rows per call."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X

    for rows in (1, 10, 100):
        predict(np.ones((rows, 3)))
    data = telemetry.collect()
    (duration,) = telemetry.points(conv.METRIC_DURATION, data=data)
    assert duration.count == 3
    assert 0 < duration.sum < 1
    assert list(duration.explicit_bounds) == list(conv.DURATION_BUCKETS)
    assert sum(duration.bucket_counts) == 3
    (predictions,) = telemetry.points(conv.METRIC_PREDICTIONS, data=data)
    assert predictions.value == 111
    (batch,) = telemetry.points(conv.METRIC_BATCH_SIZE, data=data)
    assert (batch.count, batch.sum, batch.min, batch.max) == (3, 111, 1, 100)
    # 1 → bucket (0,1], 10 → (8,16], 100 → (64,128]
    assert batch.bucket_counts[0] == 1 and batch.bucket_counts[4] == 1 and batch.bucket_counts[7] == 1


def test_exception_is_the_same_object_with_traceback_and_recorded(telemetry):
    """A failing call re-raises the same exception with its traceback; span and metrics carry error.type."""
    error = KeyError("no such feature")

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        raise error

    with pytest.raises(KeyError) as info:
        predict([[1.0]])
    assert info.value is error
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "predict"
    (span,) = telemetry.spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [event.name for event in span.events] == ["exception"]
    data = telemetry.collect()
    (failed,) = telemetry.points(conv.METRIC_DURATION, {"error.type": "KeyError"}, data=data)
    assert failed.count == 1
    assert telemetry.points(conv.METRIC_PREDICTIONS, data=data)[0].value == 0


def test_error_rate_is_derivable_from_duration_counts(telemetry):
    """Successful and failed calls land in separate duration series, so error rate = failed / all."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(x):
        if x < 0:
            raise ValueError(x)
        return x

    for x in (1, -1, 2, -2, 3):
        with contextlib.suppress(ValueError):
            predict(x)
    points = _duration_points(telemetry)
    by_error = {p.attributes.get("error.type"): p.count for p in points}
    assert by_error == {None: 3, "ValueError": 2}


def test_async_function(telemetry):
    """An async predict is awaited inside its span and remains a coroutine function."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    async def predict(X):
        await asyncio.sleep(0)
        return trace.get_current_span().get_span_context().span_id

    import inspect

    assert inspect.iscoroutinefunction(predict)
    inner_span_id = asyncio.run(predict([[1], [2]]))
    (span,) = telemetry.spans()
    assert span.context.span_id == inner_span_id
    assert span.attributes["ml.batch.size"] == 2


def test_async_exception(telemetry):
    """An async predict's exception propagates unchanged and marks the span."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    async def predict(X):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(predict([1]))
    assert telemetry.spans()[0].status.status_code == StatusCode.ERROR


def test_methods_instance_class_static(telemetry):
    """Instance, class and static methods are monitored with the right binding."""

    class Model:
        scale = 10

        def __init__(self):
            self.offset = 1

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def predict(self, x):
            return x + self.offset

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        @classmethod
        def predict_scaled(cls, x):
            return x * cls.scale

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        @staticmethod
        def predict_static(x):
            return -x

    model = Model()
    assert model.predict(1) == 2
    assert Model.predict_scaled(2) == 20
    assert model.predict_scaled(3) == 30
    assert Model.predict_static(4) == -4
    operations = sorted(span.attributes["ml.operation"] for span in telemetry.spans())
    assert operations == ["predict", "predict_scaled", "predict_scaled", "predict_static"]


def test_parent_and_child_spans(telemetry):
    """The predict span is a child of the caller's span and the parent of spans made inside predict."""
    tracer = telemetry.tracer_provider.get_tracer("app")

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(x):
        with tracer.start_as_current_span("inner"):
            return x

    with tracer.start_as_current_span("request"):
        predict(1)
    spans = {span.name: span for span in telemetry.spans()}
    assert spans["predict m"].parent.span_id == spans["request"].context.span_id
    assert spans["inner"].parent.span_id == spans["predict m"].context.span_id


def _gen_model(telemetry):
    @otel_mlmon.monitor(model="stream", **telemetry.providers)
    def predict_stream(rows):
        for row in rows:
            yield trace.get_current_span().get_span_context().span_id, row[0] * 2

    return predict_stream


def test_generator_span_covers_the_whole_stream(telemetry):
    """A generator's span ends when it is exhausted and is current inside each step."""
    predict_stream = _gen_model(telemetry)
    gen = predict_stream([[1], [2], [3]])
    assert telemetry.spans() == []  # nothing runs before the first next()
    results = list(gen)
    (span,) = telemetry.spans()
    assert [value for _, value in results] == [2, 4, 6]
    assert {span_id for span_id, _ in results} == {span.context.span_id}
    assert span.attributes["ml.batch.size"] == 3


def test_generator_closed_early_ends_span_without_context_errors(telemetry, caplog):
    """Stopping a stream early ends the span and logs no 'Failed to detach context'."""
    predict_stream = _gen_model(telemetry)
    caplog.set_level(logging.ERROR)
    for _, value in predict_stream([[i] for i in range(100)]):
        if value >= 4:
            break
    import gc

    gc.collect()
    (span,) = telemetry.spans()
    assert span.end_time is not None
    assert span.status.status_code == StatusCode.UNSET
    assert "Failed to detach context" not in caplog.text
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_generator_send_and_throw_are_forwarded(telemetry):
    """send() and throw() reach the wrapped generator, which may handle them."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def accumulator():
        total = 0
        while True:
            try:
                value = yield total
            except ValueError:
                value = 100
            if value is None:
                return
            total += value

    gen = accumulator()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.throw(ValueError()) == 105
    with pytest.raises(StopIteration):
        gen.send(None)
    (span,) = telemetry.spans()
    assert span.status.status_code == StatusCode.UNSET


def test_generator_error_marks_span(telemetry):
    """An exception raised inside the stream propagates and marks the span as failed."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def broken():
        yield 1
        raise OSError("disk")

    gen = broken()
    assert next(gen) == 1
    with pytest.raises(OSError, match="disk"):
        next(gen)
    (span,) = telemetry.spans()
    assert span.attributes["error.type"] == "OSError"


def test_async_generator_full_and_early_close(telemetry, caplog):
    """An async generator's span ends when exhausted or closed early, without context errors."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    async def predict_stream(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main():
        full = [i async for i in predict_stream(3)]
        agen = predict_stream(50)
        async for i in agen:
            if i == 2:
                break
        await agen.aclose()
        return full

    caplog.set_level(logging.ERROR)
    assert asyncio.run(main()) == [0, 1, 2]
    spans = telemetry.spans()
    assert len(spans) == 2
    assert all(span.end_time is not None for span in spans)
    assert "Failed to detach context" not in caplog.text


def test_trace_false_records_metrics_only(telemetry):
    """With trace=False no span is made but metrics are still recorded."""

    @otel_mlmon.monitor(model="m", trace=False, **telemetry.providers)
    def predict(X):
        return X

    predict([[1], [2], [3]])
    assert telemetry.spans() == []
    assert telemetry.points(conv.METRIC_PREDICTIONS)[0].value == 3


def test_sampled_span_becomes_the_latency_exemplar(telemetry):
    """The duration point carries the trace and span id of a sampled call as an exemplar."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return X

    predict([1])
    (span,) = telemetry.spans()
    (point,) = _duration_points(telemetry)
    (exemplar,) = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)


def test_unsampled_spans_still_count_but_give_no_exemplar():
    """Under a sampler that drops everything, no span is exported but calls are still measured."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from otel_mlmon.testing import InMemoryTelemetry

    telemetry = InMemoryTelemetry()
    telemetry.tracer_provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(X):
        return trace.get_current_span().get_span_context().is_valid

    assert predict([1]) is True  # the non-recording span is still current, so context propagates
    (point,) = _duration_points(telemetry)
    assert point.count == 1
    assert point.exemplars == []


def test_cumulative_then_delta_semantics(telemetry, delta_telemetry):
    """Cumulative points keep growing from one start time; delta points hold only the calls since the last one."""
    for t in (telemetry, delta_telemetry):

        @otel_mlmon.monitor(model="m", **t.providers)
        def predict(X):
            return X

        predict([[1], [2]])
        first = t.points(conv.METRIC_PREDICTIONS)[0]
        predict([[1], [2], [3]])
        second = t.points(conv.METRIC_PREDICTIONS)[0]
        if t is telemetry:
            assert (first.value, second.value) == (2, 5)
            assert first.start_time_unix_nano == second.start_time_unix_nano
        else:
            assert (first.value, second.value) == (2, 3)
            assert second.start_time_unix_nano == first.time_unix_nano
        # nothing new: a delta reader gets no point, a cumulative reader the same total
        third = t.points(conv.METRIC_PREDICTIONS)
        assert [p.value for p in third] == ([5] if t is telemetry else [])


def test_two_readers_with_different_temporality_each_see_every_call():
    """One provider with a cumulative and a delta reader: each reader's totals are exact."""
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    cumulative = InMemoryMetricReader()
    delta = InMemoryMetricReader(
        preferred_temporality={Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    )
    provider = MeterProvider(metric_readers=[cumulative, delta])

    @otel_mlmon.monitor(model="m", trace=False, meter_provider=provider)
    def predict(X):
        return X

    def total(reader):
        data = reader.get_metrics_data()
        values = [
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == conv.METRIC_PREDICTIONS
            for p in m.data.data_points
        ]
        return sum(values)

    delta_sum = 0
    for rows in range(1, 6):
        predict([[0]] * rows)
        delta_sum += total(delta)
        if rows % 2:
            cumulative_total = total(cumulative)
    assert delta_sum == 15
    assert cumulative_total == 15


def test_functions_with_same_identity_share_one_series(telemetry):
    """Two functions decorated with the same model/version/operation add to one series, not two."""
    config = {"model": "m", "version": "1", "operation": "predict", **telemetry.providers}

    @otel_mlmon.monitor(**config)
    def a(X):
        return X

    @otel_mlmon.monitor(**config)
    def b(X):
        return X

    a([1])
    b([[1], [2]])
    (point,) = telemetry.points(conv.METRIC_PREDICTIONS)
    assert point.value == 3


def test_concurrent_calls_are_counted_exactly(telemetry):
    """Calls from many threads are all counted, none lost or doubled."""

    @otel_mlmon.monitor(model="m", trace=False, **telemetry.providers)
    def predict(X):
        return X

    def worker():
        for _ in range(2000):
            predict([[1], [2]])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    collected = 0
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        telemetry.collect()  # collections racing with calls must not lose anything
        collected += 1
    for thread in threads:
        thread.join()
    assert telemetry.points(conv.METRIC_PREDICTIONS)[0].value == 8 * 2000 * 2
    assert _duration_points(telemetry)[0].count == 8 * 2000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": ""}, "non-empty string"),
        ({"model": None}, "non-empty string"),
        ({"model": "m", "version": 3}, "version"),
        ({"model": "m", "batch_size": 5}, "batch_size"),
        ({"model": "m", "attributes": {"k": 1}}, "attributes"),
        ({"model": "m", "span_name": ""}, "span_name"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs, message):
    """Invalid decorator arguments raise ValueError naming the parameter, before any call."""
    with pytest.raises(ValueError, match=message):
        otel_mlmon.monitor(**kwargs)


def test_bare_decorator_is_a_clear_error():
    """@monitor without arguments says the model name is required."""
    with pytest.raises(TypeError, match="model"):

        @otel_mlmon.monitor
        def predict(X):
            return X


def test_nested_call_on_the_same_instance_is_one_call(telemetry):
    """A monitored method called from another monitored method of the same object is not counted again."""

    class Model:
        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def predict_proba(self, X):
            return np.column_stack([1 - X[:, 0], X[:, 0]])

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def predict(self, X):
            return self.predict_proba(X).argmax(axis=1)

    model = Model()
    model.predict(np.array([[0.2], [0.9], [0.7]]))
    (span,) = telemetry.spans()
    assert span.attributes["ml.operation"] == "predict"
    (predictions,) = telemetry.points(conv.METRIC_PREDICTIONS)
    assert predictions.value == 3
    model.predict_proba(np.array([[0.5]]))  # called by the user: its own call
    assert [s.attributes["ml.operation"] for s in telemetry.spans()] == ["predict", "predict_proba"]


def test_nested_call_on_another_instance_is_counted(telemetry):
    """Only calls on the same object are folded: an ensemble calling its monitored members gives a span each."""

    class Member:
        @otel_mlmon.monitor(model="member", **telemetry.providers)
        def predict(self, X):
            return X

    class Ensemble:
        def __init__(self):
            self.members = [Member(), Member()]

        @otel_mlmon.monitor(model="ensemble", **telemetry.providers)
        def predict(self, X):
            return sum(member.predict(X) for member in self.members)

    Ensemble().predict(np.ones((2, 1)))
    names = sorted(s.attributes["ml.model.name"] for s in telemetry.spans())
    assert names == ["ensemble", "member", "member"]


def test_nested_async_call_on_the_same_instance_is_one_call(telemetry):
    """The same rule holds for async methods, and concurrent calls on one object in other tasks still count."""

    class Model:
        @otel_mlmon.monitor(model="m", **telemetry.providers)
        async def predict_proba(self, X):
            await asyncio.sleep(0)
            return X

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        async def predict(self, X):
            return await self.predict_proba(X)

    model = Model()

    async def main():
        await asyncio.gather(model.predict([[1.0]]), model.predict([[2.0]]), model.predict_proba([[3.0]]))

    asyncio.run(main())
    assert sorted(s.attributes["ml.operation"] for s in telemetry.spans()) == [
        "predict",
        "predict",
        "predict_proba",
    ]


def test_nested_generator_on_the_same_instance_is_one_stream(telemetry):
    """A monitored generator method delegating to another monitored generator of the same object is one span,
    and the consumer's own monitored calls on that object between items are still counted."""

    class Model:
        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def tokens(self, prompt):
            yield from prompt.split()

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def stream(self, prompt):
            yield from self.tokens(prompt)

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        def predict(self, X):
            return X

    model = Model()
    for _ in model.stream("a b c"):
        model.predict([[1.0]])
    assert sorted(s.attributes["ml.operation"] for s in telemetry.spans()) == ["predict"] * 3 + ["stream"]


def test_task_started_inside_a_call_and_run_later_is_counted(telemetry):
    """A task created inside a monitored call copies its context; its calls on the same object after that call
    returned (a batching worker) are user calls of their own, not nested ones."""

    class Model:
        def __init__(self):
            self.worker = None

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        async def predict_batch(self, X):
            return X

        @otel_mlmon.monitor(model="m", **telemetry.providers)
        async def predict(self, X):
            if self.worker is None:
                self.worker = asyncio.get_running_loop().create_task(self._work())
            return X

        async def _work(self):
            await asyncio.sleep(0.01)  # after predict() returned
            return await self.predict_batch([[1.0], [2.0]])

    async def main():
        model = Model()
        await model.predict([[0.0]])
        await model.worker

    asyncio.run(main())
    assert sorted(s.attributes["ml.operation"] for s in telemetry.spans()) == ["predict", "predict_batch"]
