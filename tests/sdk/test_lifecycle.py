"""Process lifecycle: a monitored program always exits cleanly, in bounded time, with its telemetry delivered.

Each test runs tests/sdk/_exit_child.py as a real subprocess: tight predict loops that end without any flush or
shutdown, forked children that ``sys.exit``, a multiprocessing pool. The child exports its records and metrics to
files at export time; every call is either in the summaries and the records or counted as a fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import otel_mlmon
from otel_mlmon._lifecycle import folder

CHILD = Path(__file__).with_name("_exit_child.py")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _run(tmp_path: Path, kind: str, seconds: float, mode: str, exit_timeout: float = 5.0):
    out = tmp_path / f"{kind}-{mode}"
    env = {**os.environ, "OTEL_MLMON_EXIT_TIMEOUT_SECONDS": str(exit_timeout)}
    root = str(Path(otel_mlmon.__file__).parents[1])  # the otel_mlmon under test, not another install
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(out), kind, str(seconds), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc, time.monotonic() - start, out


def _process_results(out: Path) -> dict[int, dict]:
    """Per process id: calls made, prediction ids exported, and the last metrics export."""
    results: dict[int, dict] = {}
    for path in out.parent.glob(out.name + ".*.calls"):
        pid = int(path.name.split(".")[-2])
        logs = path.with_name(f"{out.name}.{pid}.logs")
        metrics = path.with_name(f"{out.name}.{pid}.metrics")
        results[pid] = {
            "calls": int(path.read_text()),
            "ids": logs.read_text().split() if logs.exists() else [],
            "metrics": json.loads(metrics.read_text().splitlines()[-1]) if metrics.exists() else None,
        }
    return results


def _assert_accounted(result: dict, folded: bool = True) -> None:
    """Every call is in the summaries and in the records, or counted as a fault; nothing is lost silently."""
    calls, metrics = result["calls"], result["metrics"]
    assert calls > 0
    assert metrics is not None, "no metrics were exported at exit"
    faults = metrics["faults"]
    assert not {"summaries", "records", "features", "outputs"} & faults.keys(), faults
    summarised = metrics["rows"] + faults.get("summaries_overflow", 0) + faults.get("summaries_exit", 0)
    assert summarised == calls
    assert metrics["rows"] > 0 or not folded
    ids = result["ids"]
    assert len(set(ids)) == len(ids)
    assert len(ids) + faults.get("records_overflow", 0) + faults.get("records_exit", 0) == calls
    assert len(ids) > 0 or not folded


@pytest.mark.parametrize("kind", ["scalar", "numpy", "pandas", "list"])
def test_tight_loop_exits_cleanly_and_delivers_without_shutdown(tmp_path, kind):
    """A program that ends right after a tight predict loop, with no flush or shutdown, exits 0 (never SIGABRT
    from the folder thread) and its summaries and prediction records reach its exporters."""
    if kind == "pandas":
        pytest.importorskip("pandas")
    for run in range(2):
        proc, _, out = _run(tmp_path / str(run), kind, 0.3, "plain")
        assert proc.returncode == 0, proc.stderr[-2000:]
        (result,) = _process_results(out).values()
        _assert_accounted(result)


@pytest.mark.parametrize("mode", ["plain", "early"])
def test_providers_made_before_or_after_import_both_get_the_last_records(tmp_path, mode):
    """Whether the providers were set up before otel_mlmon was imported (opentelemetry-instrument) or after it
    (configure(), user code), the records and summaries buffered at exit reach them before they shut down."""
    proc, _, out = _run(tmp_path, "numpy", 0.5, mode)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = _process_results(out).values()
    _assert_accounted(result)
    assert result["metrics"]["rows"] == result["calls"]  # a short numpy loop: the folder keeps up
    assert len(result["ids"]) == result["calls"]


@needs_fork
def test_forked_children_that_sys_exit_exit_cleanly_with_their_telemetry(tmp_path):
    """Children forked while the parent's folder is busy, and that end with sys.exit, all exit 0 and export
    their own summaries and records; the parent too."""
    proc, _, out = _run(tmp_path, "scalar", 0.5, "fork")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.with_name(out.name + ".statuses").read_text()) == [0, 0, 0, 0]
    results = _process_results(out)
    assert len(results) == 5
    for result in results.values():
        _assert_accounted(result)
    assert "RecursionError" not in proc.stderr


@needs_fork
def test_multiprocessing_pool_parent_and_workers_work_and_exit_cleanly(tmp_path):
    """With a fork-context multiprocessing pool running monitored calls while the parent runs them too, the
    parent exits 0 with everything delivered, and every worker's folds work (no fault) and deliver on flush."""
    proc, _, out = _run(tmp_path, "numpy", 1.0, "pool")
    assert proc.returncode == 0, proc.stderr[-2000:]
    tasks = json.loads(out.with_name(out.name + ".pool").read_text())
    assert len(tasks) == 4
    for task in tasks:
        assert task["calls"] > 0
        assert not {"summaries", "records", "features", "outputs"} & task["faults"].keys(), task["faults"]
    results = _process_results(out)
    parent = results.pop(int(out.with_name(out.name + ".parent").read_text()))
    _assert_accounted(parent)
    for worker in results.values():  # workers flushed after their last task; totals include earlier tasks
        assert worker["metrics"]["rows"] == worker["calls"]
        assert len(worker["ids"]) == worker["calls"]


