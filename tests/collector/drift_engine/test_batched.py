"""The engine's batched comparison (compare_many per model) gives what comparing column by column gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._drift_engine import DriftConfig, DriftProcessor, StreamDrift
from otel_mlmon_collector._otlp import OtlpRequest
from otel_mlmon_collector.drift import (
    DriftPolicy,
    DriftResult,
    KolmogorovSmirnov,
    MissingCounts,
    MissingRate,
    OutOfRange,
    UnseenCategories,
    align,
)

from otel_mlmon import Profile
from otel_mlmon.sketch import ExponentialHistogram

from ._helpers import Replica

NUMERIC = [f"x{i}" for i in range(24)]
CATEGORICAL = ["c0", "c1"]
FEATURES = NUMERIC + CATEGORICAL
OVERRIDES = {
    "x1": "psi",
    "x2": {"method": "hellinger", "threshold": 0.05},
    "x3": {"method": "out_of_range", "threshold": 0.05},  # the same method and threshold as the range check
    "x4": {"threshold": 0.02},
    "x5": "jensen_shannon",
    "x6": "none",
}


def _data(rng: np.random.Generator, n: int, drift: float) -> np.ndarray:
    """Random numeric columns of varied shape, sign and scale (some with zeros, missing values or drift)."""
    X = np.empty((n, len(FEATURES)))
    for j in range(len(NUMERIC)):
        scale, loc = 10.0 ** rng.uniform(-3, 3), rng.normal(0, 3)
        kind = j % 4
        if kind == 0:
            col = rng.normal(loc, 1, n)
        elif kind == 1:
            col = rng.lognormal(0, 1, n)
        elif kind == 2:
            col = rng.poisson(2, n).astype(float) - 1  # exact zeros and negatives
        else:
            col = rng.exponential(1, n)
        col = col * scale + drift * scale * rng.uniform(0, 1.5)
        if j % 5 == 4:
            col[rng.random(n) < rng.uniform(0, 0.1)] = np.nan
        X[:, j] = col
    for j in range(len(CATEGORICAL)):
        X[:, len(NUMERIC) + j] = rng.choice(4 + j, size=n, p=_shares(4 + j, drift, rng))
    return X


def _shares(k: int, drift: float, rng: np.random.Generator) -> np.ndarray:
    p = np.arange(k, 0, -1, dtype=float) + drift * rng.uniform(0, 3, k)
    return p / p.sum()


def _one_by_one(engine: DriftProcessor, stream: StreamDrift) -> dict[str, dict[str, DriftResult]]:
    """Every column compared on its own (align, then each check), then corrected: what the engine did before."""
    config = engine.config
    view = engine.windows.view(stream.key)
    reference = stream.reference.summary
    policy = engine._policy(stream.key.model)
    out_of_range = OutOfRange(threshold=config.out_of_range_threshold)
    unseen = UnseenCategories(threshold=config.out_of_range_threshold)
    missing_rate = MissingRate(threshold=config.missing_threshold)
    columns = []
    for name, current in view.features.items():
        ref = reference.features[name]
        results = {}
        if current.count >= config.min_rows:
            method = policy.method_for(name, ref.kind, ref.count, current.count)
            if ref.kind == "numeric":
                binned = align(ref.numeric, current.numeric)
                if hasattr(method, "compare_binned"):
                    results["distribution"] = method.compare_binned(binned)
                else:
                    results["distribution"] = method.compare(ref.numeric, current.numeric)
                results["out_of_range"] = out_of_range.compare(binned)
            else:
                results["distribution"] = method.compare(ref.categorical, current.categorical)
                results["out_of_range"] = unseen.compare(ref.categorical, current.categorical)
        total_ref = ref.count + ref.missing + ref.infinite
        total_cur = current.count + current.missing + current.infinite
        if total_cur >= config.min_rows:
            results["missing_rate"] = missing_rate.compare(
                MissingCounts(total_ref, ref.missing, ref.infinite),
                MissingCounts(total_cur, current.missing, current.infinite),
            )
        columns.append((name, results))
    flat = [r for _, results in columns for r in results.values()]
    corrected = iter(policy.correct(flat))
    return {name: {check: next(corrected) for check in results} for name, results in columns}


@pytest.mark.parametrize(("seed", "rows", "drift"), [(1, 400, 0.0), (2, 1_700, 0.3), (3, 9_000, 0.05)])
def test_batched_engine_equals_column_by_column(tmp_path: Path, seed: int, rows: int, drift: float) -> None:
    """On random data every score, p-value, decision and sample size equals the column-by-column result."""
    rng = np.random.default_rng(seed)
    Profile.from_data(
        _data(rng, 20_000, 0.0), model="m", version="1", feature_names=FEATURES, categorical=CATEGORICAL
    ).save(tmp_path / "m.json")
    config = DriftConfig(
        references_directory=str(tmp_path),
        evaluation_interval_seconds=0,
        reference_poll_seconds=0,
        overrides={"m": OVERRIDES},
    )
    sink: list[OtlpRequest] = []
    engine = DriftProcessor(config, sink.append)
    replica = Replica("delta", model="m", features=FEATURES, categorical=CATEGORICAL)
    replica.predict(_data(rng, rows, drift))
    engine.process(replica.export())
    stream = engine.evaluate_now().stream("m")
    expected = _one_by_one(engine, stream)
    got = {c.name: c.results for c in stream.columns}
    assert set(got) == {name for name, results in expected.items() if results}
    methods = set()
    for name, results in got.items():
        assert list(results) == list(expected[name]), name
        for check, r in results.items():
            e = expected[name][check]
            methods.add(r.method)
            assert (r.method, r.detected, r.n_reference, r.n_current) == (
                e.method,
                e.detected,
                e.n_reference,
                e.n_current,
            ), (name, check)
            assert r.score == pytest.approx(e.score, rel=1e-12, abs=1e-15, nan_ok=True), (name, check)
            assert (r.p_value is None) == (e.p_value is None), (name, check)
            if r.p_value is not None:
                assert r.p_value == pytest.approx(e.p_value, rel=1e-12, abs=1e-300), (name, check)
            assert r.details.keys() == e.details.keys(), (name, check)
    assert {"psi", "hellinger", "jensen_shannon", "out_of_range", "missing_rate"} <= methods
    assert methods & {"ks", "wasserstein"}
    replica.shutdown()
    engine.shutdown()


class _Broken(KolmogorovSmirnov):
    """KS that fails on one column (its reference has exactly ``bad_n`` values), alone or in a batch."""

    bad_n = -1

    def compare_binned(self, binned):  # type: ignore[no-untyped-def]
        if binned.n_reference == self.bad_n:
            raise RuntimeError("broken column")
        return super().compare_binned(binned)

    def compare_many(self, pairs):  # type: ignore[no-untyped-def]
        if any(p.n_reference == self.bad_n for p in pairs):
            raise RuntimeError("broken batch")
        return super().compare_many(pairs)


def test_policy_compare_batches_and_isolates_failures() -> None:
    """DriftPolicy.compare equals one-by-one results, and with on_error a failing comparison spares the others."""
    rng = np.random.default_rng(9)
    hists = []
    for n in (300, 400, 500):
        ref, cur = ExponentialHistogram(), ExponentialHistogram()
        ref.update(rng.normal(size=n))
        cur.update(rng.normal(0.3, size=n))
        hists.append((ref, cur))
    binneds = [align(ref, cur) for ref, cur in hists]
    method = _Broken()
    policy = DriftPolicy()
    comparisons = [(method, b, None) for b in binneds] + [
        (MissingRate(), MissingCounts(100, 1), MissingCounts(100, 9))
    ]
    one_by_one = [method.compare_binned(b) for b in binneds] + [
        comparisons[-1][0].compare(*comparisons[-1][1:])
    ]
    assert policy.compare(comparisons) == one_by_one
    _Broken.bad_n = binneds[1].n_reference
    with pytest.raises(RuntimeError, match="broken batch"):
        policy.compare(comparisons)
    errors: list[tuple[int, str]] = []
    results = policy.compare(comparisons, on_error=lambda i, exc: errors.append((i, str(exc))))
    assert errors == [(1, "broken column")]
    assert results == [one_by_one[0], None, one_by_one[2], one_by_one[3]]
    _Broken.bad_n = -1


def test_a_categorical_columns_checks_share_one_read_and_one_table(
    tmp_path: Path, categorical_work: tuple[list, list]
) -> None:
    """The engine reads each categorical column's two sketches once and builds its table once for both of its
    checks (distribution and unseen categories), which it hands one CategoricalSides."""
    rng = np.random.default_rng(4)
    Profile.from_data(
        _data(rng, 5_000, 0.0), model="m", version="1", feature_names=FEATURES, categorical=CATEGORICAL
    ).save(tmp_path / "m.json")
    config = DriftConfig(
        references_directory=str(tmp_path), evaluation_interval_seconds=0, reference_poll_seconds=0
    )
    engine = DriftProcessor(config, lambda request: True)
    replica = Replica("delta", model="m", features=FEATURES, categorical=CATEGORICAL)
    replica.predict(_data(rng, 2_000, 0.2))
    engine.process(replica.export())
    builds, reads = categorical_work
    stream = engine.evaluate_now().stream("m")
    categorical = [c for c in stream.columns if c.kind == "categorical"]
    assert len(categorical) == len(CATEGORICAL)
    assert all(set(c.results) == {"distribution", "out_of_range", "missing_rate"} for c in categorical)
    assert {c.results["out_of_range"].method for c in categorical} == {"unseen"}
    assert len(builds) == len(CATEGORICAL) and len(reads) == 2 * len(CATEGORICAL)
    replica.shutdown()
    engine.shutdown()
