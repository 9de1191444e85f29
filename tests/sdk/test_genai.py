"""Generative outputs: streaming chunk times and token usage under the OpenTelemetry GenAI conventions' names."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from types import SimpleNamespace

import pytest

import otel_mlmon
from otel_mlmon import _call
from otel_mlmon import conventions as conv
from otel_mlmon._faults import faults

TTFC = conv.METRIC_GENAI_TIME_TO_FIRST_CHUNK
PER_CHUNK = conv.METRIC_GENAI_TIME_PER_OUTPUT_CHUNK
TOKENS = conv.METRIC_GENAI_TOKEN_USAGE


class FakeClock:
    """Stands in for ``time.perf_counter`` in the call paths: time moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_call, "_perf_counter", fake)
    return fake


def one(telemetry, name, attributes=None, data=None):
    points = telemetry.points(name, attributes, data)
    assert len(points) == 1, (name, points)
    return points[0]


def bucket_of(point, value: float) -> int:
    return bisect_left(list(point.explicit_bounds), value)


def test_sync_stream_times_first_chunk_and_each_later_chunk(telemetry, clock):
    """A generator's time to first chunk and per-chunk times land in the GenAI histograms, in the right buckets."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        clock.advance(0.5)  # prefill
        yield "a"
        for token in "bcde":
            clock.advance(0.03)
            yield token

    assert "".join(generate("hi")) == "abcde"
    data = telemetry.collect()
    first = one(telemetry, TTFC, data=data)
    assert first.count == 1 and first.sum == pytest.approx(0.5)
    assert first.bucket_counts[bucket_of(first, 0.5)] == 1
    per_chunk = one(telemetry, PER_CHUNK, data=data)
    assert per_chunk.count == 4 and per_chunk.sum == pytest.approx(0.12)
    assert per_chunk.bucket_counts[bucket_of(per_chunk, 0.03)] == 4
    assert set(conv.GENAI_DURATION_BUCKETS) <= set(per_chunk.explicit_bounds)  # every bound the spec advises
    (span,) = telemetry.spans()
    assert span.attributes[conv.ATTR_GENAI_RESPONSE_TIME_TO_FIRST_CHUNK] == pytest.approx(0.5)


def test_slow_consumer_does_not_inflate_chunk_times(telemetry, clock):
    """Time the consumer spends between chunks counts in the call's duration, not in the per-chunk times."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        for token in "abc":
            clock.advance(0.01)
            yield token

    for _ in generate("hi"):
        clock.advance(2.0)  # the consumer (a slow client) takes its time
    data = telemetry.collect()
    assert one(telemetry, PER_CHUNK, data=data).max == pytest.approx(0.01)
    assert one(telemetry, TTFC, data=data).sum == pytest.approx(0.01)
    assert one(telemetry, conv.METRIC_DURATION, data=data).sum == pytest.approx(0.03 + 3 * 2.0)


def test_async_stream_times_chunks(telemetry, clock):
    """An async generator's chunks are timed like a generator's."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    async def generate(prompt):
        clock.advance(0.2)
        yield "a"
        for token in "bc":
            await asyncio.sleep(0)
            clock.advance(0.05)
            yield token

    async def consume():
        return [t async for t in generate("hi")]

    assert asyncio.run(consume()) == ["a", "b", "c"]
    data = telemetry.collect()
    assert one(telemetry, TTFC, data=data).sum == pytest.approx(0.2)
    per_chunk = one(telemetry, PER_CHUNK, data=data)
    assert per_chunk.count == 2 and per_chunk.sum == pytest.approx(0.1)


def test_real_clock_orders_first_chunk_and_later_chunks(telemetry):
    """With real time, a slow first chunk and fast later chunks come out in that order (bounds, not exact times)."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        time.sleep(0.05)
        yield 0
        for i in range(1, 4):
            time.sleep(0.002)
            yield i

    assert list(generate("x")) == [0, 1, 2, 3]
    data = telemetry.collect()
    first = one(telemetry, TTFC, data=data)
    per_chunk = one(telemetry, PER_CHUNK, data=data)
    assert first.sum >= 0.05
    assert per_chunk.count == 3 and per_chunk.min >= 0.002
    assert one(telemetry, conv.METRIC_DURATION, data=data).sum >= first.sum + per_chunk.sum


