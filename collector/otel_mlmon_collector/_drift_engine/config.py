"""The drift engine's configuration: the ``drift:`` section of the collector's YAML, validated key by key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config_reader import ConfigError, Section
from .._references import TrailingReferenceConfig
from .._windows import WindowConfig
from ..drift import MissingRate, OutOfRange, build_method
from ..drift._multiple_testing import CORRECTIONS

__all__ = ["CHECKS", "DriftConfig"]

#: Checks a column can get: the distribution method, the missing-rate test, and the share outside the reference
#: (numeric: outside its ``[min, max]``, method ``out_of_range``; categorical: in categories it lacks, ``unseen``).
CHECKS: tuple[str, ...] = ("distribution", "missing_rate", "out_of_range")


@dataclass(frozen=True)
class DriftConfig:
    """Configuration of the drift engine (the ``drift:`` section of the collector's YAML, see the docs).

    Attributes:
        windows: Window length, evaluation length and memory bounds (:class:`WindowConfig`).
        evaluation_interval_seconds: How often the background thread evaluates (0: never; call ``evaluate_now``).
        references_directory: Directory of profile files; None for no file references.
        references_mlflow_tracking_uri: An MLflow tracking server whose registered model versions carry
            profiles (docs/mlflow.md); asked after the directory.
        reference_poll_seconds: How often the directory is checked for new or changed files.
        pins: Model name -> profile version every version of that model is compared with.
        fallback_to_newest: Without a profile for a stream's version, use the model's newest profile.
        overrides: Model name (``"*"`` for every model) -> column -> method spec (a name, or a mapping with
            ``method``, ``threshold``, ``alpha``...; see ``DriftPolicy``). Outputs are keyed ``output:NAME``,
            confidence ``confidence:NAME`` (every predicted class of output NAME), features by their plain name.
            A model's own entry wins over ``"*"``.
        correction: Multiple-testing correction across one model's columns: ``benjamini-hochberg``,
            ``bonferroni`` or ``none``.
        min_rows: Columns with fewer current values (or missing-rate rows) are not compared.
        checks: Which checks run per column (names from :data:`CHECKS`).
        decisive_checks: Which checks decide a column's drift state (events, ``ml.drift.share``).
        missing_threshold: Smallest change of the missing share that counts (percentage points / 100).
        out_of_range_threshold: Share of current values outside the reference range that counts (numeric
            columns; categorical columns use the calibrated ``unseen`` test with its own defaults).
        resource: Resource attributes of the output (default ``service.name = otel-mlmon-collector``).
        trailing_reference: Also keep coarse windows of the production traffic and use an earlier span of it as
            the reference when no profile file matches (None: off).
    """

    windows: WindowConfig = field(default_factory=WindowConfig)
    evaluation_interval_seconds: float = 60.0
    references_directory: str | None = None
    references_mlflow_tracking_uri: str | None = None
    reference_poll_seconds: float = 30.0
    pins: Mapping[str, str] = field(default_factory=dict)
    fallback_to_newest: bool = True
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    correction: str = "benjamini-hochberg"
    min_rows: int = 30
    checks: tuple[str, ...] = CHECKS
    decisive_checks: tuple[str, ...] = ("distribution", "missing_rate")
    missing_threshold: float = 0.01
    out_of_range_threshold: float = 0.05
    resource: Mapping[str, str] | None = None
    trailing_reference: TrailingReferenceConfig | None = None

    def __post_init__(self) -> None:
        for name in ("pins", "overrides"):  # an empty YAML section reads as None
            if getattr(self, name) is None:
                object.__setattr__(self, name, {})
        if self.evaluation_interval_seconds < 0:
            raise ValueError(
                f"evaluation_interval_seconds must be >= 0, got {self.evaluation_interval_seconds!r}"
            )
        if self.reference_poll_seconds < 0:
            raise ValueError(f"reference_poll_seconds must be >= 0, got {self.reference_poll_seconds!r}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}")
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ValueError(f"min_rows must be an int >= 1, got {self.min_rows!r}")
        for name in ("checks", "decisive_checks"):
            unknown = [c for c in getattr(self, name) if c not in CHECKS]
            if unknown:
                raise ValueError(f"{name} must be taken from {', '.join(CHECKS)}, got {unknown!r}")
        MissingRate(threshold=self.missing_threshold)  # validates the range
        OutOfRange(threshold=self.out_of_range_threshold)
        for model, columns in self.overrides.items():
            if not isinstance(columns, Mapping):
                raise ValueError(f"overrides.{model} must map column names to methods, got {columns!r}")
            for column, spec in columns.items():
                _check_override(f"overrides.{model}.{column}", spec)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, path: str = "drift") -> DriftConfig:
        """Build from a parsed YAML/JSON mapping (keys as in docs/drift-engine.md).

        Args:
            data: The section's mapping.
            path: Its key path, which error messages start with.

        Raises:
            ConfigError: a ``ValueError`` naming the full key path of an unknown key or a bad value.
        """
        return cls.from_section(Section(dict(data or {}), path, label="drift"))

    @classmethod
    def from_section(cls, section: Section) -> DriftConfig:
        """Read every key of ``section`` (the collector's ``drift:``) and reject unknown ones.

        Raises:
            ConfigError: naming the full key path of an unknown key or a bad value.
        """
        s, d, w = section, cls(), WindowConfig()
        windows = WindowConfig(
            window_seconds=s.float("window_seconds", w.window_seconds, above=0),
            evaluation_windows=s.int("evaluation_windows", w.evaluation_windows, minimum=1),
            stream_ttl_seconds=s.float("stream_ttl_seconds", w.stream_ttl_seconds, above=0),
            max_streams=s.int("max_streams", w.max_streams, minimum=1),
            max_columns=s.int("max_columns", w.max_columns, minimum=1),
            max_size=s.int("max_size", w.max_size, minimum=2),
            max_categories=s.int("max_categories", w.max_categories, minimum=1),
            max_series=s.int("max_series", w.max_series, minimum=1),
            max_series_per_stream=s.int("max_series_per_stream", w.max_series_per_stream, minimum=1),
            max_cells=s.int("max_cells", w.max_cells, minimum=1),
            max_point_categories=s.int("max_point_categories", w.max_point_categories, minimum=1),
            max_categories_total=s.int("max_categories_total", w.max_categories_total, minimum=1),
        )
        refs = s.section("references")
        pins = refs.mapping("pins")
        kwargs: dict[str, Any] = {
            "windows": windows,
            "evaluation_interval_seconds": s.float(
                "evaluation_interval_seconds", d.evaluation_interval_seconds, minimum=0
            ),
            "references_directory": refs.str("directory", None),
            "references_mlflow_tracking_uri": refs.str("mlflow_tracking_uri", None),
            "reference_poll_seconds": refs.float(
                "poll_interval_seconds", d.reference_poll_seconds, minimum=0
            ),
            "pins": {model: str(version) for model, version in pins.items()},
            "fallback_to_newest": refs.bool("fallback_to_newest", d.fallback_to_newest),
            "overrides": _overrides(s),
            "correction": s.choice("correction", d.correction, CORRECTIONS),
            "min_rows": s.int("min_rows", d.min_rows, minimum=1),
            "checks": s.str_list("checks", d.checks, CHECKS, allow_empty=True),
            "decisive_checks": s.str_list("decisive_checks", d.decisive_checks, CHECKS, allow_empty=True),
            "missing_threshold": s.checked(
                "missing_threshold",
                s.float("missing_threshold", d.missing_threshold),
                lambda v: MissingRate(threshold=v),
            ),
            "out_of_range_threshold": s.checked(
                "out_of_range_threshold",
                s.float("out_of_range_threshold", d.out_of_range_threshold),
                lambda v: OutOfRange(threshold=v),
            ),
            "resource": dict(s.str_map("resource", lower_keys=False)) if s.has("resource") else None,
            "trailing_reference": _trailing(s),
        }
        refs.done()
        s.done()
        try:
            return cls(**kwargs)
        except ValueError as exc:  # every key was checked above; a rule spanning keys names the section
            raise ConfigError(f"{s.path}: {exc}") from None


def _check_override(where: str, spec: Any) -> None:
    """Raise ValueError naming ``where`` unless ``spec`` names a method valid for numeric, categorical, vector
    or vocabulary data."""
    if isinstance(spec, Mapping):
        name = spec.get("method")
        params = {k: v for k, v in spec.items() if k != "method"}
    elif isinstance(spec, str):
        name, params = spec, {}
    else:
        if hasattr(spec, "compare") and hasattr(spec, "kind"):
            return
        raise ValueError(f"{where} must be a method name or a mapping, got {spec!r}")
    if name is None:
        return  # a threshold/alpha change of the size-based default, checked when first used
    errors: list[str] = []
    for kind in ("numeric", "categorical", "vector", "vocabulary"):
        try:
            build_method(kind, str(name), **params)  # type: ignore[arg-type]
            return
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError(f"{where}: {'; '.join(errors)}")


def _overrides(s: Section) -> dict[str, dict[str, Any]]:
    """``overrides``: model -> column -> method spec, each spec checked under its full key path."""
    overrides = s.section("overrides")
    out: dict[str, dict[str, Any]] = {}
    for model in overrides.names():
        columns = overrides.mapping(model)
        for column, spec in columns.items():
            where = f"{overrides.key(model)}.{column}"
            try:
                _check_override(where, spec)
            except ValueError as exc:
                message = str(exc)
                raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None
        out[model] = columns
    overrides.done()
    return out


def _trailing(s: Section) -> TrailingReferenceConfig | None:
    """``trailing_reference``: absent or null → off."""
    if not s.has("trailing_reference") or s.raw("trailing_reference") is None:
        return None
    t, d = s.section("trailing_reference"), TrailingReferenceConfig()
    config = TrailingReferenceConfig(
        window_seconds=t.float("window_seconds", d.window_seconds, above=0),
        span_windows=t.int("span_windows", d.span_windows, minimum=1),
        lag_windows=t.int("lag_windows", d.lag_windows, minimum=0),
        min_rows=t.int("min_rows", d.min_rows, minimum=1),
    )
    t.done()
    return config
