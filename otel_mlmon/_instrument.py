"""``instrument(obj)``: monitor an existing model object's predict entry points in place.

The monitored methods are instance attributes, so the class and other instances are untouched. Two things keep
such an object an ordinary model object: a marker stored as the instance's ``__reduce_ex__`` makes pickles and
copies (pickle, joblib, ``copy.deepcopy``) leave the monitoring behind, and the decorator passes calls nested on the
same object (scikit-learn's ``predict`` calling ``predict_proba``) through uncounted.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any

import wrapt

from otel_mlmon._decorator import Monitor

__all__ = ["PREDICT_METHODS", "instrument", "uninstrument"]

_logger = logging.getLogger("otel_mlmon")

#: Entry points wrapped by default, when the object has them.
PREDICT_METHODS: tuple[str, ...] = ("predict", "predict_proba", "predict_log_proba", "decision_function")

#: Options that shape a series' summaries and records: the registry creates those once per series (model, version,
#: operation, attributes, meter provider), so a second instrument() of the same series cannot change them.
_SERIES_OPTIONS: tuple[str, ...] = (
    "feature_names",
    "categorical",
    "text",
    "ids",
    "classes",
    "max_rows",
    "record_max_rows",
    "decision",
    "summary_config",
    "logger_provider",
)
#: Options that name a series.
_IDENTITY_OPTIONS: tuple[str, ...] = ("model", "version", "attributes", "meter_provider")


class _InstanceMethodWrapper(wrapt.FunctionWrapper):
    """A monitored bound method stored on an instance; pickles as the plain method so models stay picklable."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any, str]]:
        method = self.__wrapped__
        return getattr, (method.__self__, method.__name__)


class _Unmonitored:
    """Stored as an instrumented instance's ``__reduce_ex__``: pickles and copies of it are unmonitored.

    ``pickle``, ``joblib`` and ``copy`` look ``__reduce_ex__`` up on the instance, so this runs in place of the
    class's own reduction: it calls that reduction and drops the monitored methods (and itself) from the state,
    so the copy gets its class's methods back. Without it the wrappers land in the state, and unpickling calls
    ``getattr(obj, "predict")`` on a half-built object (a Pipeline, whose ``predict`` depends on its steps,
    raises AttributeError) or keeps bound methods of the copy as instance attributes.
    """

    def __init__(self, obj: Any, names: tuple[str, ...], options: dict[str, Any]) -> None:
        self.obj = obj
        #: The method names instrument() replaced on this instance.
        self.names = names
        #: The monitor() options instrument() was given (compared when instrumenting again).
        self.options = dict(options)

    def __call__(self, protocol: Any) -> Any:
        obj = self.obj
        reduced = type(obj).__reduce_ex__(obj, protocol)
        if isinstance(reduced, tuple) and len(reduced) > 2:
            reduced = (*reduced[:2], _without_monitoring(reduced[2]), *reduced[3:])
        return reduced