def test_stream_closed_after_one_chunk_records_what_was_seen(telemetry, clock):
    """A consumer that stops after the first chunk still gets its time to first chunk recorded and the span ended."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        for token in "abcdef":
            clock.advance(0.1)
            yield token

    gen = generate("hi")
    assert next(gen) == "a"
    gen.close()
    data = telemetry.collect()
    assert one(telemetry, TTFC, data=data).sum == pytest.approx(0.1)
    assert telemetry.points(PER_CHUNK, data=data) == []
    assert one(telemetry, conv.METRIC_DURATION, data=data).count == 1
    (span,) = telemetry.spans()
    assert span.end_time is not None and span.status.status_code.name != "ERROR"


def test_async_stream_closed_early_records_the_chunks_seen(telemetry, clock):
    """Closing an async stream after three chunks records one first chunk and two later ones."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    async def generate(prompt):
        for token in "abcdefgh":
            clock.advance(0.01)
            yield token

    async def consume():
        agen = generate("hi")
        got = [await agen.__anext__() for _ in range(3)]
        await agen.aclose()
        return got

    assert asyncio.run(consume()) == ["a", "b", "c"]
    data = telemetry.collect()
    assert one(telemetry, TTFC, data=data).count == 1
    assert one(telemetry, PER_CHUNK, data=data).count == 2
    assert len(telemetry.spans()) == 1


def test_exception_mid_stream_keeps_the_chunk_times_and_marks_the_span(telemetry, clock):
    """A stream failing after some chunks raises to the consumer, keeps those chunks' times and reads no usage."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        for token in "abc":
            clock.advance(0.01)
            yield {"text": token, "usage": {"input_tokens": 5, "output_tokens": 1}}
        raise RuntimeError("backend went away")

    received = []
    with pytest.raises(RuntimeError, match="backend went away"):
        for chunk in generate("hi"):
            received.append(chunk)
    assert len(received) == 3
    data = telemetry.collect()
    assert one(telemetry, TTFC, data=data).count == 1
    assert one(telemetry, PER_CHUNK, data=data).count == 2
    assert telemetry.points(TOKENS, data=data) == []
    (span,) = telemetry.spans()
    assert span.attributes[conv.ATTR_ERROR_TYPE] == "RuntimeError"
    assert conv.ATTR_GENAI_USAGE_INPUT_TOKENS not in span.attributes


def test_long_stream_counts_every_chunk(telemetry, clock):
    """A stream longer than the local batch of chunk times loses none of them."""
    n = 3 * _call._CHUNK_BATCH + 17

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        for i in range(n):
            clock.advance(0.001)
            yield i

    assert sum(1 for _ in generate("x")) == n
    per_chunk = one(telemetry, PER_CHUNK)
    assert per_chunk.count == n - 1 and per_chunk.sum == pytest.approx(0.001 * (n - 1))


def test_collection_during_a_long_stream_sees_its_chunks_so_far(telemetry, clock):
    """A collection while a long stream runs already shows its first chunk and its first batches of chunk times."""

    @otel_mlmon.monitor(model="lm", **telemetry.providers)
    def generate(prompt):
        while True:
            clock.advance(0.001)
            yield 0

    gen = generate("x")
    for _ in range(_call._CHUNK_BATCH + 10):
        next(gen)
    data = telemetry.collect()
    assert one(telemetry, TTFC, data=data).count == 1
    assert one(telemetry, PER_CHUNK, data=data).count == _call._CHUNK_BATCH
    assert telemetry.spans() == []  # the stream is still open
    for _ in range(_call._CHUNK_BATCH):  # an interval holding nothing but chunk times
        next(gen)
    assert one(telemetry, PER_CHUNK).count == 2 * _call._CHUNK_BATCH
    gen.close()
    data = telemetry.collect()
    assert one(telemetry, PER_CHUNK, data=data).count == 2 * _call._CHUNK_BATCH + 9
    assert one(telemetry, TTFC, data=data).count == 1


def test_non_streaming_calls_report_no_chunk_times(telemetry):
    """A plain function gets no time-to-first-chunk series (the spec: streaming calls only)."""

    @otel_mlmon.monitor(model="m", **telemetry.providers)
    def predict(rows):
        return [0] * len(rows)

    predict([[1.0]])
    data = telemetry.collect()
    assert telemetry.points(TTFC, data=data) == [] and telemetry.points(PER_CHUNK, data=data) == []


def test_usage_in_the_final_streamed_chunk_as_dict(telemetry):
    """Chat-completions-style usage (prompt/completion tokens) on the last chunk becomes token counts by type."""

    @otel_mlmon.monitor(model="gpt", **telemetry.providers)
    def chat(messages):
        for word in ["Hello", " there"]:
            yield {"choices": [{"delta": {"content": word}}], "usage": None}
        yield {"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}}

    list(chat([{"role": "user", "content": "hi"}]))
    data = telemetry.collect()
    assert one(telemetry, TOKENS, {conv.ATTR_GENAI_TOKEN_TYPE: "input"}, data).sum == 42
    output = one(telemetry, TOKENS, {conv.ATTR_GENAI_TOKEN_TYPE: "output"}, data)
    assert output.sum == 7 and list(output.explicit_bounds) == list(conv.GENAI_TOKEN_USAGE_BUCKETS)
    (span,) = telemetry.spans()
    assert span.attributes[conv.ATTR_GENAI_USAGE_INPUT_TOKENS] == 42
    assert span.attributes[conv.ATTR_GENAI_USAGE_OUTPUT_TOKENS] == 7


def test_usage_as_object_attribute_on_an_async_stream(telemetry):
    """Responses-style usage objects (input/output tokens as attributes) are read from an async stream's end."""

    @otel_mlmon.monitor(model="gpt", **telemetry.providers)
    async def respond(prompt):
        yield SimpleNamespace(type="delta", usage=None)
        yield SimpleNamespace(type="completed", usage=SimpleNamespace(input_tokens=11, output_tokens=3))

    async def consume():
        return [c async for c in respond("hi")]

    asyncio.run(consume())
    data = telemetry.collect()
    assert one(telemetry, TOKENS, {conv.ATTR_GENAI_TOKEN_TYPE: "input"}, data).sum == 11
    assert one(telemetry, TOKENS, {conv.ATTR_GENAI_TOKEN_TYPE: "output"}, data).sum == 3


