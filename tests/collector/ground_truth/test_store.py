"""The prediction↔label join store: either order, TTL, bounds, duplicates, restarts, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from otel_mlmon_collector._ground_truth._store import JoinStore

from tests.collector.ground_truth._helpers import SECOND, label, prediction


def make_store(path: str | Path = ":memory:", **kw: object) -> JoinStore:
    """A store with a 100 s TTL whose clock stays at 0 unless a test passes ``now``."""
    return JoinStore(path, ttl_seconds=kw.pop("ttl_seconds", 100), clock_ns=lambda: 0, **kw)  # type: ignore[arg-type]


def test_prediction_then_label_joins() -> None:
    """A label arriving after its prediction joins it; the pair keeps both records intact."""
    store = make_store()
    p = prediction("r1", "yes", 5 * SECOND, classes=("no", "yes"), probabilities=(0.3, 0.7), confidence=0.7)
    store.add_prediction(p)
    store.add_label(label("r1", "no", 9 * SECOND))
    (row,) = store.pop_joined()
    assert row.prediction == p and row.label == label("r1", "no", 9 * SECOND)
    assert row.label_delay_seconds == 4.0 and row.series_key == ("fraud", "3", "prediction")
    assert store.pop_joined() == []
    counts = store.counts()
    assert (counts["predictions"], counts["labels"], counts["joined"]) == (1, 1, 1)
    assert counts["pending_predictions"] == counts["pending_labels"] == 0


def test_label_before_prediction_joins() -> None:
    """A label arriving first waits for its prediction and joins when it comes."""
    store = make_store()
    store.add_label(label("r1", 1.5))
    assert store.counts()["pending_labels"] == 1
    store.add_prediction(prediction("r1", 2.0))
    (row,) = store.pop_joined()
    assert (row.prediction.value, row.label.value) == (2.0, 1.5)


def test_join_key_includes_model_and_output() -> None:
    """Labels join only the prediction of the same model and output with the same id."""
    store = make_store()
    store.add_prediction(prediction("r1", model="a"))
    store.add_label(label("r1", model="b"))
    assert store.pop_joined() == []
    assert store.counts()["pending_predictions"] == 1 and store.counts()["pending_labels"] == 1


def test_duplicates_keep_the_first_and_are_counted() -> None:
    """A second prediction or label with the same id, pending or already joined, is counted and dropped."""
    store = make_store()
    store.add_prediction(prediction("r1", "a"))
    store.add_prediction(prediction("r1", "b"))  # duplicate of a pending prediction
    store.add_label(label("r2", "x"))
    store.add_label(label("r2", "y"))  # duplicate of a pending label
    store.add_label(label("r1", "a"))
    store.add_label(label("r1", "z"))  # duplicate after the join
    store.add_prediction(prediction("r1", "c"))  # duplicate after the join
    store.add_prediction(prediction("r2", "d"))
    rows = {row.prediction.prediction_id: row for row in store.pop_joined()}
    assert (rows["r1"].prediction.value, rows["r1"].label.value) == ("a", "a")
    assert (rows["r2"].prediction.value, rows["r2"].label.value) == ("d", "x")
    counts = store.counts()
    assert (counts["duplicate_predictions"], counts["duplicate_labels"]) == (2, 2)
    assert counts["joined"] == 2


def test_expiry_counts_missing_labels_and_unknown_ids() -> None:
    """At expiry a prediction without label counts as labels_missing and a label without prediction as unknown."""
    store = make_store(ttl_seconds=10)
    store.add_prediction(prediction("p"), now_unix_nano=0)
    store.add_label(label("u"), now_unix_nano=5 * SECOND)
    assert store.expire(9 * SECOND) == {}
    assert store.expire(10 * SECOND) == {"labels_missing": 1}
    assert store.expire(15 * SECOND) == {"unknown_ids": 1}
    counts = store.counts()
    assert (counts["labels_missing"], counts["unknown_ids"], counts["pending_predictions"]) == (1, 1, 0)


def test_label_later_than_ttl_is_late_not_joined() -> None:
    """A label arriving after its prediction expired is counted late and never joins nor waits."""
    store = make_store(ttl_seconds=10)
    store.add_prediction(prediction("p"), now_unix_nano=0)
    store.expire(11 * SECOND)
    store.add_label(label("p"), now_unix_nano=12 * SECOND)
    assert store.pop_joined() == []
    counts = store.counts()
    assert (counts["late_labels"], counts["pending_labels"], counts["labels"]) == (1, 0, 0)


def test_tombstones_are_forgotten_after_another_ttl() -> None:
    """Settled ids are remembered for one TTL; after that a label for them waits as a new pending label."""
    store = make_store(ttl_seconds=10)
    store.add_prediction(prediction("p"), now_unix_nano=0)
    store.expire(10 * SECOND)
    assert store.counts()["tombstones"] == 1
    store.expire(20 * SECOND)
    assert store.counts()["tombstones"] == 0
    store.add_label(label("p"), now_unix_nano=21 * SECOND)
    assert store.counts()["pending_labels"] == 1


def test_size_bound_evicts_labels_before_predictions_and_counts() -> None:
    """Past max_pending a model's waiting labels go first (oldest first), then its predictions (issue 16)."""
    store = make_store(max_pending=3)
    store.add_label(label("l0"))
    store.add_prediction(prediction("p1"))
    store.add_prediction(prediction("p2"))
    store.add_prediction(prediction("p3"))  # evicts l0
    store.add_label(label("l4"))  # evicts l4: a label waiting for a prediction goes before any prediction
    store.add_prediction(prediction("p5"))  # no label left: evicts p1, the oldest prediction
    counts = store.counts()
    assert (counts["evicted_labels"], counts["evicted_predictions"]) == (2, 1)
    assert counts["pending_predictions"] + counts["pending_labels"] == 3
    store.add_label(label("p1"))  # its prediction was evicted: late
    store.add_label(label("p2"))
    assert [r.prediction.prediction_id for r in store.pop_joined()] == ["p2"]
    assert store.counts()["late_labels"] == 1


