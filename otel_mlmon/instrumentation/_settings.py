"""The zero-code instrumentor's settings: ``instrument()`` arguments, else ``OTEL_MLMON_*`` variables, else defaults.

Read once per ``instrument()`` call, so a wrong value fails there (a ValueError naming the variable), never inside
a model call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_METHODS", "FIT_METHODS", "LIBRARIES", "Settings", "settings_from"]

#: Every library the instrumentor knows (the names OTEL_MLMON_INSTRUMENT_LIBRARIES takes). ``mlflow`` monitors
#: nothing itself: its ``load_model`` functions name the models they load from the registry.
LIBRARIES: tuple[str, ...] = (
    "sklearn",
    "lightgbm",
    "xgboost",
    "catboost",
    "torch",
    "onnxruntime",
    "transformers",
    "mlflow",
)

#: Estimator methods that count as inference by default.
DEFAULT_METHODS: tuple[str, ...] = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score_samples",
)

#: Estimator methods that fit or evaluate: never monitored, and inference calls made inside them are not counted
#: (early stopping's predictions, ``fit_transform``'s ``transform``, ``score``'s ``predict``).
FIT_METHODS: tuple[str, ...] = ("fit", "partial_fit", "fit_transform", "fit_predict", "score")

_ENV_LIBRARIES = "OTEL_MLMON_INSTRUMENT_LIBRARIES"
_ENV_METHODS = "OTEL_MLMON_INSTRUMENT_METHODS"
_ENV_MODEL_NAMES = "OTEL_MLMON_MODEL_NAMES"
_ENV_MODEL_VERSION = "OTEL_MLMON_MODEL_VERSION"
_ENV_SAMPLE_RATE = "OTEL_MLMON_SAMPLE_RATE"
_ENV_SUMMARIES = "OTEL_MLMON_SUMMARIES"


@dataclass(frozen=True)
class Settings:
    """What the instrumentor monitors and how (see :func:`settings_from`)."""

    libraries: tuple[str, ...] = LIBRARIES
    methods: tuple[str, ...] = DEFAULT_METHODS
    #: Class name → ``ml.model.name``; classes not in it are named by their class name.
    model_names: Mapping[str, str] = field(default_factory=dict)
    model_version: str | None = None
    sample_rate: float = 1.0
    summaries: bool = True
    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None

    def model_name(self, cls: type) -> str:
        """``ml.model.name`` for instances of ``cls``: its mapped name, else its class name."""
        names = self.model_names
        return names.get(cls.__name__) or names.get(f"{cls.__module__}.{cls.__qualname__}") or cls.__name__


def settings_from(kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``instrument(**kwargs)``, falling back on the ``OTEL_MLMON_*`` variables.

    Raises:
        ValueError: on an unknown argument or an invalid value (naming the variable it came from).
    """
    env = os.environ if environ is None else environ
    known = {
        "libraries",
        "methods",
        "model_names",
        "model_version",
        "sample_rate",
        "summaries",
        "tracer_provider",
        "meter_provider",
        "logger_provider",
    }
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"instrument(): unknown arguments {unknown}; known: {sorted(known)}")
    libraries = _names(kwargs.get("libraries"), env.get(_ENV_LIBRARIES), "libraries", _ENV_LIBRARIES)
    if libraries is None:
        libraries = LIBRARIES
    bad = sorted(set(libraries) - set(LIBRARIES))
    if bad:
        raise ValueError(
            f"instrument(libraries=...) / {_ENV_LIBRARIES}: unknown {bad}; known: {list(LIBRARIES)}"
        )
    methods = _names(kwargs.get("methods"), env.get(_ENV_METHODS), "methods", _ENV_METHODS)
    if methods is None:
        methods = DEFAULT_METHODS
    fitting = sorted(set(methods) & set(FIT_METHODS))
    if fitting:
        raise ValueError(
            f"instrument(methods=...) / {_ENV_METHODS}: {fitting} fit models and are never monitored"
        )
    model_names = kwargs.get("model_names")
    if model_names is None:
        model_names = _mapping(env.get(_ENV_MODEL_NAMES, ""))
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in dict(model_names).items()):
        raise ValueError("instrument(model_names=...) must map class names to non-empty model names")
    version = kwargs.get("model_version", env.get(_ENV_MODEL_VERSION) or None)
    sample_rate = kwargs.get("sample_rate")
    if sample_rate is None:
        raw = env.get(_ENV_SAMPLE_RATE, "").strip()
        try:
            sample_rate = float(raw) if raw else 1.0
        except ValueError:
            raise ValueError(f"{_ENV_SAMPLE_RATE} must be a number in [0, 1], got {raw!r}") from None
    summaries = kwargs.get("summaries")
    if summaries is None:
        raw = env.get(_ENV_SUMMARIES, "true").strip().lower()
        if raw not in ("true", "false", "1", "0", "on", "off"):
            raise ValueError(f"{_ENV_SUMMARIES} must be true or false, got {raw!r}")
        summaries = raw in ("true", "1", "on")
    if (
        not isinstance(sample_rate, (int, float))
        or isinstance(sample_rate, bool)
        or not 0 <= sample_rate <= 1
    ):
        raise ValueError(
            f"instrument(sample_rate=...) / {_ENV_SAMPLE_RATE} must be in [0, 1], got {sample_rate!r}"
        )
    if version is not None and not isinstance(version, str):
        raise ValueError(
            f"instrument(model_version=...) / {_ENV_MODEL_VERSION} must be a string, got {version!r}"
        )
    return Settings(
        libraries=tuple(libraries),
        methods=tuple(methods),
        model_names=dict(model_names),
        model_version=version,
        sample_rate=sample_rate,
        summaries=bool(summaries),
        tracer_provider=kwargs.get("tracer_provider"),
        meter_provider=kwargs.get("meter_provider"),
        logger_provider=kwargs.get("logger_provider"),
    )


def _names(given: Iterable[str] | None, raw: str | None, arg: str, var: str) -> tuple[str, ...] | None:
    if given is not None:
        if isinstance(given, str):
            raise ValueError(f"instrument({arg}=...) takes a list of names, got {given!r}")
        return tuple(given)
    if raw is None or not raw.strip():
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _mapping(raw: str) -> dict[str, str]:
    """``"LGBMClassifier=churn,Pipeline=fraud"`` as a dict."""
    out = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(
                f"{_ENV_MODEL_NAMES} takes ClassName=model pairs separated by commas, got {part!r}"
            )
        out[key.strip()] = value.strip()
    return out
