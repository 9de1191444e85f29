"""References from an MLflow model registry: the profile logged to the run a registered model version came from.

A stream of (model *m*, version *v*) is compared with the profile that :func:`otel_mlmon.mlflow.log_profile`
logged to the run registered model version *m*/*v* was created from. Found profiles (and misses) are cached and
re-fetched every ``poll_interval_seconds`` by :meth:`MlflowReferenceStore.refresh`, so a profile logged after the
collector started is picked up without a restart. A server that cannot be reached, an unknown version or a broken
artifact is one log line per change of reason and a miss (``ml.drift.reference.missing = 1``), never a crash.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping

from otel_mlmon.mlflow import MlflowError, load_profile

from ._references import Reference

__all__ = ["MlflowReferenceStore"]

_log = logging.getLogger(__name__)


class MlflowReferenceStore:
    """Reference provider resolving registered model versions on an MLflow tracking server.

    Args:
        tracking_uri: The tracking server, ``http://host:port``.
        model_names: ``ml.model.name`` -> registered model name, where they differ (default: the same name).
        poll_interval_seconds: How often :meth:`refresh` re-fetches a cached entry (found or missing).
        timeout_seconds: Per HTTP request to the server.
        clock: Monotonic seconds, for the poll interval.

    A stream without a version (``version`` None) has no registry entry: it is a miss. Put the store in a
    :class:`~otel_mlmon_collector._references.ChainedReferences` behind or before a directory store to combine them.

    Example:
        >>> store = MlflowReferenceStore("http://127.0.0.1:9", timeout_seconds=0.5)
        >>> store.lookup("fraud", None) is None
        True
    """

    def __init__(
        self,
        tracking_uri: str,
        model_names: Mapping[str, str] | None = None,
        poll_interval_seconds: float = 60.0,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not tracking_uri.startswith(("http://", "https://")):
            raise ValueError(f"tracking_uri must be an http:// or https:// URL, got {tracking_uri!r}")
        if poll_interval_seconds < 0:
            raise ValueError(f"poll_interval_seconds must be >= 0, got {poll_interval_seconds!r}")
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        self.tracking_uri = tracking_uri.rstrip("/")
        self.model_names = {str(k): str(v) for k, v in (model_names or {}).items()}
        self.poll_interval_seconds = poll_interval_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        # (model, version) -> (fetched at, reference or None for a miss)
        self._cache: dict[tuple[str, str], tuple[float, Reference | None]] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._loaded: dict[tuple[str, str], object] = {}

    @property
    def errors(self) -> dict[tuple[str, str], str]:
        """Streams currently without a reference, with the reason."""
        with self._lock:
            return dict(self._errors)

    def refresh(self) -> bool:
        """Re-fetch every cached entry older than the poll interval; return whether any reference changed."""
        now = self.clock()
        with self._lock:
            due = [key for key, (at, _) in self._cache.items() if now - at >= self.poll_interval_seconds]
        changed = False
        for key in due:
            before = self._cache.get(key, (0.0, None))[1]
            after = self._fetch(*key)
            changed = changed or _identity(before) != _identity(after)
        return changed

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """The profile of registered model version ``model`` / ``version`` (fetched once, then cached)."""
        if version is None:
            return None
        key = (model, version)
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None:
            return entry[1]
        return self._fetch(model, version)

    def _fetch(self, model: str, version: str) -> Reference | None:
        key = (model, version)
        name = self.model_names.get(model, model)
        reference: Reference | None = None
        reason: str | None = None
        try:
            profile = load_profile(
                self.tracking_uri, model=name, version=version, timeout_seconds=self.timeout_seconds
            )
        except (MlflowError, ValueError) as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken server or artifact is a miss, never a crash
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if profile.model != model:
                _log.info(
                    "MLflow profile of %s/%s describes model %r; used for stream %r",
                    name,
                    version,
                    profile.model,
                    model,
                )
            source = f"mlflow:{self.tracking_uri}#models:/{name}/{version}"
            loaded = Reference.from_profile(profile, source)
            reference = dataclasses.replace(loaded, model=model, version=version)
        with self._lock:
            self._cache[key] = (self.clock(), reference)
            previous = self._errors.get(key)
            if reason is None:
                self._errors.pop(key, None)
            else:
                self._errors[key] = reason
            announced = reference is not None and self._loaded.get(key) != reference.created_at
            if reference is not None:
                self._loaded[key] = reference.created_at
        if reason is not None and reason != previous:
            _log.warning("no MLflow reference for model %s version %s: %s", model, version, reason)
        if announced and reference is not None:
            _log.info(
                "MLflow reference loaded for model %s version %s (created %s)",
                model,
                version,
                reference.created_at.isoformat(),
            )
        return reference


def _identity(reference: Reference | None) -> object:
    return None if reference is None else (reference.created_at, reference.summary.rows)