def test_genai_monitor_reads_usage_and_sets_genai_attributes(telemetry):
    """monitor(genai=...) labels spans and series with gen_ai.* names and reads usage from plain results."""

    @otel_mlmon.monitor(
        model="gpt-4o", genai={"operation": "chat", "provider": "openai"}, **telemetry.providers
    )
    def chat(prompt):
        return SimpleNamespace(text="...", usage=SimpleNamespace(prompt_tokens=9, completion_tokens=4))

    chat("hello")
    data = telemetry.collect()
    labels = {
        conv.ATTR_GENAI_OPERATION_NAME: "chat",
        conv.ATTR_GENAI_PROVIDER_NAME: "openai",
        conv.ATTR_GENAI_REQUEST_MODEL: "gpt-4o",
    }
    assert one(telemetry, TOKENS, {**labels, conv.ATTR_GENAI_TOKEN_TYPE: "input"}, data).sum == 9
    assert one(telemetry, conv.METRIC_GENAI_OPERATION_DURATION, labels, data).count == 1
    (span,) = telemetry.spans()
    assert span.name == "chat gpt-4o"
    assert {k: span.attributes[k] for k in labels} == labels
    assert span.attributes[conv.ATTR_GENAI_USAGE_OUTPUT_TOKENS] == 4


def test_plain_monitor_reads_usage_only_when_asked(telemetry):
    """Without genai=, a plain call's result is not searched for usage unless token_usage=True."""
    result = {"label": 1, "usage": {"input_tokens": 2, "output_tokens": 1}}

    @otel_mlmon.monitor(model="a", **telemetry.providers)
    def default(x):
        return result

    @otel_mlmon.monitor(model="b", token_usage=True, **telemetry.providers)
    def asked(x):
        return result

    default(1)
    asked(1)
    data = telemetry.collect()
    assert telemetry.points(TOKENS, {conv.ATTR_MODEL_NAME: "a"}, data) == []
    assert len(telemetry.points(TOKENS, {conv.ATTR_MODEL_NAME: "b"}, data)) == 2
    assert telemetry.points(conv.METRIC_GENAI_OPERATION_DURATION, data=data) == []


def test_token_usage_false_reads_nothing(telemetry):
    """token_usage=False turns usage reading off, even on streams that carry it."""

    @otel_mlmon.monitor(model="lm", token_usage=False, **telemetry.providers)
    def generate(prompt):
        yield {"usage": {"input_tokens": 1, "output_tokens": 1}}

    list(generate("x"))
    assert telemetry.points(TOKENS) == []


def test_token_usage_callback_on_result_and_on_last_chunk(telemetry):
    """A user callback gives the counts: of a coroutine's result, and of a stream's last chunk."""

    def count(result):
        return {"input": result["n_in"], "output": result["n_out"]}

    @otel_mlmon.monitor(model="co", token_usage=count, **telemetry.providers)
    async def complete(prompt):
        return {"n_in": 20, "n_out": 5}

    @otel_mlmon.monitor(model="gen", token_usage=count, **telemetry.providers)
    def stream(prompt):
        yield {"n_in": 0, "n_out": 1}
        yield {"n_in": 30, "n_out": 2}

    asyncio.run(complete("x"))
    list(stream("x"))
    data = telemetry.collect()
    by = {conv.ATTR_MODEL_NAME: "co", conv.ATTR_GENAI_TOKEN_TYPE: "input"}
    assert one(telemetry, TOKENS, by, data).sum == 20
    by = {conv.ATTR_MODEL_NAME: "gen", conv.ATTR_GENAI_TOKEN_TYPE: "output"}
    assert one(telemetry, TOKENS, by, data).sum == 2


