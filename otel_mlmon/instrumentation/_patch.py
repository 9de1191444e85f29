"""Class-level patching of the model libraries' inference methods, and the import hook that finds their classes.

How classes are found: the libraries are not imported by the instrumentor (a process that never uses scikit-learn
pays nothing). An import hook at the front of ``sys.meta_path`` watches the libraries' modules; when one finishes
executing (and, at ``instrument()`` time, for those already in ``sys.modules``) its classes are scanned:

- every subclass of scikit-learn's ``BaseEstimator`` (LightGBM's and XGBoost's scikit-learn wrappers are some) gets
  each inference method patched on the class of its MRO that defines it (``LinearClassifierMixin.predict`` serves
  every linear classifier), and each fit method wrapped in a marker that makes inference inside it uncounted;
- named classes (LightGBM's and XGBoost's ``Booster``, torch's ``nn.Module``) get their listed methods patched.

One ``wrapt.FunctionWrapper`` per (defining class, method) dispatches on ``type(instance)`` to a
:class:`~otel_mlmon._call.Call` made once per concrete class, so the span, metrics and summaries are exactly the
decorator's, named by the concrete class. A call made while any monitored call or fit is running in the same
context is the library's own (a Pipeline's steps, a forest's trees, a classifier's booster, a torch module's
submodules, early stopping): it passes through uncounted, so one user-level call is one span. Restoring puts each
original attribute back on the class that held it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
import threading
from collections.abc import Callable
from typing import Any

import wrapt

from otel_mlmon._batch import rows_of
from otel_mlmon._call import Call, _active_call
from otel_mlmon._decorator import Monitor
from otel_mlmon._faults import report_fault
from otel_mlmon.instrumentation._identity import MLFLOW_LOADERS, identity_of, load_with_registry_name
from otel_mlmon.instrumentation._settings import FIT_METHODS, Settings

__all__ = ["Patcher"]

#: Module name prefixes watched per library.
_PREFIXES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost",),
    "torch": ("torch.nn.modules.module",),
    "onnxruntime": ("onnxruntime.capi.onnxruntime_inference_collection",),
    "catboost": ("catboost.core",),
    "transformers": ("transformers.pipelines.base",),
    "mlflow": MLFLOW_LOADERS,
}
#: (module, class, methods) patched by name; None: the configured inference methods, and the fit methods marked as
#: fitting (an estimator that is not a scikit-learn ``BaseEstimator``, like CatBoost's).
_NAMED: dict[str, tuple[tuple[str, str, tuple[str, ...] | None], ...]] = {
    "lightgbm": (("lightgbm.basic", "Booster", ("predict",)),),
    "xgboost": (("xgboost.core", "Booster", ("predict", "inplace_predict")),),
    "torch": (("torch.nn.modules.module", "Module", ("__call__",)),),
    "onnxruntime": (("onnxruntime.capi.onnxruntime_inference_collection", "Session", ("run",)),),
    "catboost": tuple(
        ("catboost.core", name, None)
        for name in ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
    ),
    # A pipeline's call (its predict / transform call it); its model's torch modules run inside it, uncounted.
    "transformers": (("transformers.pipelines.base", "Pipeline", ("__call__",)),),
}


def _dmatrix_rows(args: tuple, kwargs: dict) -> int | None:
    data = args[0] if args else kwargs.get("data")
    return int(data.num_row()) if hasattr(data, "num_row") else None


def _catboost_rows(args: tuple, kwargs: dict) -> int | None:
    """CatBoost's ``predict(data)``: a ``Pool`` counts its rows by ``num_row()``, anything else as usual."""
    data = args[0] if args else kwargs.get("data")
    return int(data.num_row()) if hasattr(data, "num_row") else rows_of(data)


def _catboost_features(args: tuple, kwargs: dict) -> Any:
    """The array or frame predicted on; a ``Pool`` (whose values cannot be read back cheaply) is not summarised."""
    data = args[0] if args else kwargs.get("data")
    return None if hasattr(data, "num_row") else data


#: Extra monitor options for a patched function (``module.qualname``): XGBoost's ``Booster.predict`` takes a
#: ``DMatrix``, whose rows are counted by ``num_row()`` and whose features cannot be read back cheaply (no
#: summaries; the scikit-learn wrapper and ``inplace_predict`` take arrays and are summarised).
_MONITOR_OPTIONS: dict[str, dict[str, Any]] = {
    "xgboost.core.Booster.predict": {"batch_size": _dmatrix_rows, "summaries": False},
    **{
        f"catboost.core.{cls}.{method}": {"batch_size": _catboost_rows, "features": _catboost_features}
        for cls in ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")
        for method in ("predict", "predict_proba", "predict_log_proba")
    },
}


