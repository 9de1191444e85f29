"""Concept drift: reference comparison rules, detector glue, and a simulated drift run through the whole chain."""

from __future__ import annotations

import doctest
import random

import numpy as np
import pytest
from otel_mlmon_collector._ground_truth import _concept_drift as concept_drift
from otel_mlmon_collector._ground_truth._concept_drift import (
    ConceptDriftMonitor,
    compare_with_reference,
    prediction_error,
)
from otel_mlmon_collector._ground_truth._estimation import confidence_sums, estimate_performance, gap
from otel_mlmon_collector._ground_truth._metrics import window_performance
from otel_mlmon_collector._ground_truth._performance_windows import PerformanceWindows
from otel_mlmon_collector._ground_truth._records import JoinedRow, parse_logs_request
from otel_mlmon_collector._ground_truth._store import JoinStore
from otel_mlmon_collector.drift import Binned, Wasserstein

from otel_mlmon import conventions as conv
from tests.collector.ground_truth._helpers import (
    SECOND,
    label,
    label_log,
    prediction,
    prediction_log,
    request,
)


def test_reference_rules() -> None:
    """Bounded metrics use an absolute tolerance with a significance gate on accuracy; error metrics a relative one."""
    checks = {
        c.metric: c
        for c in compare_with_reference(
            {"accuracy": 0.85, "f1_macro": 0.86, "rmse": 1.2, "mae": 1.05, "mean_error": 5.0},
            {"accuracy": 0.93, "f1_macro": 0.90, "rmse": 1.0, "mae": 1.0, "mean_error": 0.0},
            n=500,
        )
    }
    assert set(checks) == {"accuracy", "f1_macro", "rmse", "mae"}  # mean_error has no direction
    assert checks["accuracy"].degraded and checks["accuracy"].degradation == pytest.approx(0.08)
    assert not checks["f1_macro"].degraded  # 0.04 drop is within the 0.05 tolerance
    assert checks["rmse"].degraded and checks["rmse"].degradation == pytest.approx(0.2)
    assert not checks["mae"].degraded  # 5 % worse is within the 10 % tolerance


def test_small_windows_are_not_judged() -> None:
    """Below min_samples a check is skipped; just above it an accuracy drop must also be significant."""
    (skipped,) = compare_with_reference({"accuracy": 0.5}, {"accuracy": 0.9}, n=99)
    assert skipped.skipped and not skipped.degraded
    # 0.06 drop at n=100: z = 0.06 / sqrt(0.09 / 100) = 2.0 < 2.326 -> not significant
    (noisy,) = compare_with_reference({"accuracy": 0.84}, {"accuracy": 0.9}, n=100)
    assert not noisy.degraded
    (clear,) = compare_with_reference({"accuracy": 0.84}, {"accuracy": 0.9}, n=1000)
    assert clear.degraded


def test_prediction_error_stream() -> None:
    """Errors are 0/1 for class labels (numbers compared as labels) and scaled absolute errors for numbers."""
    assert prediction_error(JoinedRow(prediction("a", "1"), label("a", 1.0))) == 0.0
    assert prediction_error(JoinedRow(prediction("a", "yes"), label("a", "no"))) == 1.0
    assert prediction_error(JoinedRow(prediction("a", 3.0), label("a", 1.0)), scale=4.0) == 0.5
    assert prediction_error(JoinedRow(prediction("a", 3.0), label("a", "2.5"))) == 0.5
    assert prediction_error(JoinedRow(prediction("a", 3.0), label("a", "n/a"))) is None


def rows(errors: list[bool], start: int = 0, version: str = "1") -> list[JoinedRow]:
    """Joined classification rows, one per second, wrong where ``errors`` says so."""
    return [
        JoinedRow(prediction(str(i), "a", i * SECOND, version=version), label(str(i), "b" if e else "a"))
        for i, e in enumerate(errors, start)
    ]


def test_monitor_detects_clears_and_keeps_series_apart() -> None:
    """A detection is reported once per episode, clears after clear_after quiet rows, and series are independent."""
    rng = random.Random(3)
    monitor = ConceptDriftMonitor("adwin", clear_after=500)
    calm = [rng.random() < 0.1 for _ in range(2000)]
    storm = [rng.random() < 0.6 for _ in range(600)]
    after = [rng.random() < 0.6 for _ in range(2000)]
    assert monitor.update(rows(calm) + rows(calm, version="2")) == []
    started = monitor.update(rows(storm, 2000))
    assert [(c.version, c.detected, c.source) for c in started] == [("1", True, "detector")]
    assert 2000 * SECOND <= started[0].time_unix_nano <= 2200 * SECOND
    assert started[0].details["rows_seen"] > 2000
    assert monitor.state() == {("fraud", "1", "prediction"): True, ("fraud", "2", "prediction"): False}
    cleared = monitor.update(rows(after, 2600))
    assert [(c.version, c.detected, c.details["reason"]) for c in cleared] == [("1", False, "quiet")]
    assert monitor.state()[("fraud", "1", "prediction")] is False


