"""The optional C passes of the flat column sketching (``_flatkernel.c``), loaded on first use.

The package build compiles ``otel_mlmon/sketch/_flatkernel.c`` when a C compiler is there (an optional
extension: an install without one still succeeds). :func:`kernel` imports it the first time a chunk large enough
for the flat passes or the column path arrives, so importing the SDK never loads it, and checks it once against
numpy on a probe (numpy's pairwise column sums bit for bit, the extremes); when it is missing or disagrees, the
numpy passes of ``_flat.py`` and ``_flat_shared.py`` and the numpy path of ``ExponentialHistogram.update`` run
instead and give the same state.

Both passes read a C-ordered float64 chunk row by row, once: ``extremes`` gives per column numpy's pairwise sum,
min, max and the reductions of ``bits - 1`` the plan needs; ``count`` maps every value's cell key through the
plan's table into one array of counts and lists the values of marked cells (mapped afterwards with the SDK's
formula, as in the numpy passes). For one 1-D column of any stride (``_column.py``): ``scan`` gives numpy's
pairwise sum and the extremes, ``bucket`` one value's SDK index, ``column_count`` the bucket counts at one scale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType

import numpy as np

__all__ = ["disabled", "kernel"]

_UNSET = object()
_loaded: object = _UNSET
_off = False


def _probe(module: ModuleType) -> bool:
    """The C sums and extremes equal numpy's on chunks with tails, zeros of both signs and an odd length."""
    from otel_mlmon.sketch._pairwise import column_sums

    rng = np.random.default_rng(17)
    for rows in (4096 + 77, 1 << 13):
        part = rng.standard_cauchy(size=(rows, 4)) * np.array([1e-3, 1.0, 1e5, -1.0])
        part[::7, 1] = -0.0
        part[:, 3] = np.abs(part[:, 3])
        out = np.empty((6, 4))
        module.extremes(part, rows, 4, out)
        sums = [np.add.reduce(np.ascontiguousarray(part[:, j])) for j in range(4)]
        positive = np.where(part > 0, part, np.inf).min(axis=0)
        negative = np.where(part < 0, part, -np.inf).max(axis=0)
        scanned = [module.scan(part[:, j])[0] for j in range(4)]  # one strided column at a time
        if not (
            out[0].tolist() == sums == column_sums(part).tolist() == scanned
            and np.array_equal(out[1:5], [part.min(axis=0), part.max(axis=0), positive, negative])
            and out[5].tolist() == [1.0, -1.0, 1.0, 1.0]
        ):
            return False
    return True


def kernel() -> ModuleType | None:
    """The compiled passes, or None (not built here, failed its probe, or turned off by :func:`disabled`)."""
    global _loaded
    if _off:
        return None
    if _loaded is _UNSET:
        try:
            # The module itself, not the package (which imports the histogram, which imports this module).
            import otel_mlmon.sketch._flatkernel as compiled  # type: ignore[import-not-found]
        except ImportError:
            _loaded = None
        else:
            _loaded = compiled if _probe(compiled) else None
    return _loaded  # type: ignore[return-value]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the numpy passes inside the block (tests and benchmarks compare both; not thread-local)."""
    global _off
    saved, _off = _off, True
    try:
        yield
    finally:
        _off = saved