def test_unpopped_joined_rows_are_bounded() -> None:
    """Joined rows nobody pops are bounded by max_pending, oldest dropped first and counted."""
    store = make_store(max_pending=2)
    for i in range(4):
        store.add_prediction(prediction(f"r{i}"))
        store.add_label(label(f"r{i}"))
    assert [r.prediction.prediction_id for r in store.pop_joined()] == ["r2", "r3"]
    assert store.counts()["joined_dropped"] == 2


def test_tombstones_are_bounded_oldest_forgotten_first() -> None:
    """Settled ids (joined or expired) are remembered up to max_pending, the oldest forgotten first and counted:
    a forgotten id's repeat is no longer a duplicate."""
    store = make_store(max_pending=2)
    store.add_prediction(prediction("e0"), now_unix_nano=0)  # expires at 100 s
    for i in range(4):  # joined at 50 s: remembered until 150 s
        store.add_prediction(prediction(f"r{i}"), now_unix_nano=50 * SECOND)
        store.add_label(label(f"r{i}"), now_unix_nano=50 * SECOND)
    store.pop_joined()
    counts = store.counts()
    assert (counts["tombstones"], counts["tombstones_evicted"]) == (2, 2)
    store.add_predictions([prediction("r3"), prediction("r0")], now_unix_nano=50 * SECOND)
    counts = store.counts()
    assert (counts["duplicate_predictions"], counts["pending_predictions"]) == (1, 2)
    # At 120 s e0 expires and becomes a third tombstone: one too many.
    assert store.expire(120 * SECOND) == {"labels_missing": 1, "tombstones_evicted": 1}
    assert store.counts()["tombstones"] == 2


def test_pop_joined_limit_keeps_the_rest_in_order() -> None:
    """pop_joined(limit) returns the oldest joined rows and keeps the rest for the next pop."""
    store = make_store()
    store.add_predictions([prediction(f"r{i}") for i in range(5)])
    store.add_labels([label(f"r{i}") for i in (3, 1, 4, 0, 2)])
    assert [r.prediction.prediction_id for r in store.pop_joined(2)] == ["r3", "r1"]
    assert [r.prediction.prediction_id for r in store.pop_joined()] == ["r4", "r0", "r2"]


def test_restart_between_prediction_and_label_loses_nothing(tmp_path: Path) -> None:
    """Closing and reopening the SQLite file between prediction and label keeps pending rows and counters."""
    path = tmp_path / "state" / "join.sqlite"
    with make_store(path) as store:
        store.add_prediction(
            prediction("r1", "yes", 3 * SECOND, classes=("no", "yes"), probabilities=(0.1, 0.9))
        )
        store.add_label(label("r2", "no"))
        store.add_prediction(prediction("r1", "dup"))
    with make_store(path) as store:
        assert store.counts()["pending_predictions"] == 1 and store.counts()["duplicate_predictions"] == 1
        store.add_label(label("r1", "no"))
        store.add_prediction(prediction("r2", "no"))
        store.add_prediction(prediction("r3", "no"))
    with make_store(path) as store:
        rows = store.pop_joined()
        assert [(r.prediction.prediction_id, r.prediction.value, r.label.value) for r in rows] == [
            ("r1", "yes", "no"),
            ("r2", "no", "no"),
        ]
        assert (
            rows[0].prediction.probabilities == (0.1, 0.9) and rows[0].prediction.time_unix_nano == 3 * SECOND
        )
        assert store.counts()["joined"] == 2 and store.counts()["pending_predictions"] == 1
    with make_store(path) as store:
        assert store.pop_joined() == []  # popped rows are gone for good


