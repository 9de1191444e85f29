"""Throughput of the sketches against the OTel SDK fed value by value, np.histogram and one np.sum pass.

Run: ``python bench/sketch.py`` (``--quick`` for a smaller run, ``--only vector|text|tables`` for one section). Prints values per second for each variant and
ratios measured in the same run (absolute times on shared machines are noisy; compare the ratios):

* one 100 000-value float column: ``ExponentialHistogram.update`` vs the SDK's exponential histogram
  aggregation fed per value (``aggregate(Measurement)``), per-value ``Histogram.record`` through a
  ``MeterProvider`` with an exponential-histogram View, ``np.histogram`` with 64 bins, and ``np.sum``;
* a 10 000 x 50 batch and a 1 000 000 x 20 table, one histogram per column (``update_columns``, one sweep over
  the rows, with the compiled passes and with their numpy fallback; and ``update`` on each strided column), against one ``np.sum`` pass over the same array (the
  memory-bound limit; issues 3 and 17 target: sketch time <= 30x that pass), the summaries path of the array
  (``read_features`` + ``Summary.add_features``: one ``update_columns`` sweep) against the same columns added one
  by one, and whylogs on the table (issue 17 goal: >= 100x faster);
* ``CategoricalSketch.update`` on 100 000 strings (low and high cardinality) and integer codes;
* ``CategoricalSketch.update`` against pandas ``Series.value_counts`` on the same 1 000 000-row columns (object
  strings, ``category`` dtype, int64; 40 and 1 000 levels; Zipf and uniform): values/s and the ratio to
  ``value_counts()`` (issue 11 target: >= 1), and to its fastest form ``value_counts(dropna=False, sort=False)``;

* a decorated call with a 100-row x 20-feature batch: what the summaries add per call, in wall and in process CPU
  time (the folding thread included; target <= 100 µs of CPU);
* a 64 x 768 float32 embedding batch: ``VectorSketch.update`` (64 projections and the norm) and the whole
  summary path (``read_features`` + ``Summary.add_features``) against one matmul pass ``X @ Q`` with the same
  768 x 64 projection matrix (issue 12 target: the summary path well under the 2.3 ms the six descriptor
  histograms cost before);
* a batch of 64 texts of 20 words: the text column's summary path with its vocabulary sketch (the SDK's, counts
  only; and a profile's, with the 256 x 256 moments) against the same path with descriptors only.

whylogs runs in the separate peers environment made by ``bench/setup-peers`` (never in the product's
dependencies); without it that line says so. On a shared machine run with ``OPENBLAS_NUM_THREADS=1``: a threaded
BLAS waiting for a busy core makes the small matmuls of the vector rows many times slower and their ratios meaningless.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from _peers import time_in_peers  # bench/ is on sys.path when run as a script
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.aggregation import (
    AggregationTemporality,
    _ExponentialBucketHistogramAggregation,
)
from opentelemetry.sdk.metrics._internal.exemplar import SimpleFixedSizeExemplarReservoir
from opentelemetry.sdk.metrics._internal.measurement import Measurement
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

from otel_mlmon.sketch import CategoricalSketch, ExponentialHistogram
from otel_mlmon.sketch import _kernel as sketch_kernel
from otel_mlmon.sketch import columns as columns_module
from otel_mlmon.sketch._buckets import CHUNK, lend_scratch
from otel_mlmon.sketch._flat import MIN_ROWS, sweep_rows
from otel_mlmon.sketch.columns import update_columns
from otel_mlmon.sketch.vector import Projection, VectorSketch


def _seconds(run: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Median time of ``repeat`` runs after one warm-up: wall time, or ``clock`` (e.g. process CPU time)."""
    run()
    times = []
    for _ in range(repeat):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def _sdk_aggregation() -> _ExponentialBucketHistogramAggregation:
    return _ExponentialBucketHistogramAggregation(
        attributes={},
        reservoir_builder=lambda **_: SimpleFixedSizeExemplarReservoir(size=1),
        instrument_aggregation_temporality=AggregationTemporality.DELTA,
        start_time_unix_nano=0,
    )


