"""Every example in the SDK's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import otel_mlmon

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(otel_mlmon.__path__, "otel_mlmon.") if not m.name.endswith("cli")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    """The module's doctests pass."""
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