def test_callback_returning_one_count_records_only_that_type(telemetry):
    """A callback that knows only the output tokens records only gen_ai.token.type=output."""

    @otel_mlmon.monitor(model="m", token_usage=lambda r: {"output": len(r)}, **telemetry.providers)
    def predict(x):
        return "abcd"

    predict(1)
    (point,) = telemetry.points(TOKENS)
    assert point.attributes[conv.ATTR_GENAI_TOKEN_TYPE] == "output" and point.sum == 4


@pytest.mark.parametrize(
    "callback",
    [
        lambda r: 1 / 0,
        lambda r: 5,
        lambda r: {"input": -1},
        lambda r: {"input": "many"},
        lambda r: {"prompt": 3},
    ],
    ids=["raises", "not-a-mapping", "negative", "not-a-number", "unknown-key"],
)
def test_faulty_usage_callback_never_breaks_the_call(telemetry, callback):
    """A usage callback that raises or returns nonsense is counted as a fault; the result passes through."""
    before = faults.counts().get("token_usage", 0)
    sentinel = object()

    @otel_mlmon.monitor(model="m", token_usage=callback, **telemetry.providers)
    def predict(x):
        return sentinel

    assert predict(1) is sentinel
    assert faults.counts()["token_usage"] == before + 1
    assert telemetry.points(TOKENS) == []
    assert one(telemetry, conv.METRIC_DURATION).count == 1


def test_odd_usage_fields_are_ignored(telemetry):
    """Usage fields that are not non-negative integers (None, strings, bools) are skipped, not exported."""

    @otel_mlmon.monitor(model="m", token_usage=True, **telemetry.providers)
    def predict(x):
        return x

    predict({"usage": {"prompt_tokens": "12", "completion_tokens": None}})
    predict({"usage": {"input_tokens": True}})
    predict({"usage": 3})
    predict(SimpleNamespace(usage=SimpleNamespace()))
    assert telemetry.points(TOKENS) == []


def test_no_prompt_or_completion_content_is_exported(telemetry):
    """Neither the prompt nor any chunk's text appears in span attributes, events or metric attributes."""
    prompt = "my secret prompt 1234"
    words = ["confidential", "completion", "text"]

    @otel_mlmon.monitor(model="gpt", genai={"operation": "chat"}, summaries=False, **telemetry.providers)
    def chat(messages):
        for w in words:
            yield {"choices": [{"delta": {"content": w}}]}
        yield {"usage": {"prompt_tokens": 5, "completion_tokens": 3}}

    list(chat([{"role": "user", "content": prompt}]))
    texts = [prompt, *words]
    (span,) = telemetry.spans()
    exported = [str(v) for v in span.attributes.values()]
    exported += [str(v) for event in span.events for v in (event.attributes or {}).values()]
    data = telemetry.collect()
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    exported += [str(v) for v in (point.attributes or {}).values()]
    assert not [t for t in texts for value in exported if t in value]
    assert one(telemetry, TOKENS, {conv.ATTR_GENAI_TOKEN_TYPE: "input"}, data).sum == 5


def test_delta_temporality_reports_each_interval_once(delta_telemetry, clock):
    """With delta temporality, chunk times appear in the collection after the stream and not again."""

    @otel_mlmon.monitor(model="lm", **delta_telemetry.providers)
    def generate(prompt):
        for token in "abc":
            clock.advance(0.01)
            yield token

    list(generate("x"))
    assert one(delta_telemetry, PER_CHUNK).count == 2
    assert delta_telemetry.points(PER_CHUNK) == []


@pytest.mark.parametrize(
    "genai, message",
    [
        ({"provider": "openai"}, "needs 'operation'"),
        ({"operation": "chat", "system": "openai"}, "unknown keys"),
        ({"operation": ""}, "non-empty string"),
        ({"operation": 3}, "non-empty string"),
        ("chat", "must be a mapping"),
    ],
)
def test_invalid_genai_option_fails_at_decoration(genai, message):
    """A malformed genai= option is rejected when decorating, not on the first call."""
    with pytest.raises(ValueError, match=message):
        otel_mlmon.monitor(model="m", genai=genai)


def test_invalid_token_usage_option_fails_at_decoration():
    """token_usage= must be a bool or a callable."""
    with pytest.raises(ValueError, match="token_usage"):
        otel_mlmon.monitor(model="m", token_usage="openai")