def _without_monitoring(state: Any) -> Any:
    """``state`` (a ``__getstate__`` result) without the entries instrument() added to the instance."""
    if isinstance(state, dict):
        return {
            key: value
            for key, value in state.items()
            if not isinstance(value, (_InstanceMethodWrapper, _Unmonitored))
        }
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        return (_without_monitoring(state[0]), state[1])  # (__dict__, __slots__ values)
    return state


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
    class and other instances are untouched. A monitored call made inside another on the same object
    (scikit-learn's ``predict`` calling ``predict_proba``) is not counted again. Pickles, joblib dumps and copies
    of the object are ordinary unmonitored objects. Instrumenting an object again replaces the configuration.
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
    if isinstance(obj, _CallableProxy) or (
        isinstance(obj, wrapt.FunctionWrapper) and getattr(obj, "_self_monitor", None) is not None
    ):
        obj = obj.__wrapped__  # a monitored function or proxy again: the new configuration replaces the old
    if methods is None and _is_plain_function(obj):
        return config(obj)
    previous = _marker(obj)
    if previous is not None:
        _warn_if_series_options_stay(obj, previous, config, options)
        uninstrument(obj)  # the new configuration replaces the old one
    names = tuple(methods) if methods is not None else tuple(m for m in PREDICT_METHODS if hasattr(obj, m))
    if not names:
        if callable(obj):
            return _CallableProxy(obj, config(type(obj).__call__).__get__(obj, type(obj)))
        raise ValueError(
            f"instrument() found none of {', '.join(PREDICT_METHODS)} on {type(obj).__name__}; "
            "pass methods=[...] naming the entry points to monitor"
        )
    wrapped = {}
    for name in names:
        method = getattr(obj, name, None)
        if method is None or not callable(method):
            raise ValueError(f"instrument(methods=...): {type(obj).__name__} has no callable {name!r}")
        monitored = Monitor(**{**options, "operation": options.get("operation") or name})
        wrapped[name] = monitored.wrap(method, proxy=_InstanceMethodWrapper)
    for name, wrapper in wrapped.items():
        setattr(obj, name, wrapper)
    obj.__reduce_ex__ = _Unmonitored(obj, tuple(wrapped), options)
    return obj


def uninstrument(obj: Any, *, methods: Iterable[str] | None = None) -> Any:
    """Undo :func:`instrument` on an object instrumented in place; returns the object.

    Without ``methods`` every method instrument() replaced is restored.
    """
    marker = _marker(obj)
    everything = methods is None
    names = tuple(methods) if methods is not None else marker.names if marker is not None else PREDICT_METHODS
    instance_dict = getattr(obj, "__dict__", {})
    for name in names:
        if isinstance(instance_dict.get(name), wrapt.FunctionWrapper):
            delattr(obj, name)
    if marker is not None:
        left = tuple(n for n in marker.names if isinstance(instance_dict.get(n), wrapt.FunctionWrapper))
        if everything or not left:
            del obj.__reduce_ex__
        else:
            marker.names = left
    return obj


def _marker(obj: Any) -> _Unmonitored | None:
    marker = getattr(obj, "__dict__", {}).get("__reduce_ex__")
    return marker if isinstance(marker, _Unmonitored) else None


def _warn_if_series_options_stay(
    obj: Any, previous: _Unmonitored, new: Monitor, options: dict[str, Any]
) -> None:
    """Log when a re-instrument keeps a series' name but changes options that series was created with."""
    old = Monitor(**previous.options)
    if not all(getattr(old, key) == getattr(new, key) for key in _IDENTITY_OPTIONS):
        return  # a new series: it is created with the new options
    changed = [key for key in _SERIES_OPTIONS if not _same(previous.options.get(key), options.get(key))]
    if changed:
        _logger.warning(
            "instrument(): %s is already monitored as model %r; the new %s cannot apply to that series, "
            "whose summaries and records keep the options they were created with. Give a new version= "
            "(or model=) to start a series with the new options.",
            type(obj).__name__,
            new.model,
            ", ".join(f"{key}=" for key in changed),
        )


def _same(a: Any, b: Any) -> bool:
    """The same option value: equal, equal as sequences, or of one class with equal public settings (a
    SummaryConfig has no ``__eq__``)."""
    if a is b or a == b:
        return True
    if isinstance(a, (list, tuple, set, frozenset)) and isinstance(b, (list, tuple, set, frozenset)):
        return list(a) == list(b) if not isinstance(a, (set, frozenset)) else set(a) == set(b)
    if type(a) is not type(b) or not hasattr(a, "__dict__"):
        return False

    def settings(x: Any) -> dict[str, Any]:
        return {k: v for k, v in vars(x).items() if not k.startswith("_") and not hasattr(v, "__dict__")}

    return settings(a) == settings(b)


def _is_plain_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)