def test_exit_is_bounded_and_what_is_left_is_counted(tmp_path):
    """When folding the buffered calls would take far longer than the exit budget, the process still exits 0
    soon after the budget, and every call left out is counted (summaries_exit), none silently lost."""
    # Folding takes 20 ms per call (fault injection): the calls left at exit would take many seconds to fold.
    proc, elapsed, out = _run(tmp_path, "numpy", 1.0, "slow", exit_timeout=0.5)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = _process_results(out).values()
    _assert_accounted(result, folded=False)
    left_out = result["metrics"]["faults"].get("summaries_exit", 0)
    assert left_out * 0.02 > 10  # folding them would have taken more than 10 s ...
    assert elapsed < 1.0 + 0.5 + 8  # ... yet the process ended soon after the 0.5 s budget (8 s for start-up)


@needs_fork
def test_fork_waits_for_a_fold_in_flight():
    """A fork made while the folder thread is inside a fold happens only after that fold finished, so the child
    never inherits half-done work (such as a lazy import inside numpy)."""

    class SlowStream:
        done = False

        def fold(self, max_entries=None):
            with folder.gate:
                time.sleep(0.3)
                SlowStream.done = True
            return 0

    folder.request(SlowStream())
    time.sleep(0.05)  # the folder thread is now inside the fold
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_fd, b"1" if SlowStream.done else b"0")
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    assert os.read(read_fd, 1) == b"1"
    os.close(read_fd)


def test_fold_steps_grow_while_fast_and_shrink_when_slow():
    """A stream's fold step starts at CHUNK calls, doubles up to MAX_CHUNK while full steps are fast, and
    shrinks in proportion once a step takes longer than STEP_SECONDS (what a stop or a fork may wait for)."""
    from otel_mlmon._lifecycle import Folder

    class Stream:
        def __init__(self) -> None:
            self.left, self.seconds_per_call, self.asked = 10**6, 0.0, []

        def fold(self, max_entries=None):
            self.asked.append(max_entries)
            time.sleep(self.seconds_per_call * max_entries)
            self.left -= max_entries
            return self.left

    stepper, stream = Folder(), Stream()
    stepper.STEP_SECONDS = 10.0  # fast steps stay fast on a loaded machine
    for _ in range(5):
        stepper._step(stream)
    chunk = Folder.CHUNK
    assert stream.asked == [chunk, 2 * chunk, 4 * chunk, Folder.MAX_CHUNK, Folder.MAX_CHUNK]
    stepper.STEP_SECONDS = 0.05
    stream.seconds_per_call = 4 * stepper.STEP_SECONDS / Folder.MAX_CHUNK  # a full step now takes 4x too long
    stepper._step(stream)
    stepper._step(stream)
    assert stream.asked[-1] <= Folder.MAX_CHUNK // 3
    stream.left = 0  # a last, partial step says nothing about a full one: no growth
    stepper._step(stream)
    assert stepper._chunks[stream] <= stream.asked[-1]


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 5.0), ("0", 0.0), ("2.5", 2.5), ("-1", 5.0), ("soon", 5.0)]
)
def test_exit_budget_from_the_environment_and_a_bad_value_warns(monkeypatch, caplog, raw, expected):
    from otel_mlmon._lifecycle import EXIT_TIMEOUT_ENV, exit_timeout_seconds

    monkeypatch.setenv(EXIT_TIMEOUT_ENV, raw)
    with caplog.at_level("WARNING", logger="otel_mlmon"):
        assert exit_timeout_seconds() == expected
    assert (EXIT_TIMEOUT_ENV in caplog.text) == (raw in ("-1", "soon"))
