"""Reference profiles: the same sketches the SDK exports, built from training data and saved as small files.

The collector compares live summaries with a profile to compute drift. A profile is a versioned JSON document
(optionally gzip-compressed, by a ``.gz`` suffix) holding the model's name and version, when it was built, and one
sketch per feature and output, built through the same adapters and the same column-kind rule as in production
(:mod:`otel_mlmon._kinds`: a string column is categorical, text or identifier; a wide unnamed input is one vector
column), so a column has the same name, kind and sketch in both.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import secrets
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from otel_mlmon import conventions as conv
from otel_mlmon.adapters import read_features, read_outputs
from otel_mlmon.decisions import apply_decision
from otel_mlmon.estimation import EstimationModel, fit_estimation
from otel_mlmon.summary import Summary, SummaryConfig

__all__ = ["FORMAT", "FORMAT_VERSION", "Profile"]

FORMAT = "otel-mlmon.profile"
#: 2: vocabulary moments are packed (``moments``, see :func:`otel_mlmon.sketch.vocabulary.pack_products`) instead
#: of a dense ``products`` list; version-1 files still load.
FORMAT_VERSION = 2


class Profile:
    """A reference profile of one model version.

    Args:
        model: ``ml.model.name`` the profile describes.
        version: ``ml.model.version``, or None for a profile valid for any version.
        summary: The per-column sketches.
        created_at: When the profile was built (UTC); drives ``ml.model.age`` in the collector.
        metadata: Free-form JSON-serialisable details (data source, training run id...).
        performance: Reference performance of the model on this data (e.g. ``{"accuracy": 0.93}``), for
            concept-drift comparisons.
        performance_spread: Per metric, its ``mean``, ``std``, number of ``chunks`` and ``chunk_rows`` over
            consecutive chunks of the reference data: the collector's thresholds (``mean ± k σ`` scaled to a
            window's rows). Built by ``from_data(..., labels=...)``.
        estimation: What the collector needs to estimate performance before labels (score calibration,
            expected-error model), fitted from reference labels (see :mod:`otel_mlmon.estimation`).

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(1000, 2))
        >>> profile = Profile.from_data(X, model="fraud", version="3", feature_names=["amount", "age"])
        >>> profile.summary.features["amount"].count
        1000
        >>> Profile.from_dict(profile.to_dict()).summary.rows
        1000
    """

    def __init__(
        self,
        model: str,
        version: str | None,
        summary: Summary,
        created_at: dt.datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        performance: Mapping[str, float] | None = None,
        performance_spread: Mapping[str, Mapping[str, float]] | None = None,
        estimation: EstimationModel | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"Profile model must be a non-empty string, got {model!r}")
        self.model = model
        self.version = version
        self.summary = summary
        self.created_at = created_at or dt.datetime.now(dt.timezone.utc)
        self.metadata = dict(metadata or {})
        self.performance = {str(k): float(v) for k, v in (performance or {}).items()}
        self.performance_spread = {
            str(metric): {str(k): float(v) for k, v in entry.items()}
            for metric, entry in (performance_spread or {}).items()
        }
        self.estimation = estimation or EstimationModel()

    @classmethod
    def from_data(
        cls,
        features: Any,
        predictions: Any = None,
        *,
        model: str,
        version: str | None = None,
        feature_names: Sequence[str] | None = None,
        categorical: Collection[str] = (),
        text: Collection[str] = (),
        ids: Collection[str] = (),
        classes: Sequence[Any] | None = None,
        config: SummaryConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        performance: Mapping[str, float] | None = None,
        labels: Any = None,
        decision: Any = None,
        chunk_rows: int | None = None,
    ) -> Profile:
        """Build a profile from reference data (any input the SDK reads: arrays, DataFrames, Arrow, records).

        Args:
            features: The model's inputs, e.g. the training set ``X``.
            predictions: Optionally the model's outputs on ``features`` (labels, values or probabilities).
            model, version: The model identity, as given to ``@monitor``.
            feature_names, categorical, text, ids, classes: As for ``@monitor``: give the same declarations as
                there, so every column has the same kind on both sides.
            config: Sketch sizes; use the same as the SDK (the default) so scales and top-K agree.
            performance: Reference performance given by you (wins over the computed one, metric by metric).
            labels: The true label or value of each row: with ``predictions``, the profile stores the model's
                performance on this data and its spread over ``chunk_rows`` chunks (default: ten chunks of at
                least 100 rows), which the collector's ground-truth alerts compare each window with, and fits
                :attr:`estimation`, what the collector needs to estimate performance before labels arrive
                (docs/ground-truth.md, "Estimated performance"). Keep the rows in time order: the spread is over
                consecutive chunks.
            decision: The deployed decision of a probability output (``otel_mlmon.Threshold(0.8)``), as given to
                ``@monitor``: the performance is the deployed predictor's.

        Raises:
            otel_mlmon.adapters.UnsupportedInput: when the data cannot be read.
            ValueError: ``labels`` without ``predictions``, or of another length.
        """
        config = (config or SummaryConfig()).with_kinds(categorical=categorical, text=text, ids=ids)
        config.vocabulary_moments = (
            True  # a reference's vocabulary carries what calibrates the collector's test
        )
        spread = None
        if labels is not None and predictions is None:
            raise ValueError("Profile.from_data(labels=...) needs the model's predictions on the same rows")
        if labels is not None and not isinstance(labels, Mapping):  # several outputs: estimation only
            from otel_mlmon._reference_performance import reference_performance

            computed, spread = reference_performance(
                predictions, labels, classes=classes, decision=decision, chunk_rows=chunk_rows
            )
            performance = {**computed, **(performance or {})}
        profile = cls(
            model,
            version,
            Summary(config),
            metadata=metadata,
            performance=performance,
            performance_spread=spread,
        )
        profile.update(
            features,
            predictions,
            feature_names=feature_names,
            categorical=categorical,
            classes=classes,
            decision=decision,
        )
        profile.summary.settle()
        if labels is not None:
            profile.estimation = fit_estimation(
                read_features(features, names=feature_names, categorical=categorical),
                read_outputs(predictions, classes=classes),
                labels,
                _probability_matrix(predictions, classes),
                max_rest_classes=profile.summary.config.max_categories,
            )
        return profile

    def update(
        self,
        features: Any,
        predictions: Any = None,
        *,
        feature_names: Sequence[str] | None = None,
        categorical: Collection[str] = (),
        text: Collection[str] = (),
        ids: Collection[str] = (),
        classes: Sequence[Any] | None = None,
        decision: Any = None,
    ) -> None:
        """Add more reference data (e.g. the next chunk of a file too large for memory).

        A string column's kind is decided on its first 32 values, like in the SDK; columns with fewer values
        are decided when the profile is saved or serialised.
        """
        self.summary.config.kinds.declare(categorical=categorical, text=text, ids=ids)
        table = read_features(features, names=feature_names, categorical=categorical)
        outputs = read_outputs(predictions, classes=classes) if predictions is not None else None
        if outputs is not None and decision is not None:  # sketch the deployed decision, as the SDK does
            outputs = apply_decision(outputs, predictions, classes, decision)
        if outputs is not None and outputs.table.n_rows != table.n_rows:
            raise ValueError(
                f"predictions have {outputs.table.n_rows} rows but features have {table.n_rows}: one per row expected"
            )
        self.summary.add_features(table)
        if outputs is not None:
            self.summary.add_outputs(outputs)

    def merge(self, other: Profile) -> None:
        """Add another profile of the same model (e.g. built from another shard of the data) into this one.

        Raises:
            ValueError: if the two profiles describe different models or versions.
        """
        if (other.model, other.version) != (self.model, self.version):
            raise ValueError(
                f"cannot merge a profile of {other.model!r} version {other.version!r} into one of "
                f"{self.model!r} version {self.version!r}"
            )
        other.summary.settle()
        self.summary.settle()
        self.summary.merge(other.summary)
        self.created_at = max(self.created_at, other.created_at)

    # -- serialisation ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The profile as a JSON-serialisable document (string columns still undecided are decided now)."""
        self.summary.settle()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "conventions": conv.SCHEMA_VERSION,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at.astimezone(dt.timezone.utc).isoformat(),
            "metadata": self.metadata,
            "performance": self.performance,
            "performance_spread": self.performance_spread,
            "estimation": self.estimation.to_dict(),
            "summary": self.summary.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict` output.

        Raises:
            ValueError: if the document is not a profile or has a newer format version.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"not an otel-mlmon profile (expected format {FORMAT!r})")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"profile format_version {version!r} is not supported (this otel-mlmon reads up to {FORMAT_VERSION})"
            )
        created = data.get("created_at")
        return cls(
            model=data["model"],
            version=data.get("version"),
            summary=Summary.from_dict(data.get("summary") or {}),
            created_at=dt.datetime.fromisoformat(created) if created else None,
            metadata=data.get("metadata"),
            performance=data.get("performance"),
            performance_spread=data.get("performance_spread"),
            estimation=EstimationModel.from_dict(data.get("estimation")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile atomically (a reader never sees half a file); gzip when the name ends in ``.gz``.

        The file gets the mode any new file gets (``0666`` less the umask: ``0644`` under the usual ``022``), so
        a collector running as another user can read it.
        """
        path = Path(path)
        payload = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()
        if path.suffix == ".gz":
            payload = gzip.compress(
                payload, compresslevel=1, mtime=0
            )  # level 9 costs 3x the time for 9% less
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, payload)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile written by :meth:`save`.

        Raises:
            ValueError: if the file is not a valid profile (the message names the file).
        """
        path = Path(path)
        raw = path.read_bytes()
        try:
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            data = json.loads(raw)
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable profile (corrupt or truncated: {exc})") from exc
        try:
            return cls.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{path}: {detail}") from exc

    def __repr__(self) -> str:
        return (
            f"Profile(model={self.model!r}, version={self.version!r}, rows={self.summary.rows}, "
            f"features={len(self.summary.features)}, created_at={self.created_at.isoformat()!r})"
        )


def _probability_matrix(predictions: Any, classes: Sequence[Any] | None) -> Any:
    """``(matrix, class labels of its columns)`` if ``predictions`` is a 2-D numeric array (else None)."""
    import numpy as np

    from otel_mlmon.estimation import class_label

    try:
        matrix = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        return None
    names = list(classes) if classes is not None else list(range(matrix.shape[1]))
    return (matrix, [class_label(c) for c in names]) if len(names) == matrix.shape[1] else None


def _write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a new file beside ``path``, then rename it over ``path`` (atomic on POSIX and Windows).

    ``tempfile.mkstemp`` would create the file with mode 0600 whatever the umask; ``os.open`` with 0666 lets the
    kernel apply the umask, as for any file the user creates, without touching the process-wide umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # a 64-bit random name taken: draw again
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the data on a crash
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