def test_recovery_clears_and_improvement_is_not_drift() -> None:
    """A detected fall of the error clears the state; an improvement on a calm series is not reported as drift."""
    rng = random.Random(4)
    monitor = ConceptDriftMonitor("adwin")
    bad = [rng.random() < 0.5 for _ in range(1500)]
    good = [rng.random() < 0.1 for _ in range(1500)]
    (start,) = monitor.update(rows([rng.random() < 0.1 for _ in range(1500)] + bad))
    assert start.detected and start.details["error_after"] > start.details["error_before"]
    assert monitor.update(rows(bad, 3000)) == []  # still bad: no news, state stays on
    assert monitor.state()[("fraud", "1", "prediction")] is True
    (end,) = monitor.update(rows(good, 4500))
    assert not end.detected and end.details["reason"] == "recovery" and end.time_unix_nano >= 4500 * SECOND
    improving = ConceptDriftMonitor("adwin")
    (better,) = improving.update(rows(bad + good))  # flagged once as an improvement, never as drift
    assert better.direction == "improvement" and not better.detected and better.source == "detector"
    assert better.details["error_after"] < better.details["error_before"]
    assert improving.state() == {("fraud", "1", "prediction"): False}


def test_reference_state_follows_the_newest_window_and_ignores_future_ones() -> None:
    """A recomputed older window does not move the state, and a window from a future clock is ignored."""
    monitor = ConceptDriftMonitor(references={("fraud", "1"): {"accuracy": 0.9}})
    rng = random.Random(5)

    def window(start_s: int, error_rate: float) -> list:
        rows_ = rows([rng.random() < error_rate for _ in range(400)], start_s)
        return list(window_performance(rows_, 400).values())

    now = 10_000 * SECOND
    (bad,) = monitor.check_windows(window(800, 0.4), now)
    assert bad.detected and bad.source == "reference" and bad.time_unix_nano == 800 * SECOND
    assert monitor.check_windows(window(400, 0.05), now) == []  # an older window: no change
    assert monitor.check_windows(window(40_000, 0.05), now) == []  # starts after now: ignored
    (good,) = monitor.check_windows(window(1200, 0.05), now)
    assert not good.detected and monitor.state() == {("fraud", "1", "prediction"): False}


def test_regression_errors_are_scaled_and_kept_from_binary_detectors() -> None:
    """Regression rows feed scaled absolute errors to ADWIN, and never reach DDM, which reads error bits only."""
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 1, 3000)
    noise = np.concatenate([rng.normal(0, 0.5, 1500), rng.normal(0, 2.0, 1500)])
    regression = [
        JoinedRow(prediction(str(i), float(truth[i] + noise[i]), i * SECOND), label(str(i), float(truth[i])))
        for i in range(3000)
    ]
    (change,) = ConceptDriftMonitor("adwin", regression_scale=4.0).update(regression)
    assert change.detected and 1500 <= change.time_unix_nano // SECOND <= 1700
    ddm = ConceptDriftMonitor("ddm")
    assert ddm.update(regression) == [] and ddm.state() == {("fraud", "3", "prediction"): False}


def test_monitor_accepts_a_factory_and_validates() -> None:
    """A detector factory is used as given; bad names and parameters raise ValueError."""
    monitor = ConceptDriftMonitor(lambda: concept_drift.make_detector("page_hinkley", threshold=5))
    changes = monitor.update(rows([False] * 300 + [True] * 100))
    assert changes and changes[0].method == "page_hinkley"
    with pytest.raises(ValueError, match="detector must be one of"):
        ConceptDriftMonitor("cusum")
    with pytest.raises(ValueError, match="regression_scale"):
        ConceptDriftMonitor(regression_scale=0)
    with pytest.raises(ValueError, match="clear_after"):
        ConceptDriftMonitor(clear_after=0)


def test_doctest() -> None:
    """The seeded example in the concept-drift docstring runs as written."""
    result = doctest.testmod(concept_drift, raise_on_error=False)
    assert result.failed == 0 and result.attempted > 0


# -- a simulated concept drift through parsing, the SQLite join, windows, detector, estimation ----------------

N_ROWS = 6000  # one prediction per second
WINDOW = 600  # seconds
DRIFT = (3000, 4200)  # seconds in which labels flip for x > 0.5 while x keeps its distribution
T0 = 1000 * WINDOW  # prediction i is made at T0 + i seconds (a time of 0 would mean "unknown" in OTLP)


