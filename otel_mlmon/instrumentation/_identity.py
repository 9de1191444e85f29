"""A model instance's own name and version: its ``ml_model_name`` / ``ml_model_version`` attributes.

The zero-code instrumentor names a model by its class unless the instance says otherwise. An instance says so
through two plain attributes, which travel with the pickled model: set them before saving
(``model.ml_model_name = "churn"``) and the serving script stays unchanged. MLflow's ``load_model`` functions set
them when they load from the model registry (``models:/churn/3``, ``models:/churn@champion``,
``models:/churn/latest``): the registered name and the resolved version number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from otel_mlmon._faults import report_fault

__all__ = [
    "MLFLOW_LOADERS",
    "NAME_ATTRIBUTE",
    "VERSION_ATTRIBUTE",
    "identity_of",
    "load_with_registry_name",
    "registry_identity",
]

#: Instance attribute naming the model (``ml.model.name``), read at each call.
NAME_ATTRIBUTE = "ml_model_name"
#: Instance attribute giving the model's version (``ml.model.version``), read at each call.
VERSION_ATTRIBUTE = "ml_model_version"

#: MLflow modules whose ``load_model`` is wrapped: the generic pyfunc loader and the flavors of the libraries the
#: instrumentor monitors.
MLFLOW_LOADERS: tuple[str, ...] = (
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "mlflow.lightgbm",
    "mlflow.xgboost",
    "mlflow.catboost",
    "mlflow.onnx",
    "mlflow.pytorch",
    "mlflow.transformers",
)
_REGISTRY_SCHEME = "models:/"


def identity_of(instance: Any) -> tuple[str | None, str | None]:
    """``(name, version)`` from the instance's own attributes (None where unset or not usable as a name)."""
    attributes = getattr(instance, "__dict__", None)
    if not attributes:
        return None, None
    name = attributes.get(NAME_ATTRIBUTE)
    version = attributes.get(VERSION_ATTRIBUTE)
    if name is not None and (not isinstance(name, str) or not name):
        name = None
    if version is not None:
        version = str(version) if isinstance(version, (str, int)) and not isinstance(version, bool) else None
    return name, version or None


def registry_identity(
    uri: str, resolve: Callable[[str], tuple[str, str]] | None = None
) -> tuple[str, str | None]:
    """``(registered name, version)`` of a ``models:/`` URI; raises ValueError for any other URI.

    A numeric version is read from the URI; an alias, a stage or ``latest`` is resolved by ``resolve`` (MLflow's
    registry client by default); if that fails the version is None and the name still holds.
    """
    if not uri.startswith(_REGISTRY_SCHEME):
        raise ValueError(f"not a model registry URI: {uri!r}")
    path = uri[len(_REGISTRY_SCHEME) :].strip("/")
    name, _, rest = path.partition("@") if "@" in path else path.partition("/")
    if not name or name.startswith("m-"):  # models:/m-<id> is a logged model, not a registered one
        raise ValueError(f"not a registered model version: {uri!r}")
    if rest.isdigit():
        return name, rest
    try:
        resolved = (resolve or _resolve_with_mlflow)(uri)
        return name, str(resolved[1])
    except Exception as exc:  # noqa: BLE001
        report_fault("instrumentation", exc)
        return name, None


def _resolve_with_mlflow(uri: str) -> tuple[str, str]:
    # MLflow's own resolution of aliases, stages and "latest" (the same registry call its loader just made).
    from mlflow import MlflowClient
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    name, version = get_model_name_and_version(MlflowClient(), uri)
    return name, version


def load_with_registry_name(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    """An MLflow ``load_model``: load, then name the model (and a pyfunc's raw model) by its registry entry.

    Never changes what the loader returns or raises; a failure to name is counted as a fault.
    """
    model = wrapped(*args, **kwargs)
    try:
        uri = args[0] if args else kwargs.get("model_uri")
        if isinstance(uri, str) and uri.startswith(_REGISTRY_SCHEME):
            name, version = registry_identity(uri)
            targets = [model]
            raw = getattr(model, "get_raw_model", None)  # a pyfunc: the library model it calls
            if callable(raw):
                with contextlib.suppress(Exception):  # a custom python_function model has no raw model
                    targets.append(raw())
            for target in targets:
                _set_identity(target, name, version)
    except Exception as exc:  # noqa: BLE001
        report_fault("instrumentation", exc)
    return model


def _set_identity(target: Any, name: str, version: str | None) -> None:
    if target is None or not hasattr(target, "__dict__"):
        return
    setattr(target, NAME_ATTRIBUTE, name)
    if version is not None:
        setattr(target, VERSION_ATTRIBUTE, version)