def _sdk_per_value(values: list[float]) -> object:
    aggregation = _sdk_aggregation()
    context = Context()
    for value in values:
        aggregation.aggregate(Measurement(value, 0, None, context), should_sample_exemplar=False)
    return aggregation.collect(AggregationTemporality.DELTA, 1)


def _record_per_value(values: list[float]) -> None:
    """Per-value Histogram.record through the real SDK (note: the SDK instrument drops negative values)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        views=[View(instrument_name="*", aggregation=ExponentialBucketHistogramAggregation())],
    )
    histogram = provider.get_meter("bench").create_histogram("ml.feature.distribution")
    attributes = {"ml.model.name": "m", "ml.feature.name": "f"}
    for value in values:
        histogram.record(value, attributes)
    reader.get_metrics_data()
    provider.shutdown()


def _rate(values: int, seconds: float) -> str:
    return f"{values / seconds / 1e6:10.2f} M values/s"


def bench_column(n: int, n_sdk: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    column = rng.normal(size=n)
    subset = column[:n_sdk].tolist()
    positive_subset = np.abs(column[:n_sdk]).tolist()

    ours = _seconds(lambda: ExponentialHistogram().update(column), repeat)
    sdk = _seconds(lambda: _sdk_per_value(subset), max(1, repeat // 3)) * n / n_sdk
    record = _seconds(lambda: _record_per_value(positive_subset), max(1, repeat // 3)) * n / n_sdk
    hist64 = _seconds(lambda: np.histogram(column, bins=64), repeat)
    total = _seconds(lambda: np.sum(column), repeat * 5)

    point = _sdk_per_value(subset)
    check = ExponentialHistogram()
    check.update(column[:n_sdk])
    identical = (
        point.scale == check.scale
        and point.positive.offset == check.positive_offset
        and list(point.positive.bucket_counts)[: check.positive_counts.size] == check.positive_counts.tolist()
        and point.negative.offset == check.negative_offset
        and list(point.negative.bucket_counts)[: check.negative_counts.size] == check.negative_counts.tolist()
    )

    print(f"\n== one float64 column, {n:,} values (SDK variants timed on {n_sdk:,} values and scaled) ==")
    print(f"ExponentialHistogram.update           {_rate(n, ours)}")
    print(f"SDK aggregation, per value            {_rate(n, sdk)}")
    print(f"SDK Histogram.record, per value       {_rate(n, record)}")
    print(f"np.histogram, 64 bins                 {_rate(n, hist64)}")
    print(f"np.sum (one pass)                     {_rate(n, total)}")
    print(f"ratio: ours vs SDK aggregation        {sdk / ours:10.1f}x faster")
    print(f"ratio: ours vs Histogram.record       {record / ours:10.1f}x faster")
    print(f"ratio: ours / np.histogram(64) time   {ours / hist64:10.2f}")
    print(f"ratio: ours / np.sum time             {ours / total:10.1f}")
    print(f"buckets identical to the SDK on the {n_sdk:,}-value subset: {identical}")


def bench_table(rows: int, columns: int, repeat: int) -> None:
    rng = np.random.default_rng(1)
    table = rng.normal(size=(rows, columns)) * rng.lognormal(size=columns)
    values = rows * columns

    def per_column() -> None:
        for j in range(columns):
            ExponentialHistogram().update(table[:, j])

    def sweep() -> None:
        update_columns([ExponentialHistogram() for _ in range(columns)], table)

    def flat_compiled() -> (
        None
    ):  # the flat passes with the compiled kernel (update_columns' path before _column.py)
        hists = [ExponentialHistogram() for _ in range(columns)]
        with lend_scratch() as scratch:
            for start in range(0, rows, CHUNK):
                part = table[start : start + CHUNK]
                if part.shape[0] >= MIN_ROWS:
                    sweep_rows(hists, part, scratch)
                else:
                    update_columns(hists[:], part)

    def transposing() -> (
        None
    ):  # update_columns as before the flat passes (issue 17): numpy on transposed tiles
        saved, columns_module.MIN_ROWS = columns_module.MIN_ROWS, 1 << 62
        try:
            with sketch_kernel.disabled():
                sweep()
        finally:
            columns_module.MIN_ROWS = saved

    def numpy_passes() -> None:  # without the compiled kernel: the flat passes in numpy
        with sketch_kernel.disabled():
            sweep()

    compiled = sketch_kernel.kernel() is not None
    runs = [per_column, sweep, flat_compiled, numpy_passes, transposing, lambda: np.sum(table)]
    strided, ours, flat, fallback, before, total = _interleaved_seconds(runs, repeat)
    ours_cpu, total_cpu = (_seconds(run, repeat, clock=time.process_time) for run in (sweep, runs[-1]))
    print(f"\n== {rows:,} x {columns} float64 table, one histogram per column ==")
    kernel_state = "C column passes" if compiled else "C NOT BUILT: numpy flat passes"
    print(f"update_columns ({kernel_state})   {_rate(values, ours)}   ({ours * 1e3:.1f} ms)")
    print(f"  flat passes, C (before _column.py)  {_rate(values, flat)}   ({flat * 1e3:.1f} ms)")
    print(f"  flat passes, numpy (no C)           {_rate(values, fallback)}   ({fallback * 1e3:.1f} ms)")
    print(f"  tiles transposed, numpy (before)    {_rate(values, before)}   ({before * 1e3:.1f} ms)")
    print(f"ExponentialHistogram.update per column{_rate(values, strided)}   ({strided * 1e3:.1f} ms)")
    print(f"np.sum over the array (one pass)      {_rate(values, total)}   ({total * 1e3:.2f} ms)")
    print(f"ratio: update_columns / np.sum time   {ours / total:10.1f}   (target <= 30)")
    print(f"  the same in process CPU time        {ours_cpu / total_cpu:10.1f}")
    print(f"ratio: flat passes, C / np.sum        {flat / total:10.1f}")
    print(f"ratio: numpy flat passes / np.sum     {fallback / total:10.1f}")
    print(f"ratio: numpy transposing / np.sum     {before / total:10.1f}")
    print(f"ratio: per column / np.sum time       {strided / total:10.1f}")
    _summary_paths(table, repeat)
    _whylogs(table, ours)


def _summary_paths(table: np.ndarray, repeat: int) -> None:
    """The summaries path of a 2-D array input (one array: update_columns) against the same columns one by one."""
    from otel_mlmon.adapters import Table, read_features
    from otel_mlmon.summary import Summary

    def matrix() -> Summary:
        summary = Summary()
        summary.add_features(read_features(table))
        return summary

    def columns() -> Summary:
        summary = Summary()
        summary.add_features(Table(table.shape[0], read_features(table).columns))
        return summary

    identical = matrix().to_dict() == columns().to_dict()
    one, each = _interleaved_seconds([matrix, columns], repeat)
    print(f"read_features + add_features (array)  {_rate(table.size, one)}   ({one * 1e3:.1f} ms)")
    print(f"  the same, column by column          {_rate(table.size, each)}   ({each * 1e3:.1f} ms)")
    print(f"ratio: column by column / array       {each / one:10.2f}   (identical summaries: {identical})")


_WHYLOGS = """
import pandas as pd
import whylogs
frame = pd.DataFrame(table, columns=[f"f{j}" for j in range(table.shape[1])])
def run():
    whylogs.log(frame)