def simulate(seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """A calibrated logistic model on x ~ N(0, 1); inside DRIFT the true labels flip for x > 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N_ROWS)
    p_yes = 1 / (1 + np.exp(-3 * x))
    truth = np.where(rng.random(N_ROWS) < p_yes, "yes", "no")
    t = np.arange(N_ROWS)
    flip = (t >= DRIFT[0]) & (t < DRIFT[1]) & (x > 0.5)
    truth = np.where(flip, np.where(truth == "yes", "no", "yes"), truth)
    predicted = np.where(p_yes >= 0.5, "yes", "no")
    return x, p_yes, predicted.tolist(), truth.tolist()


def test_simulated_concept_drift_is_detected_while_data_drift_stays_quiet(tmp_path: object) -> None:
    """Labels flipping for a segment are caught by the detector, the reference check and the estimation gap,
    through OTLP parsing and a restarted SQLite join, while data drift on the unchanged input stays quiet."""
    x, p_yes, predicted, truth = simulate()
    prediction_logs = [
        prediction_log(
            f"r{i}",
            predicted[i],
            (T0 + i) * SECOND,
            **{
                conv.ATTR_PREDICTION_CONFIDENCE: max(p_yes[i], 1 - p_yes[i]),
                conv.ATTR_PREDICTION_CLASSES: ["no", "yes"],
                conv.ATTR_PREDICTION_PROBABILITIES: [1 - p_yes[i], p_yes[i]],
            },
        )
        for i in range(N_ROWS)
    ]
    order = np.random.default_rng(1).permutation(
        N_ROWS
    )  # labels arrive in any order, some before predictions
    label_logs = {
        i: label_log(f"r{i}", truth[i], (T0 + i + 30 + int(order[i]) % 300) * SECOND) for i in range(N_ROWS)
    }
    path = tmp_path / "join.sqlite"  # type: ignore[operator]
    monitor = ConceptDriftMonitor("adwin", references={("fraud", ""): {"accuracy": 0.0}})
    detector_changes, reference_changes = [], []
    batch = 500
    for start in range(0, N_ROWS, batch):
        chunk = list(range(start, start + batch))
        early_labels = [label_logs[i] for i in chunk if order[i] % 5 == 0]
        late_labels = [label_logs[i] for i in chunk if order[i] % 5 != 0]
        # the join store and the windows share one SQLite file, reopened for every batch: a restart each time
        with JoinStore(path, ttl_seconds=3600) as store, PerformanceWindows(WINDOW, path) as windows:
            for message in (
                request(*early_labels),
                request(*prediction_logs[start : start + batch]),
                request(*late_labels),
            ):
                parsed = parse_logs_request(message)
                assert not parsed.malformed
                windows.observe_predictions(parsed.predictions)
                store.add_predictions(parsed.predictions)
                store.add_labels(parsed.labels)
            joined = store.pop_joined()
            assert len(joined) == batch
            changed = windows.add(joined)
            detector_changes += monitor.update(joined)
            if start == DRIFT[0] - batch:  # the reference: realized accuracy over the calm windows so far
                calm = [
                    r
                    for k, r in windows.results().items()
                    if k[3] + WINDOW * SECOND <= (T0 + DRIFT[0]) * SECOND
                ]
                monitor.set_reference(
                    "fraud", "", {"accuracy": float(np.mean([r.classification.accuracy for r in calm]))}
                )
            reference_changes += monitor.check_windows(windows.results(changed).values())
    with JoinStore(path) as store:
        counts = store.counts()
    assert counts["joined"] == N_ROWS and counts["pending_predictions"] == counts["pending_labels"] == 0

    with PerformanceWindows(WINDOW, path) as windows:
        results = windows.results()
    accuracy = {k[3] // SECOND - T0: r.classification.accuracy for k, r in results.items()}
    assert all(r.label_coverage == 1.0 for r in results.values())
    # detector: degradation within 300 predictions of the segment's start, recovery within 400 after its end
    assert [c.detected for c in detector_changes] == [True, False]
    assert DRIFT[0] <= detector_changes[0].time_unix_nano // SECOND - T0 <= DRIFT[0] + 300
    assert DRIFT[1] <= detector_changes[1].time_unix_nano // SECOND - T0 <= DRIFT[1] + 400
    # reference check: the windows inside the segment are degraded, the state clears after it
    flips = [
        (c.time_unix_nano // SECOND - T0, c.detected)
        for c in reference_changes
        if c.method == "accuracy" and c.direction in ("degradation", "recovery")
    ]
    assert flips[0] == (DRIFT[0], True) and flips[-1][1] is False and flips[-1][0] >= DRIFT[1]
    # estimation before labels: calibrated before the segment, a large gap inside it
    for start_s in range(0, N_ROWS, WINDOW):
        rows_in = range(start_s, start_s + WINDOW)
        est = estimate_performance(
            confidence_sums([predicted[i] for i in rows_in], [max(p_yes[i], 1 - p_yes[i]) for i in rows_in])
        )
        realized = results[("fraud", "3", "prediction", (T0 + start_s) * SECOND)].classification
        z = gap(est, realized).accuracy_z
        assert (z > 4) if DRIFT[0] <= start_s < DRIFT[1] else (abs(z) < 3.5), (start_s, z, accuracy[start_s])
    # data drift on the input stays quiet: the segment's x has the reference's distribution (an effect-size
    # method, so the check does not hinge on a p-value test's 5 % chance alarm)
    drift = Wasserstein().compare(Binned.from_values(x[: DRIFT[0]], x[DRIFT[0] : DRIFT[1]]))
    assert not drift.detected
