"""Zero-code monitoring: an OpenTelemetry instrumentor for the model libraries, run by ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` loads every ``opentelemetry_instrumentor`` entry point; otel-mlmon's is
:class:`MlmonInstrumentor`, so an unchanged script's ``predict`` / ``predict_proba`` / ``transform``... calls on
scikit-learn estimators and Pipelines, LightGBM and XGBoost models (scikit-learn wrappers and native ``Booster``),
CatBoost models, torch modules in eval mode, ONNX Runtime sessions' ``run`` and transformers pipelines' calls get
the decorator's spans, inference metrics and summaries, named by the estimator's class, or by the model's own
``ml_model_name`` / ``ml_model_version`` attributes, which MLflow's ``load_model`` sets for a model loaded from
the registry. ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_mlmon`` turns it off. In code::

    from otel_mlmon.instrumentation import MlmonInstrumentor
    MlmonInstrumentor().instrument(model_names={"LGBMClassifier": "churn"})

This module is imported only by that entry point or by the user: the SDK's ``import otel_mlmon`` does not load it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_mlmon.instrumentation._patch import Patcher
from otel_mlmon.instrumentation._settings import DEFAULT_METHODS, FIT_METHODS, LIBRARIES, settings_from

__all__ = ["DEFAULT_METHODS", "FIT_METHODS", "LIBRARIES", "MlmonInstrumentor"]


class MlmonInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Monitors the model libraries' inference methods at class level; ``uninstrument()`` restores the originals.

    Keyword arguments of :meth:`instrument` (each falls back on an environment variable, see
    docs/configuration.md "Zero-code instrumentation"):

    - ``libraries``: which of :data:`LIBRARIES` (default all; ``OTEL_MLMON_INSTRUMENT_LIBRARIES``); ``mlflow``
      names the models MLflow loads from its registry.
    - ``methods``: estimator methods that count as inference (default :data:`DEFAULT_METHODS`;
      ``OTEL_MLMON_INSTRUMENT_METHODS``). Fit methods (:data:`FIT_METHODS`) are never monitored.
    - ``model_names``: class name → ``ml.model.name`` (default the class name; ``OTEL_MLMON_MODEL_NAMES`` as
      ``LGBMClassifier=churn,Pipeline=fraud``). A model's own ``ml_model_name`` attribute wins.
    - ``model_version``: ``ml.model.version`` for every model (``OTEL_MLMON_MODEL_VERSION``). A model's own
      ``ml_model_version`` attribute wins.
    - ``sample_rate``: share of calls summarised (``OTEL_MLMON_SAMPLE_RATE``, default 1).
    - ``summaries``: False for spans and inference metrics only (``OTEL_MLMON_SUMMARIES``, default true).
    - ``tracer_provider`` / ``meter_provider``: instead of the global ones.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        # Each library is optional and patched only if the script imports it: nothing is required up front.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        settings = settings_from(kwargs)
        self._patcher = Patcher(settings)
        self._patcher.start()

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        if patcher is not None:
            patcher.restore()
            self._patcher = None