"""


def _whylogs(table: np.ndarray, ours: float) -> None:
    """whylogs profiling the same table, in the peers environment (bench/setup-peers)."""
    timing = time_in_peers(_WHYLOGS, {"table": table})
    if timing is None:
        print("whylogs                               no peers environment (run bench/setup-peers)")
        return
    seconds = timing["seconds"]
    print(f"whylogs.log (peers environment)       {_rate(table.size, seconds)}")
    print(f"ratio: ours vs whylogs                {seconds / ours:10.1f}x faster (target >= 100)")


def bench_decorated_call(repeat: int) -> None:
    """Per-call cost of summaries on a decorated call with a 100-row x 20-feature batch at sample_rate=1.

    The target is judged on CPU time of the whole process (the background folding thread included): the wall
    time of a loop whose folding runs on another thread depends on whether a core is free for it (on a loaded
    machine the loop also waits for CPU: wall time then grows several times over while the work does not).
    """
    X = np.random.default_rng(3).normal(size=(100, 20))
    calls = 2000

    bare = _seconds(lambda: [_first_column(X) for _ in range(calls)], repeat) / calls
    without, without_cpu = _decorated_seconds(X, calls, repeat, wall=True, summaries=False)
    with_summaries, with_cpu = _decorated_seconds(X, calls, repeat, wall=True, sample_rate=1.0)
    added = (with_cpu - without_cpu) * 1e6
    print("\n== decorated call, 100 rows x 20 features, metrics only, collection included ==")
    print(f"{'':38}{'wall µs':>10} {'CPU µs':>10}")
    print(f"bare call                             {bare * 1e6:10.2f}")
    print(f"@monitor, summaries off               {without * 1e6:10.2f} {without_cpu * 1e6:10.2f}")
    print(f"@monitor, summaries at sample_rate=1  {with_summaries * 1e6:10.2f} {with_cpu * 1e6:10.2f}")
    print(
        f"added by the summaries                {(with_summaries - without) * 1e6:10.2f} {added:10.2f}"
        f"   (target <= 100 µs CPU: {'ok' if added <= 100 else 'MISSED'})"
    )


def bench_vector(repeat: int) -> None:
    """One 64 x 768 float32 embedding batch: the vector sketch and the summary path against one matmul pass."""
    from otel_mlmon._text import vector_descriptors
    from otel_mlmon.adapters import read_features, read_outputs
    from otel_mlmon.summary import Summary

    X = np.random.default_rng(4).normal(size=(64, 768)).astype(np.float32)
    q = Projection(768).matrix()
    batches = 200
    sketch = VectorSketch(Projection(768))
    summary = Summary()

    def matmul() -> None:
        for _ in range(batches):
            X @ q

    def update() -> None:
        for _ in range(batches):
            sketch.update(X)

    def path() -> None:
        for _ in range(batches):
            batch = Summary()
            batch.add_features(read_features(X))
            summary.merge(batch)  # the SDK folds each call into a batch summary and merges it

    def output_path() -> None:  # the same matrix returned by an embedder: one vector output
        for _ in range(batches):
            batch = Summary()
            batch.add_outputs(read_outputs(X))
            outputs.merge(batch)

    def descriptors() -> None:  # what a vector column cost before: six descriptor columns, one histogram each
        for _ in range(batches):
            block = vector_descriptors(np.column_stack([c.values for c in read_features(X).columns]))
            for j in range(block.shape[1]):
                ExponentialHistogram().update(block[:, j])

    outputs = Summary()
    runs = [matmul, update, path, output_path, descriptors]
    base, ours, whole, as_output, before = (t / batches for t in _interleaved_seconds(runs, repeat))
    matmul_cpu = _seconds(matmul, repeat, clock=time.process_time) / batches
    decorated = _decorated_vector_cpu(X, repeat)
    print("\n== 64 x 768 float32 embedding batch (one vector column, 64 projections + norm) ==")
    print(f"X @ Q (768 x 64 projection, baseline) {base * 1e6:10.1f} µs")
    print(f"VectorSketch.update                   {ours * 1e6:10.1f} µs")
    print(f"read_features + add_features + merge  {whole * 1e3:10.3f} ms   (target: well under 2.3 ms)")
    print(f"same matrix as an output (read_outputs + add_outputs + merge) {as_output * 1e3:.3f} ms")
    print(f"ratio: input path / output path       {whole / as_output:10.2f}   (target <= 1.5)")
    print(f"ratio: VectorSketch.update / matmul   {ours / base:10.1f}")
    print(
        f"before: six descriptor histograms     {before * 1e3:10.3f} ms   (read_features + descriptors + update)"
    )
    print(f"ratio: summary path / matmul          {whole / base:10.1f}")
    print(f"ratio: before / summary path          {before / whole:10.1f}x faster")
    print(
        f"@monitor call, CPU added by summaries {decorated * 1e3:10.3f} ms   (process CPU, folding thread included;"
        f" {decorated / matmul_cpu:.1f}x the CPU of X @ Q)"
    )


def _first_column(batch: np.ndarray) -> np.ndarray:
    """The model of the decorated-call benchmarks: as cheap as a model can be."""
    return batch[:, 0]


def _decorated_seconds(
    X: np.ndarray, calls: int, repeat: int, wall: bool = False, **options: object
) -> tuple[float, float]:
    """Wall (when ``wall``, else 0) and process CPU seconds per call of ``_first_column`` decorated with
    ``otel_mlmon.monitor(**options)`` on the batch ``X``, metrics only, collection included (the folding of the
    summaries is part of the cost)."""
    import otel_mlmon
    from otel_mlmon.testing import InMemoryTelemetry

    telemetry = InMemoryTelemetry()
    fn = otel_mlmon.monitor(model="m", trace=False, meter_provider=telemetry.meter_provider, **options)(
        _first_column
    )

    def run() -> None:
        for _ in range(calls):
            fn(X)
        telemetry.collect()

    seconds = _seconds(run, repeat) / calls if wall else 0.0
    cpu = _seconds(run, repeat, clock=time.process_time) / calls
    telemetry.shutdown()
    return seconds, cpu


def _decorated_vector_cpu(X: np.ndarray, repeat: int) -> float:
    """Process CPU time a decorated call with the batch ``X`` gains from its summaries (sample_rate=1, folding
    and collection included), per call."""
    calls = 200
    return (
        _decorated_seconds(X, calls, repeat, sample_rate=1.0)[1]
        - _decorated_seconds(X, calls, repeat, summaries=False)[1]
    )


def bench_text(repeat: int) -> None:
    """64 texts of 20 words: the summary path with the vocabulary sketch against descriptors only."""
    from otel_mlmon.adapters import read_features
    from otel_mlmon.summary import Summary, SummaryConfig

    rng = np.random.default_rng(5)
    words = np.array([f"word{i}" for i in range(5000)])
    rows = [{"review": " ".join(rng.choice(words, 20))} for _ in range(64)]
    batches = 50
    configs = [
        SummaryConfig(text=["review"], vocabulary_buckets=None),
        SummaryConfig(text=["review"]),
        SummaryConfig(text=["review"], vocabulary_moments=True),
    ]

    def path(config: SummaryConfig) -> Callable[[], None]:
        def run() -> None:
            for _ in range(batches):
                Summary(config).add_features(read_features(rows))

        return run

    base, sdk, profile = (t / batches for t in _interleaved_seconds([path(c) for c in configs], repeat))
    print("\n== 64 texts of 20 words (one text column: 7 descriptors + vocabulary sketch, 256 buckets) ==")
    print(f"descriptors only (baseline)           {base * 1e3:10.3f} ms")
    print(f"+ vocabulary sketch (SDK, counts)     {sdk * 1e3:10.3f} ms   ratio {sdk / base:5.2f}")
    print(f"+ vocabulary sketch (profile, moments){profile * 1e3:10.3f} ms   ratio {profile / base:5.2f}")


def bench_categorical(n: int, repeat: int) -> None:
    rng = np.random.default_rng(2)
    names = np.array([f"category_{i}" for i in range(50)])
    cases = {
        "50 categories, numpy str": names[rng.zipf(1.5, n) % 50],
        "50 categories, object (pandas-like)": names[rng.zipf(1.5, n) % 50].astype(object),
        f"{n // 2:,} distinct ids, object": np.array(
            [f"user{i}" for i in rng.integers(0, n // 2, n)], dtype=object
        ),
        "integer codes 0..49": rng.integers(0, 50, n),
        "booleans": rng.random(n) < 0.3,
    }
    print(f"\n== CategoricalSketch.update, {n:,} values (K=64) ==")
    for name, values in cases.items():
        seconds = _seconds(lambda values=values: CategoricalSketch(max_categories=64).update(values), repeat)
        print(f"{name:38s}{_rate(n, seconds)}")


def _interleaved_seconds(runs: list[Callable[[], object]], repeat: int) -> list[float]:
    """Fastest wall time of each run, the runs alternated so that all see the same machine load."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, spent in zip(runs, times):
            start = time.perf_counter()
            run()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def _columns(n: int, levels: int, law: str, rng: np.random.Generator) -> dict[str, object]:
    """The same draws as an object (str) column, a pandas category column and an int64 column."""
    import pandas as pd

    codes = (rng.zipf(1.3, n) - 1) % levels if law == "zipf" else rng.integers(0, levels, n)
    names = np.array([f"category_{i}" for i in range(levels)], dtype=object)
    strings = names[codes]
    return {
        "object str": pd.Series(strings, dtype=object),
        "category": pd.Series(pd.Categorical.from_codes(codes, categories=names.tolist())),
        "int64": pd.Series(codes.astype(np.int64) * 7 + 1000),
    }


