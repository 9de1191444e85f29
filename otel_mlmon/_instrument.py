"""``instrument(obj)``: monitor an existing model object's predict entry points in place."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import wrapt

from otel_mlmon._decorator import Monitor

__all__ = ["PREDICT_METHODS", "instrument", "uninstrument"]

#: Entry points wrapped by default, when the object has them.
PREDICT_METHODS: tuple[str, ...] = ("predict", "predict_proba", "predict_log_proba", "decision_function")


class _InstanceMethodWrapper(wrapt.FunctionWrapper):
    """A monitored bound method stored on an instance; pickles as the plain method so models stay picklable."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any, str]]:
        method = self.__wrapped__
        return getattr, (method.__self__, method.__name__)


class _CallableProxy(wrapt.ObjectProxy):
    """A transparent proxy whose ``__call__`` is monitored, for objects whose only entry point is ``__call__``."""

    def __init__(self, wrapped: Any, monitored_call: Any) -> None:
        super().__init__(wrapped)
        self._self_call = monitored_call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_call(*args, **kwargs)


def instrument(obj: Any, *, methods: Iterable[str] | None = None, **options: Any) -> Any:
    """Monitor a model object's predict methods in place and return it.

    With an object that has ``predict`` / ``predict_proba`` / ``predict_log_proba`` / ``decision_function``
    (scikit-learn style estimators, pipelines, XGBoost/LightGBM wrappers), each one present is replaced on the
    instance by a monitored version (``ml.operation`` = the method name) and the same object is returned; the
    class and other instances are untouched, and the object still pickles (without the monitoring).
    A plain function is returned monitored. An object whose only entry point is ``__call__`` (a torch module, a
    callable class) cannot be changed in place, since Python looks ``__call__`` up on the type: a transparent proxy
    with a monitored ``__call__`` is returned instead — use the returned object.

    Args:
        obj: The model object or function.
        methods: Names of the methods to wrap instead of the defaults.
        **options: The arguments of :func:`otel_mlmon.monitor` (``model`` is required).

    Raises:
        ValueError: when the options are invalid or ``obj`` has none of the methods.

    Example:
        >>> import otel_mlmon
        >>> class Model:
        ...     def predict(self, X):
        ...         return [0] * len(X)
        >>> model = otel_mlmon.instrument(Model(), model="churn", version="1")
        >>> model.predict([[1], [2]])
        [0, 0]
    """
    config = Monitor(**options)  # validates the options before anything is changed
    if methods is None and _is_plain_function(obj):
        return config(obj)
    names = tuple(methods) if methods is not None else tuple(m for m in PREDICT_METHODS if hasattr(obj, m))
    if not names:
        if callable(obj):
            return _CallableProxy(obj, config(type(obj).__call__).__get__(obj, type(obj)))
        raise ValueError(
            f"instrument() found none of {', '.join(PREDICT_METHODS)} on {type(obj).__name__}; "
            "pass methods=[...] naming the entry points to monitor"
        )
    for name in names:
        method = getattr(obj, name, None)
        if method is None or not callable(method):
            raise ValueError(f"instrument(methods=...): {type(obj).__name__} has no callable {name!r}")
        if isinstance(method, wrapt.FunctionWrapper):
            continue  # already monitored
        monitored = Monitor(**{**options, "operation": options.get("operation") or name})
        setattr(obj, name, monitored.wrap(method, proxy=_InstanceMethodWrapper))
    return obj


def uninstrument(obj: Any, *, methods: Iterable[str] | None = None) -> Any:
    """Undo :func:`instrument` on an object instrumented in place; returns the object."""
    names = tuple(methods) if methods is not None else PREDICT_METHODS
    for name in names:
        if isinstance(getattr(obj, "__dict__", {}).get(name), wrapt.FunctionWrapper):
            delattr(obj, name)
    return obj


def _is_plain_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)