def _onnx_features(args: tuple, kwargs: dict) -> Any:
    """``run(output_names, input_feed)``: the one input's array, or the feed (a dict of inputs) when several."""
    feed = args[1] if len(args) > 1 else kwargs.get("input_feed")
    if isinstance(feed, dict) and len(feed) == 1:
        return next(iter(feed.values()))
    return feed


def _first_output(result: Any) -> Any:
    return result[0] if isinstance(result, (list, tuple)) and result else result


_MONITOR_OPTIONS["onnxruntime.capi.onnxruntime_inference_collection.Session.run"] = {
    "features": _onnx_features,
    "outputs": _first_output,
}


def _capture_context(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    """scikit-learn's ``Parallel.__call__``, in the caller's thread: tag its tasks with the running monitored call.

    joblib may build tasks later in a worker thread (it dispatches the next batch from a completion callback), so
    the mark is read here, where the caller's context is, and stored on each task as it is taken.
    """
    active = _active_call.get()
    if active is None or active[0] is None or not args:
        return wrapped(*args, **kwargs)

    def tagged(iterable: Any) -> Any:
        for item in iterable:
            task = item[0] if isinstance(item, tuple) and item else None
            if task is not None and type(task).__name__ == "_FuncWrapper":
                task.__dict__["_otel_mlmon_active"] = active
            yield item

    return wrapped(tagged(args[0]), *args[1:], **kwargs)


def _run_in_context(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    """The task run in a worker thread: a forest's trees predicted for a user's call are part of that call."""
    active = getattr(instance, "__dict__", {}).get("_otel_mlmon_active")
    if active is None or active[0] is None:
        return wrapped(*args, **kwargs)
    guard = _active_call.set(active)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _active_call.reset(guard)


#: (module, class, method, wrapper) patched as-is: joblib worker threads do not inherit the caller's context, so
#: scikit-learn's task wrapper carries the running call's mark over (parallel trees of a forest, n_jobs > 1).
_CONTEXT_CARRIERS: dict[str, tuple[tuple[str, str, str, Callable[..., Any]], ...]] = {
    "sklearn": (
        ("sklearn.utils.parallel", "Parallel", "__call__", _capture_context),
        ("sklearn.utils.parallel", "_FuncWrapper", "__call__", _run_in_context),
    ),
}
#: (module, function, wrapper): module-level functions wrapped as-is. MLflow's loaders name what they load from
#: the model registry (see :mod:`otel_mlmon.instrumentation._identity`).
_FUNCTIONS: dict[str, tuple[tuple[str, str, Callable[..., Any]], ...]] = {
    "mlflow": tuple((module, "load_model", load_with_registry_name) for module in MLFLOW_LOADERS),
}


class _Patched(wrapt.FunctionWrapper):
    """A class attribute replaced by the instrumentor (told apart from anyone else's wrapper)."""


class _Dispatch:
    """The wrapper function of one patched method: finds the concrete class's Call and runs it."""

    def __init__(self, patcher: Patcher, operation: str) -> None:
        self.patcher = patcher
        self.operation = operation
        self.calls: dict[Any, Call] = {}

    def __call__(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        active = _active_call.get()
        if instance is None or (active is not None and active[0] is not None) or not self.patcher.enabled:
            return wrapped(*args, **kwargs)  # a library's own call inside a user's call or a fit
        try:
            if self.operation == "__call__" and getattr(instance, "training", False) is True:
                return wrapped(*args, **kwargs)  # a torch module in training mode: fitting, not inference
            cls = type(instance)
            # The instance's own name and version (set by the user, or by MLflow's loader), else the class's.
            name, version = identity_of(instance)
            key = cls if name is None and version is None else (cls, name, version)
            call = self.calls.get(key)
            if call is None:
                call = self.calls[key] = self._call_for(cls, wrapped, name, version)
        except Exception as exc:  # noqa: BLE001
            report_fault("instrumentation", exc)
            return wrapped(*args, **kwargs)
        return call.sync(wrapped, instance, args, kwargs)

    def _call_for(
        self, cls: type, wrapped: Callable[..., Any], name: str | None, version: str | None
    ) -> Call:
        s = self.patcher.settings
        operation = "predict" if self.operation == "__call__" else self.operation
        target = getattr(wrapped, "__func__", wrapped)
        options = {
            "summaries": s.summaries,
            **_MONITOR_OPTIONS.get(
                f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}", {}
            ),
        }
        config = Monitor(
            model=name or s.model_name(cls),
            version=version or s.model_version,
            operation=operation,
            sample_rate=s.sample_rate,
            tracer_provider=s.tracer_provider,
            meter_provider=s.meter_provider,
            logger_provider=s.logger_provider,
            **options,
        )
        return Call(config, operation, target)


def _fitting(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    """Run a fit with the owner marked active: inference made inside it is not counted."""
    mark = [instance if instance is not None else wrapped]
    guard = _active_call.set(mark)
    try:
        return wrapped(*args, **kwargs)
    finally:
        mark[0] = None  # a context copied inside the fit and run later is not taken for nested
        _active_call.reset(guard)


class Patcher:
    """Patches the configured libraries' classes as their modules are imported; :meth:`restore` undoes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = True
        self._lock = threading.RLock()
        self._originals: list[tuple[Any, str, Any]] = []  # (class or module, attribute, original)
        self._dispatch = {name: _Dispatch(self, name) for name in (*settings.methods, "__call__")}
        self._dispatch.update(
            {name: _Dispatch(self, name) for n in _NAMED.values() for *_, ms in n for name in ms or ()}
        )
        self._prefixes = tuple(p for lib in settings.libraries for p in _PREFIXES[lib])
        self._scanned: set[type] = set()
        self._finder = _Finder(self)

    def start(self) -> None:
        """Patch what is already imported and watch the imports to come."""
        sys.meta_path.insert(0, self._finder)
        for name, module in list(sys.modules.items()):
            if module is not None and self._watched(name):
                self.scan(module)

    def restore(self) -> None:
        """Put every original attribute back and stop watching imports."""
        self.enabled = False
        with contextlib.suppress(ValueError):  # already removed
            sys.meta_path.remove(self._finder)
        with self._lock:
            for cls, name, original in reversed(self._originals):
                if isinstance(cls.__dict__.get(name), _Patched):
                    setattr(cls, name, original)
            self._originals.clear()
            self._scanned.clear()

    def _watched(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self._prefixes)

    def scan(self, module: Any) -> None:
        """Patch the estimator and named classes a just-imported module defines. Never raises."""
        if not self.enabled:
            return
        try:
            with self._lock:
                self._scan(module)
        except Exception as exc:  # noqa: BLE001
            report_fault("instrumentation", exc)

    def _scan(self, module: Any) -> None:
        name = module.__name__
        for lib in self.settings.libraries:
            for module_name, class_name, methods in _NAMED.get(lib, ()):
                cls = getattr(module, class_name, None) if name == module_name else None
                if isinstance(cls, type) and cls not in self._scanned:
                    self._scanned.add(cls)
                    for method in methods or self.settings.methods:
                        self._patch(cls, method, self._dispatch[method])
                    for method in FIT_METHODS if methods is None else ():
                        self._patch(cls, method, _fitting)
            for module_name, class_name, method, wrapper in _CONTEXT_CARRIERS.get(lib, ()):
                cls = getattr(module, class_name, None) if name == module_name else None
                if isinstance(cls, type):
                    self._patch(cls, method, wrapper)
            for module_name, function, wrapper in _FUNCTIONS.get(lib, ()):
                if name == module_name:
                    self._patch_function(module, function, wrapper)
        base = sys.modules.get("sklearn.base")
        root = getattr(base, "BaseEstimator", None)
        if root is None:
            return
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and value not in self._scanned
                and value.__module__ == name
                and issubclass(value, root)
            ):
                self._scanned.add(value)
                for method in self.settings.methods:
                    self._patch(value, method, self._dispatch[method])
                for method in FIT_METHODS:
                    self._patch(value, method, _fitting)

    def _patch(self, cls: type, name: str, wrapper: Callable[..., Any]) -> None:
        """Wrap ``name`` on the class of ``cls``'s MRO that defines it (once)."""
        owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
        if owner is None or owner is object:
            return
        original = owner.__dict__[name]
        if isinstance(original, (_Patched, staticmethod, classmethod, property)) or not hasattr(
            original, "__get__"
        ):
            return
        setattr(owner, name, _Patched(original, wrapper))
        self._originals.append((owner, name, original))

    def _patch_function(self, module: Any, name: str, wrapper: Callable[..., Any]) -> None:
        """Wrap the module-level function ``name`` of ``module`` (once)."""
        original = vars(module).get(name)
        if original is None or isinstance(original, _Patched) or not callable(original):
            return
        setattr(module, name, _Patched(original, wrapper))
        self._originals.append((module, name, original))


class _Finder(importlib.abc.MetaPathFinder):
    """Finds a watched module's spec through the other finders and has its loader call :meth:`Patcher.scan`."""

    def __init__(self, patcher: Patcher) -> None:
        self.patcher = patcher
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if not self.patcher._watched(fullname) or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.on = False
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _ScanningLoader(loader, self.patcher)
        return spec


class _ScanningLoader:
    """A loader that runs the original one, then scans the module; everything else goes to the original."""

    def __init__(self, loader: Any, patcher: Patcher) -> None:
        self._loader = loader
        self._patcher = patcher

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader  # resources and source look-ups see the real loader
        self._loader.exec_module(module)
        self._patcher.scan(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
