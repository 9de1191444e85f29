"""Column work on several threads (otel_mlmon/_parallel.py): the same results as one thread, really shared, safe at
fork and at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from otel_mlmon import _parallel
from otel_mlmon._parallel import MIN_VALUES, map_columns
from otel_mlmon.profile import Profile


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(_parallel, "_threads", 2)


def _mixed_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {f"n{j}": rng.lognormal(size=rows) * (j + 1) for j in range(6)}
    data["n0"][rng.random(rows) < 0.01] = np.nan
    for c, levels in enumerate((3, 40, 250)):
        names = np.array([f"c{c}_{k}" for k in range(levels)], dtype=object)
        column = names[rng.integers(0, levels, rows)]
        column[rng.random(rows) < 0.02] = None
        data[f"c{c}"] = column
    return pd.DataFrame(data)


def test_items_are_shared_between_threads(two_threads):
    # Each item waits for another item to run at the same time: only two threads get past the barrier.
    barrier = threading.Barrier(2, timeout=10)
    seen = []

    def work(item: int) -> int:
        seen.append(threading.current_thread().name)
        barrier.wait()
        return item * 2

    assert map_columns(work, [1, 2, 3, 4], MIN_VALUES) == [2, 4, 6, 8]
    assert len(set(seen)) == 2


def test_small_work_stays_on_the_calling_thread(two_threads):
    names = map_columns(lambda _: threading.current_thread().name, list(range(8)), MIN_VALUES - 1)
    assert set(names) == {threading.current_thread().name}


def test_one_thread_turns_sharing_off(monkeypatch):
    monkeypatch.setattr(_parallel, "_threads", 1)
    names = map_columns(lambda _: threading.current_thread().name, list(range(8)), 10 * MIN_VALUES)
    assert set(names) == {threading.current_thread().name}


def test_every_item_is_tried_and_the_first_error_in_item_order_is_raised(two_threads):
    done = []

    def work(item: int) -> int:
        if item in (1, 3):
            raise ValueError(f"item {item}")
        done.append(item)
        return item

    with pytest.raises(ValueError, match="item 1"):
        map_columns(work, [0, 1, 2, 3, 4], MIN_VALUES)
    assert sorted(done) == [0, 2, 4]


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("3", 3), (" 2 ", 2)])
def test_threads_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(_parallel.THREADS_ENV, raw)
    assert _parallel._configured_threads() == expected


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_count_warns_and_uses_the_default(monkeypatch, caplog, raw):
    monkeypatch.delenv(_parallel.THREADS_ENV, raising=False)
    default = _parallel._configured_threads()
    monkeypatch.setenv(_parallel.THREADS_ENV, raw)
    with caplog.at_level("WARNING", logger="otel_mlmon"):
        assert _parallel._configured_threads() == default
    assert _parallel.THREADS_ENV in caplog.text
    assert 1 <= default <= 4


def test_a_profile_built_on_two_threads_equals_the_one_built_on_one(monkeypatch):
    frame = _mixed_frame(30_000)
    assert frame.shape[0] * frame.shape[1] >= MIN_VALUES
    built = {}
    for threads in (1, 2):
        monkeypatch.setattr(_parallel, "_threads", threads)
        profile = Profile.from_data(frame, model="m", categorical=["c0", "c1", "c2"])
        built[threads] = profile.summary.to_dict()
    assert built[1] == built[2]
    assert built[2]["features"]["n0"]["missing"] > 0
    assert set(built[2]["features"]) == set(frame.columns)


def test_a_forked_child_shares_work_with_a_pool_of_its_own(two_threads):
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    map_columns(lambda x: x, [1, 2], MIN_VALUES)  # the parent's pool exists and has a thread
    pid = os.fork()
    if pid == 0:  # the child: its items must still be shared (the parent's thread is not here)
        code = 1
        try:
            barrier = threading.Barrier(2, timeout=10)
            code = 0 if map_columns(lambda x: barrier.wait() * 0 + x, [1, 2], MIN_VALUES) == [1, 2] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


_EXIT_PROGRAM = """
import sys, numpy as np, pandas as pd
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
import otel_mlmon
reader = InMemoryMetricReader()
provider = MeterProvider(metric_readers=[reader])
rng = np.random.default_rng(0)
frame = pd.DataFrame({f"n{j}": rng.normal(size=20_000) for j in range(10)})
frame["c"] = np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, 20_000)]
frame["d"] = np.array(["x", "y"], dtype=object)[rng.integers(0, 2, 20_000)]
predict = otel_mlmon.monitor(model="m", trace=False, max_rows=None, meter_provider=provider)(
    lambda batch: np.zeros(len(batch)))
for _ in range(int(sys.argv[1])):
    predict(frame)
print("done", flush=True)
"""


def test_a_process_exits_cleanly_while_large_folds_share_threads():
    # Exit without shutdown while the folder (and its column threads) may be inside numpy: status 0, no traceback.
    env = {**os.environ, _parallel.THREADS_ENV: "2"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _EXIT_PROGRAM, "12"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60