def test_bad_arguments_raise() -> None:
    """A non-positive TTL or size bound is rejected at construction, naming the parameter."""
    with pytest.raises(ValueError, match="ttl_seconds"):
        JoinStore(ttl_seconds=0)
    with pytest.raises(ValueError, match="max_pending"):
        JoinStore(max_pending=0)


def test_closed_store_refuses_work() -> None:
    """Using a closed store raises instead of silently dropping records; close is idempotent."""
    store = make_store()
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.add_prediction(prediction("r"))


def test_concurrent_writers_join_everything(tmp_path: Path) -> None:
    """Predictions and labels added from several threads at once all join exactly once."""
    store = make_store(tmp_path / "join.sqlite")
    n = 400

    def add_predictions(offset: int) -> None:
        for i in range(offset, n, 2):
            store.add_prediction(prediction(f"r{i}"))

    def add_labels(offset: int) -> None:
        for i in range(offset, n, 2):
            store.add_label(label(f"r{i}"))

    threads = [threading.Thread(target=f, args=(o,)) for f in (add_predictions, add_labels) for o in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.pop_joined()
    assert sorted(r.prediction.prediction_id for r in rows) == sorted(f"r{i}" for i in range(n))
    counts = store.counts()
    assert counts["joined"] == n and counts["pending_predictions"] == counts["pending_labels"] == 0
    store.close()


_OPS = st.lists(
    st.tuples(st.sampled_from(["prediction", "label", "tick"]), st.integers(0, 15)), min_size=1, max_size=80
)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS, max_pending=st.integers(2, 40))
def test_random_interleavings_conserve_every_record(ops: list[tuple[str, int]], max_pending: int) -> None:
    """Under any interleaving, every offered record is accounted for exactly once and no id joins twice."""
    store = JoinStore(":memory:", ttl_seconds=10, max_pending=max_pending, clock_ns=lambda: 0)
    now = 0
    offered = {"prediction": 0, "label": 0}
    joined_ids: list[str] = []
    joined_at: dict[str, int] = {}
    for kind, n in ops:
        if kind == "tick":
            now += n * SECOND
            store.expire(now)
        elif kind == "prediction":
            offered[kind] += 1
            store.add_prediction(prediction(f"r{n}", f"p{offered[kind]}"), now_unix_nano=now)
        else:
            offered[kind] += 1
            store.add_label(label(f"r{n}", f"l{offered[kind]}"), now_unix_nano=now)
        for row in store.pop_joined():
            pid = row.prediction.prediction_id
            # an id joins again only after its tombstone (one TTL after the join) has expired
            assert pid not in joined_at or now - joined_at[pid] >= 10 * SECOND
            joined_at[pid] = now
            joined_ids.append(pid)
    c = store.counts()
    assert c["predictions"] + c["duplicate_predictions"] == offered["prediction"]
    assert c["labels"] + c["duplicate_labels"] + c["late_labels"] == offered["label"]
    assert (
        c["predictions"]
        == c["joined"] + c["pending_predictions"] + c["labels_missing"] + c["evicted_predictions"]
    )
    assert c["labels"] == c["joined"] + c["pending_labels"] + c["unknown_ids"] + c["evicted_labels"]
    assert c["pending_predictions"] + c["pending_labels"] <= max_pending
    assert len(joined_ids) == c["joined"]


def test_failed_batch_rolls_back_and_the_store_stays_consistent() -> None:
    """A batch that fails half-way (an unserialisable value) changes nothing, and the store keeps working."""
    store = make_store()
    store.add_prediction(prediction("r0"))
    with pytest.raises(TypeError):
        store.add_predictions([prediction("r1"), prediction("r2", object())])  # type: ignore[arg-type]
    counts = store.counts()
    assert (counts["predictions"], counts["pending_predictions"]) == (1, 1)
    store.add_labels([label("r0"), label("r1")])
    assert [r.prediction.prediction_id for r in store.pop_joined()] == ["r0"]
    assert store.counts()["pending_labels"] == 1
