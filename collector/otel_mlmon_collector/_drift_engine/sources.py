"""Which reference providers the drift engine asks, in which order, built from its configuration."""

from __future__ import annotations

from .._references import (
    ChainedReferences,
    DirectoryReferenceStore,
    Reference,
    ReferenceProvider,
    TrailingWindowReference,
)
from .._windows import WindowStore
from .config import DriftConfig

__all__ = ["NoReferences", "reference_provider"]


class NoReferences:
    """The null reference provider: every lookup misses."""

    def refresh(self) -> bool:
        """Nothing to refresh."""
        return False

    def lookup(self, model: str, version: str | None) -> Reference | None:
        """Always None."""
        return None


def reference_provider(config: DriftConfig, trailing_windows: WindowStore | None) -> ReferenceProvider:
    """The providers the configuration names, asked in order: profile directory, MLflow, trailing traffic.

    Args:
        config: The engine's configuration.
        trailing_windows: The coarse window store of the production traffic when ``trailing_reference`` is set.
    """
    providers: list[ReferenceProvider] = []
    if config.references_directory is not None:
        providers.append(
            DirectoryReferenceStore(
                config.references_directory,
                pins=config.pins,
                fallback=config.fallback_to_newest,
                poll_interval_seconds=config.reference_poll_seconds,
            )
        )
    if config.references_mlflow_tracking_uri is not None:
        from .._mlflow_references import MlflowReferenceStore  # only with MLflow configured

        providers.append(
            MlflowReferenceStore(
                config.references_mlflow_tracking_uri,
                poll_interval_seconds=config.reference_poll_seconds,
            )
        )
    if trailing_windows is not None and config.trailing_reference is not None:
        providers.append(TrailingWindowReference(trailing_windows, config.trailing_reference))
    if not providers:
        return NoReferences()
    if len(providers) == 1:
        return providers[0]
    return ChainedReferences(providers)
