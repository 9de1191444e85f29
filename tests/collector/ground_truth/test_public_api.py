"""The ground_truth package's facade, module conventions and docstring examples (walking the package)."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest
from otel_mlmon_collector import _ground_truth as ground_truth

#: Every module of the package, found by walking it (a new module is checked without editing this list).
MODULES = [ground_truth.__name__] + [
    info.name for info in pkgutil.walk_packages(ground_truth.__path__, prefix=f"{ground_truth.__name__}.")
]


def test_facade_is_what_the_performance_processor_uses() -> None:
    """The package exports the label join, its report and the confidence-based estimate, and nothing else."""
    assert ground_truth.__all__ == ["LabelJoin", "LabelJoinReport", "estimate_performance"]
    for name in ground_truth.__all__:
        assert getattr(ground_truth, name) is not None


def test_implementation_modules_are_private() -> None:
    """Every module behind the facade has a leading underscore, so its names are not promised to users."""
    assert len(MODULES) > 10
    for name in MODULES[1:]:
        assert name.removeprefix(f"{ground_truth.__name__}.").startswith("_"), name


@pytest.mark.parametrize("name", MODULES)
def test_module_conventions(name: str) -> None:
    """Each module has a docstring, an __all__ whose names exist, and public callables with docstrings."""
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip()
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"


@pytest.mark.parametrize(
    "name", [m for m in MODULES if m.rsplit(".", 1)[-1] in {"_store", "_performance_windows", "_label_join"}]
)
def test_doctests(name: str) -> None:
    """The examples in the store, windows and label-join docstrings run as written."""
    result = doctest.testmod(importlib.import_module(name), raise_on_error=False)
    assert result.failed == 0 and result.attempted > 0