def bench_categorical_vs_pandas(n: int, repeat: int) -> None:
    """CategoricalSketch.update against pandas value_counts on the same Series (issue 11 target: ratio >= 1)."""
    rng = np.random.default_rng(4)
    print(f"\n== CategoricalSketch.update vs pandas Series.value_counts, {n:,} rows (default K=2048) ==")
    print(f"{'column':34s}{'sketch':>20s}{'value_counts()':>20s}{'ratio':>7s}{'(dropna=False)':>15s}")
    for levels in (40, 1000):
        for law in ("zipf", "uniform"):
            for kind, column in _columns(n, levels, law, rng).items():
                ours, pandas, fastest = _interleaved_seconds(
                    [
                        lambda column=column: CategoricalSketch().update(column),
                        lambda column=column: column.value_counts(),
                        lambda column=column: column.value_counts(dropna=False, sort=False),
                    ],
                    repeat * 5,
                )
                name = f"{kind}, {levels} levels, {law}"
                print(
                    f"{name:34s}{_rate(n, ours)}{_rate(n, pandas)}{pandas / ours:6.2f}x{fastest / ours:14.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--only", choices=["vector", "text", "tables"], help="run one section only")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    print("otel-mlmon sketch benchmark (median of repeated runs; ratios are measured in the same run)")
    if args.only == "vector":
        bench_vector(repeat)
        return
    if args.only == "text":
        bench_text(repeat)
        return
    if args.only == "tables":
        bench_table(10_000, 50, repeat)
        bench_table(200_000 if args.quick else 1_000_000, 20, max(1, repeat // 2))
        return
    bench_column(100_000, 10_000 if args.quick else 20_000, repeat)
    bench_table(10_000, 50, repeat)
    bench_table(200_000 if args.quick else 1_000_000, 20, max(1, repeat // 2))
    bench_categorical(100_000, repeat)
    bench_categorical_vs_pandas(200_000 if args.quick else 1_000_000, repeat)
    bench_decorated_call(repeat)
    bench_vector(repeat)
    bench_text(repeat)


if __name__ == "__main__":
    main()
