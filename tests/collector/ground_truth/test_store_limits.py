"""Issue 16: the join store under a flood, with hostile records, and on a disk that fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from otel_mlmon_collector._ground_truth._records import parse_log_records
from otel_mlmon_collector._ground_truth._store import JoinStore

from tests.collector.ground_truth._helpers import (
    SECOND,
    full_disk,
    label,
    label_log,
    prediction,
    prediction_log,
)


def test_a_flood_of_junk_labels_does_not_evict_pending_predictions() -> None:
    """Before, 1 000 labels for ids never seen evicted all 500 pending predictions (oldest first)."""
    store = JoinStore(":memory:", ttl_seconds=3600, max_pending=1000, clock_ns=lambda: 0)
    store.add_predictions([prediction(f"p{i}") for i in range(500)])
    store.add_labels([label(f"junk{i}", model="fraud") for i in range(1000)])
    counts = store.counts()
    assert counts["pending_predictions"] == 500
    assert counts["evicted_predictions"] == 0 and counts["evicted_labels"] == 500
    store.add_labels([label(f"p{i}") for i in range(500)])
    assert len(store.pop_joined()) == 500


def test_eviction_is_per_model_one_models_flood_spares_the_others() -> None:
    """A flood of predictions of one model evicts that model's rows, not another model's."""
    store = JoinStore(":memory:", ttl_seconds=3600, max_pending=300, clock_ns=lambda: 0)
    store.add_predictions([prediction(f"c{i}", model="churn") for i in range(100)])
    store.add_predictions([prediction(f"f{i}", model="fraud") for i in range(1000)])
    assert store._count_pending_by_model() == {"churn": 100, "fraud": 200}
    store.add_labels([label(f"c{i}", model="churn") for i in range(100)])
    assert len(store.pop_joined()) == 100


def label_of(pid: str, model: str = "fraud") -> object:
    return label(pid, model=model)


def test_oversized_ids_and_values_and_overflowing_times_are_refused_per_record() -> None:
    """Before, one time_unix_nano >= 2**63 raised OverflowError and lost the whole batch; 1 MB ids were kept."""
    records = [prediction_log(f"ok{i}", "yes") for i in range(100)]
    records.append(prediction_log("late", "yes", time_unix_nano=2**63))
    records.append(prediction_log("x" * 1_000_000, "yes"))
    records.append(prediction_log("big", "y" * 1_000_000))
    records.append(label_log("z" * 2000, "yes"))
    records.append(label_log("when", "yes", time_unix_nano=2**64 - 1))
    parsed = parse_log_records(records, now_unix_nano=SECOND)
    assert len(parsed.predictions) == 100 and not parsed.labels
    assert parsed.malformed == {"bad_time": 2, "too_long": 3}


def test_write_failures_are_counted_and_clear_when_writes_succeed(tmp_path: Path) -> None:
    """A failing disk loses records loudly: counted per kind, ``failing`` set until a write succeeds again."""
    store = JoinStore(tmp_path / "gt.sqlite", ttl_seconds=60, clock_ns=lambda: 0)
    store.add_prediction(prediction("p0"))
    with full_disk(store):
        store.add_predictions([prediction(f"p{i}") for i in range(1, 101)])
        store.add_label(label("l"))
        assert store.write_failures == {"predictions": 100, "labels": 1}
        assert store.failing is not None and "disk is full" in store.failing
    store.add_prediction(prediction("p200"))
    assert store.failing is None
    assert store.counts()["pending_predictions"] == 2


@pytest.mark.parametrize("kind", ["file_in_the_way", "read_only"])
def test_an_unwritable_store_path_is_a_configuration_error_naming_it(tmp_path: Path, kind: str) -> None:
    from otel_mlmon_collector._config_reader import ConfigError
    from otel_mlmon_collector._performance import PerformanceConfig, PerformanceProcessor

    if kind == "file_in_the_way":
        (tmp_path / "blocker").write_text("a file where the store's directory should be")
        path = tmp_path / "blocker" / "gt.sqlite"
    else:
        directory = tmp_path / "ro"
        directory.mkdir()
        directory.chmod(0o555)
        path = directory / "gt.sqlite"
        probe = directory / "probe"
        try:
            probe.write_text("")
            probe.unlink()
            pytest.skip("running as a user who can write to a read-only directory (root)")
        except OSError:
            pass
    with pytest.raises(ConfigError, match=str(path)):
        PerformanceProcessor(PerformanceConfig(path=str(path)), emit=lambda request: None)
