"""Reference profiles for the drift engine: a directory of profile files, re-read when a file changes.

A reference is what a stream's evaluation window is compared with: usually a
:class:`~otel_mlmon.profile.Profile` built from the training data with ``Profile.from_data`` and saved with
``Profile.save`` (or ``otel-mlmon profile build``). Lookup per (model, version): the newest profile (by
``created_at``) of exactly that version; else the newest version-less profile of the model; else, unless
fallback is off, the model's newest profile of any version. A pin (``pins={"fraud": "3"}``) makes every version
of a model use the newest profile of the pinned version, and nothing else.

:class:`ReferenceProvider` is the seam: another provider (e.g. a trailing production window, "last week") can
stand in for or behind the directory store.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from otel_mlmon.estimation import EstimationModel
from otel_mlmon.profile import Profile
from otel_mlmon.summary import Summary

from ._windows import WindowConfig, WindowStore

__all__ = [
    "ChainedReferences",
    "DirectoryReferenceStore",
    "Reference",
    "ReferenceProvider",
    "TrailingReferenceConfig",
    "TrailingWindowReference",
]

_log = logging.getLogger(__name__)
_SUFFIXES = (".json", ".json.gz")


@dataclass(frozen=True)
class Reference:
    """A reference a stream is compared with.

    Attributes:
        model: ``ml.model.name`` it describes.
        version: ``ml.model.version`` it was built for (None: any version).
        summary: The per-column sketches.
        created_at: When it was built (drives ``ml.model.age``).
        source: Where it came from (a file path, or a description such as ``trailing:7d``).
        performance: The model's performance on the reference data (``Profile.performance``), for the
            ground-truth alerts.
        performance_spread: Its spread over reference chunks (``Profile.performance_spread``): the alerts' band.
        estimation: The profile's calibration and expected-error model, for performance estimates (None: none).
    """

    model: str
    version: str | None
    summary: Summary
    created_at: dt.datetime
    source: str
    performance: Mapping[str, float] = field(default_factory=dict)
    performance_spread: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    estimation: EstimationModel | None = None

    @classmethod
    def from_profile(cls, profile: Profile, source: str) -> Reference:
        """Wrap a loaded profile."""
        created = profile.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        return cls(
            profile.model,
            profile.version,
            profile.summary,
            created,
            source,
            dict(profile.performance),
            dict(getattr(profile, "performance_spread", {}) or {}),
            profile.estimation if profile.estimation.outputs else None,
        )

    def age_seconds(self, now: float) -> float:
        """Seconds between ``created_at`` and ``now`` (seconds since the epoch)."""
        return now - self.created_at.timestamp()


@runtime_checkable
class ReferenceProvider(Protocol):
    """Where the drift engine gets references: ``refresh`` (cheap when nothing changed) and ``lookup``."""

    def refresh(self) -> bool:
        """Pick up changes; return whether anything changed."""
        ...

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """The reference for a stream of ``model`` / ``version``, or None when there is none."""
        ...


class DirectoryReferenceStore:
    """Profile files (``*.json``, ``*.json.gz``) in one directory, polled for changes.

    A new, replaced or removed file is noticed by :meth:`refresh` (by modification time and size) without a
    restart; dot-files (such as ``Profile.save``'s temporary files) are ignored. A file that cannot be read or is
    not a valid profile is logged once per version of the file (one clear line naming the file and the reason)
    and skipped; the other files stay in use.

    Args:
        directory: The directory holding the profiles (it may not exist yet).
        pins: Model name -> version whose profile every version of that model is compared with.
        fallback: When a version has no profile of its own (nor a version-less one), use the model's newest.
        poll_interval_seconds: :meth:`refresh` re-reads the directory at most this often (0: every call).
        clock: Monotonic seconds, for the poll interval.

    Example:
        >>> import tempfile, numpy as np
        >>> from otel_mlmon import Profile
        >>> directory = tempfile.mkdtemp()
        >>> _ = Profile.from_data(np.ones((10, 1)), model="m", version="1").save(f"{directory}/m-1.json")
        >>> store = DirectoryReferenceStore(directory)
        >>> store.refresh()
        True
        >>> store.lookup("m", "2").version  # falls back to the model's newest
        '1'
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        pins: Mapping[str, str] | None = None,
        fallback: bool = True,
        poll_interval_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval_seconds < 0:
            raise ValueError(f"poll_interval_seconds must be >= 0, got {poll_interval_seconds!r}")
        self.directory = Path(directory)
        self.pins = {str(k): str(v) for k, v in (pins or {}).items()}
        self.fallback = fallback
        self.poll_interval_seconds = poll_interval_seconds
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int], Reference | None]] = {}
        self._errors: dict[str, str] = {}
        self._last_poll: float | None = None
        self._directory_error: str | None = None
        self._index: dict[tuple[str, str | None], Reference] = {}
        self._newest: dict[str, Reference] = {}

    @property
    def errors(self) -> dict[str, str]:
        """Files currently skipped, with the reason."""
        with self._lock:
            return dict(self._errors)

    def references(self) -> list[Reference]:
        """Every loaded reference."""
        with self._lock:
            return [ref for _, ref in self._files.values() if ref is not None]

    def refresh(self, force: bool = False) -> bool:
        """Re-read the directory if the poll interval passed (or ``force``); return whether anything changed."""
        now = self.clock()
        with self._lock:
            if (
                not force
                and self._last_poll is not None
                and now - self._last_poll < self.poll_interval_seconds
            ):
                return False
            self._last_poll = now
        seen = self._scan()
        changed = False
        with self._lock:
            known = dict(self._files)
        loaded: dict[str, tuple[tuple[int, int], Reference | None]] = {}
        for path, stamp in seen.items():
            entry = known.get(path)
            if entry is not None and entry[0] == stamp:
                loaded[path] = entry
                continue
            loaded[path] = (stamp, self._load(path))
            changed = True
        if set(known) - set(seen):
            changed = True
        if changed:
            with self._lock:
                self._files = loaded
                self._errors = {p: e for p, e in self._errors.items() if p in loaded and loaded[p][1] is None}
                self._rebuild_index()
        return changed

    def _scan(self) -> dict[str, tuple[int, int]]:
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            message = f"{type(exc).__name__}: {exc.strerror or exc}"
            if message != self._directory_error:
                _log.warning(
                    "reference directory %s cannot be read (%s): no references", self.directory, message
                )
                self._directory_error = message
            return {}
        self._directory_error = None
        seen = {}
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(_SUFFIXES):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue
            seen[entry.path] = (stat.st_mtime_ns, stat.st_size)
        return seen

    def _load(self, path: str) -> Reference | None:
        try:
            profile = Profile.load(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped with one line, never a crash
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._errors[path] = reason
            _log.warning(
                "reference profile skipped: %s", reason if reason.startswith(path) else f"{path}: {reason}"
            )
            return None
        with self._lock:
            self._errors.pop(path, None)
        _log.info(
            "reference profile loaded: %s (model %s, version %s, created %s)",
            path,
            profile.model,
            profile.version,
            profile.created_at.isoformat(),
        )
        return Reference.from_profile(profile, path)

    def _rebuild_index(self) -> None:
        index: dict[tuple[str, str | None], Reference] = {}
        newest: dict[str, Reference] = {}
        for _, ref in sorted(self._files.values(), key=lambda item: item[1].source if item[1] else ""):
            if ref is None:
                continue
            key = (ref.model, ref.version)
            if key not in index or ref.created_at > index[key].created_at:
                index[key] = ref
            if ref.model not in newest or ref.created_at > newest[ref.model].created_at:
                newest[ref.model] = ref
        self._index = index
        self._newest = newest

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """The reference for ``model`` / ``version`` (see the module docstring for the order), or None."""
        with self._lock:
            pinned = self.pins.get(model)
            if pinned is not None:
                return self._index.get((model, pinned))
            if version is not None and (model, version) in self._index:
                return self._index[(model, version)]
            if (model, None) in self._index:
                return self._index[(model, None)]
            return self._newest.get(model) if self.fallback else None


class ChainedReferences:
    """Ask several providers in order; the first that has a reference wins (e.g. files, then a trailing window).

    Example:
        >>> ChainedReferences([]).lookup("m", None) is None
        True
    """

    def __init__(self, providers: list[ReferenceProvider]) -> None:
        self.providers = list(providers)

    def refresh(self) -> bool:
        """Refresh every provider; return whether any changed."""
        changed = False
        for provider in self.providers:
            changed = provider.refresh() or changed
        return changed

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """The first provider's reference for ``model`` / ``version``."""
        for provider in self.providers:
            found = provider.lookup(model, version)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class TrailingReferenceConfig:
    """Earlier production traffic as the reference: ``span_windows`` windows ending ``lag_windows`` ago.

    Attributes:
        window_seconds: Length of the (coarse) windows kept for the reference, e.g. one hour.
        span_windows: How many windows the reference covers (168 hourly windows: one week).
        lag_windows: How many of the most recent windows are left out (so the reference never overlaps the
            evaluation view of the current traffic when ``lag_windows * window_seconds`` is at least its length).
        min_rows: A stream whose trailing span holds fewer rows has no trailing reference yet.
    """

    window_seconds: float = 3600.0
    span_windows: int = 168
    lag_windows: int = 1
    min_rows: int = 1000

    def __post_init__(self) -> None:
        if not self.window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {self.window_seconds!r}")
        for name, low in (("span_windows", 1), ("lag_windows", 0), ("min_rows", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

    def window_config(self, base: WindowConfig) -> WindowConfig:
        """The configuration of the window store that keeps the trailing span (bounds taken from ``base``)."""
        kept = self.span_windows + self.lag_windows
        return WindowConfig(
            window_seconds=self.window_seconds,
            evaluation_windows=kept,
            stream_ttl_seconds=max(base.stream_ttl_seconds, kept * self.window_seconds),
            max_streams=base.max_streams,
            max_columns=base.max_columns,
            max_size=base.max_size,
            max_categories=base.max_categories,
            max_series=base.max_series,
            max_series_per_stream=base.max_series_per_stream,
            max_cells=base.max_cells,
            max_point_categories=base.max_point_categories,
            max_categories_total=base.max_categories_total,
        )


class TrailingWindowReference:
    """A reference built from the stream's own earlier traffic ("last week"), from a second window store.

    The store must be fed the same requests as the engine's windows and keep at least ``span + lag`` windows
    (:meth:`TrailingReferenceConfig.window_config`). All operations of a (model, version) are merged. The
    reference's ``created_at`` is the end of the span, so ``ml.model.age`` says how old the reference data is.

    Example:
        >>> store = WindowStore(TrailingReferenceConfig().window_config(WindowConfig()))
        >>> TrailingWindowReference(store, TrailingReferenceConfig()).lookup("fraud", "1") is None
        True
    """

    def __init__(self, store: WindowStore, config: TrailingReferenceConfig) -> None:
        kept = config.span_windows + config.lag_windows
        if store.config.evaluation_windows < kept:
            raise ValueError(
                f"the store keeps {store.config.evaluation_windows} windows, the trailing reference needs {kept}"
            )
        self.store = store
        self.config = config

    def refresh(self) -> bool:
        """Nothing to poll: the windows are always current."""
        return False

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """The merged span of every stream of ``model`` / ``version``, or None below ``min_rows`` rows."""
        span, lag = self.config.span_windows, self.config.lag_windows
        merged: Summary | None = None
        for key in self.store.streams():
            if key.model != model or key.version != version:
                continue
            view = self.store.view(key, windows=span, offset=lag)
            if view is None:
                continue
            if merged is None:
                merged = view
            else:
                merged.merge(view)
        if merged is None:
            return None
        counts = [c.count for section in (merged.features, merged.outputs) for c in section.values()]
        if max([merged.rows, *counts]) < self.config.min_rows:
            return None
        _, end = self.store.window_bounds(windows=span, offset=lag)
        created = dt.datetime.fromtimestamp(end, dt.timezone.utc)
        source = (
            f"trailing:{int(span * self.config.window_seconds)}s+lag{int(lag * self.config.window_seconds)}s"
        )
        return Reference(model, version, merged, created, source)
