"""The directory reference store: newest profile per version, fallback and pins, hot reload, bad files skipped."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from otel_mlmon_collector._references import ChainedReferences, DirectoryReferenceStore

from otel_mlmon import Profile

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _profile(version: str | None, days: int, model: str = "fraud", rows: int = 10) -> Profile:
    profile = Profile.from_data(np.ones((rows, 1)), model=model, version=version, feature_names=["x"])
    profile.created_at = T0 + dt.timedelta(days=days)
    return profile


def _store(directory: Path, **kwargs: object) -> DirectoryReferenceStore:
    store = DirectoryReferenceStore(directory, poll_interval_seconds=0, **kwargs)  # type: ignore[arg-type]
    store.refresh()
    return store


def test_lookup_prefers_exact_version_then_versionless_then_newest(tmp_path: Path) -> None:
    """Exact version wins, then a version-less profile, then the model's newest; another model gets nothing."""
    _profile("1", 1).save(tmp_path / "v1-old.json")
    _profile("1", 5).save(tmp_path / "v1-new.json.gz")
    _profile("2", 9).save(tmp_path / "v2.json")
    store = _store(tmp_path)
    assert store.lookup("fraud", "1").created_at == T0 + dt.timedelta(days=5)
    assert store.lookup("fraud", "3").version == "2"  # fallback to the newest
    assert store.lookup("churn", "1") is None
    _profile(None, 0).save(tmp_path / "any.json")
    store.refresh()
    assert store.lookup("fraud", "3").version is None


def test_no_fallback_and_pins(tmp_path: Path) -> None:
    """Without fallback an unknown version has no reference; a pin maps every version to the pinned profile."""
    _profile("1", 1).save(tmp_path / "v1.json")
    _profile("2", 2).save(tmp_path / "v2.json")
    assert _store(tmp_path, fallback=False).lookup("fraud", "3") is None
    pinned = _store(tmp_path, pins={"fraud": "1"})
    assert pinned.lookup("fraud", "2").version == "1"
    assert _store(tmp_path, pins={"fraud": "7"}).lookup("fraud", "2") is None


def test_new_and_replaced_files_are_picked_up_without_restart(tmp_path: Path) -> None:
    """A file added, replaced or removed after start is noticed by the next refresh."""
    store = _store(tmp_path)
    assert store.lookup("fraud", "1") is None
    path = _profile("1", 1, rows=10).save(tmp_path / "fraud.json")
    assert store.refresh() is True
    assert store.lookup("fraud", "1").summary.rows == 10
    _profile("1", 2, rows=20).save(path)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
    assert store.refresh() is True
    assert store.lookup("fraud", "1").summary.rows == 20
    assert store.refresh() is False
    path.unlink()
    assert store.refresh() is True
    assert store.lookup("fraud", "1") is None


def test_poll_interval_limits_directory_reads(tmp_path: Path) -> None:
    """Within the poll interval refresh does not look at the directory; force does."""
    clock = [0.0]
    store = DirectoryReferenceStore(tmp_path, poll_interval_seconds=30, clock=lambda: clock[0])
    store.refresh()
    _profile("1", 1).save(tmp_path / "fraud.json")
    assert store.refresh() is False
    clock[0] = 31.0
    assert store.refresh() is True


def test_unreadable_file_is_skipped_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt profile is logged once (naming the file) and skipped; the valid ones stay usable."""
    _profile("1", 1).save(tmp_path / "good.json")
    (tmp_path / "bad.json").write_text('{"format": "otel-mlmon.profile", "format_ver')
    (tmp_path / "bad2.json.gz").write_bytes(b"\x1f\x8bnot really gzip")
    (tmp_path / ".good.json.123.tmp").write_text("partial")  # an atomic write in progress: ignored
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector._references"):
        store = _store(tmp_path)
        store.refresh(force=True)
        store.refresh(force=True)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert any("bad.json" in line for line in lines) and any("bad2.json.gz" in line for line in lines)
    assert store.lookup("fraud", "1") is not None
    assert set(map(os.path.basename, store.errors)) == {"bad.json", "bad2.json.gz"}


def test_missing_directory_is_an_empty_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A directory that does not exist yet gives no references and one warning, then works once created."""
    directory = tmp_path / "later"
    with caplog.at_level(logging.WARNING, logger="otel_mlmon_collector._references"):
        store = _store(directory)
        store.refresh(force=True)
    assert store.lookup("fraud", "1") is None
    assert len(caplog.records) == 1
    _profile("1", 1).save(directory / "fraud.json")
    store.refresh(force=True)
    assert store.lookup("fraud", "1") is not None


def test_chained_references_take_the_first_hit(tmp_path: Path) -> None:
    """A chain asks its providers in order and returns the first reference found."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _profile("1", 1, rows=10).save(tmp_path / "b" / "fraud.json")
    _profile("1", 1, model="churn", rows=30).save(tmp_path / "a" / "churn.json")
    _profile("1", 1, model="churn", rows=40).save(tmp_path / "b" / "churn.json")
    chain = ChainedReferences([_store(tmp_path / "a"), _store(tmp_path / "b")])
    assert chain.lookup("fraud", "1").summary.rows == 10
    assert chain.lookup("churn", "1").summary.rows == 30
