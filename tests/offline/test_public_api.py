"""The offline API's promised names import, and its documented examples run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "otel_mlmon_collector.offline",
    "otel_mlmon_collector.offline.cli",
    "otel_mlmon_collector.offline.compare",
    "otel_mlmon_collector.offline.emit",
    "otel_mlmon_collector.offline.replay",
    "otel_mlmon_collector.offline.report_html",
    "otel_mlmon_collector.offline.report_text",
    "otel_mlmon_collector.offline.sources",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_doctests_pass(name: str) -> None:
    """Each module's __all__ lists only names it defines, and its docstring examples give what they show."""
    module = importlib.import_module(name)
    for attribute in module.__all__:
        assert hasattr(module, attribute), f"{name}.{attribute}"
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_collector_package_exports_compare_and_replay() -> None:
    """otel_mlmon_collector.compare and .replay are the offline functions (loaded on first use)."""
    import otel_mlmon_collector
    from otel_mlmon_collector import offline

    assert otel_mlmon_collector.compare is offline.compare
    assert otel_mlmon_collector.replay is offline.replay
    assert {"compare", "replay"} <= set(otel_mlmon_collector.__all__)
    with pytest.raises(AttributeError):
        otel_mlmon_collector.not_a_name  # noqa: B018 - the attribute access is the test
