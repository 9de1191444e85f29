"""Per-window accumulation of joined rows: recomputation as labels arrive, durability across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from otel_mlmon_collector._ground_truth._performance_windows import PerformanceWindows
from otel_mlmon_collector._ground_truth._records import JoinedRow

from tests.collector.ground_truth._helpers import SECOND, label, prediction


def joined(pid: str, t: int, predicted: str, truth: str) -> JoinedRow:
    """A joined classification row predicted at second ``t`` with two-class probabilities."""
    return JoinedRow(
        prediction(pid, predicted, t * SECOND, classes=("no", "yes"), probabilities=(0.4, 0.6)),
        label(pid, truth, (t + 5) * SECOND),
    )


def test_late_labels_update_their_prediction_window() -> None:
    """Rows added later to an old window change that window's metrics and only that window is reported."""
    windows = PerformanceWindows(60)
    windows.add([joined("a", 10, "yes", "yes"), joined("b", 70, "yes", "no")])
    changed = windows.add([joined("c", 20, "yes", "no")])
    assert changed == {("fraud", "3", "prediction", 0)}
    (result,) = windows.results(changed).values()
    assert result.n_labelled == 2 and result.classification.accuracy == 0.5
    assert len(windows.results()) == 2


def test_restart_keeps_rows_and_prediction_counts(tmp_path: Path) -> None:
    """Closing and reopening the SQLite file keeps every window's rows, probabilities and prediction counts."""
    path = tmp_path / "state.sqlite"
    with PerformanceWindows(60, path) as windows:
        windows.observe_predictions([prediction(str(i), "yes", i * SECOND) for i in range(4)])
        windows.add([joined("0", 0, "yes", "yes")])
        before = windows.results()
    with PerformanceWindows(60, path) as windows:
        windows.observe_predictions([prediction("4", "yes", 4 * SECOND)])
        windows.add([joined("1", 1, "yes", "no")])
        after = windows.results()
    (key,) = after
    assert before[key].n_labelled == 1 and before[key].label_coverage == 1 / 4
    assert after[key].n_labelled == 2 and after[key].label_coverage == 2 / 5
    assert after[key].classification.accuracy == 0.5 and after[key].classification.log_loss is not None
    with PerformanceWindows(60, path) as windows:
        assert windows.results() == after


def test_drop_before_forgets_closed_windows_durably(tmp_path: Path) -> None:
    """drop_before removes windows that ended, in memory and in the file."""
    path = tmp_path / "state.sqlite"
    with PerformanceWindows(60, path) as windows:
        windows.observe_predictions([prediction("x", "yes", 10 * SECOND)])
        windows.add([joined("a", 10, "yes", "yes"), joined("b", 70, "yes", "yes")])
        assert windows.n_rows() == 2
        assert windows.drop_before(60 * SECOND) == 1
    with PerformanceWindows(60, path) as windows:
        assert [k[3] for k in windows.results()] == [60 * SECOND] and windows.n_rows() == 1


def test_window_width_must_match_the_file(tmp_path: Path) -> None:
    """Reopening a file with another window width is refused instead of mixing windows."""
    path = tmp_path / "state.sqlite"
    PerformanceWindows(60, path).close()
    with pytest.raises(ValueError, match="window_seconds"):
        PerformanceWindows(30, path)
    with pytest.raises(ValueError, match="window_seconds"):
        PerformanceWindows(0)
