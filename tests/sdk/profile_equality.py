"""What "the same profile" means for a distributed build: every sketch field equal, except floating-point sums
(added in another order, so equal to about 1e-12 relative), and categorical sketches past their capacity (then:
the same total, the same distinct-count hashes, and bounds that hold the true counts)."""

from __future__ import annotations

import math
from typing import Any

#: Sketch fields that are sums of floats: partitions add them in another order.
FLOAT_SUMS = frozenset({"sum", "sums", "squares"})


def assert_same_summary(one: dict[str, Any], merged: dict[str, Any]) -> None:
    """``one`` (the one-process build's Summary.to_dict()) equals ``merged`` sketch for sketch."""
    _walk(one, merged, "summary")


def _walk(a: Any, b: Any, path: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), f"{path}: {sorted(a)} != {sorted(b)}"
        for key in a:
            _walk(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a!r:.200} != {b!r:.200}"
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and path.rsplit("/", 1)[-1].split("[")[0] in FLOAT_SUMS:
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), f"{path}: {a} != {b}"
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"
