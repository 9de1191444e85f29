"""from_counts' C-checked path and the two-sort ranking give what the per-entry rule gave."""

from __future__ import annotations

import numpy as np
import pytest

from otel_mlmon.sketch import CategoricalSketch


def _ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(((k, int(n)) for k, n in counts.items() if n > 0), key=lambda item: (-item[1], item[0]))


@pytest.mark.parametrize(
    "counts",
    [
        {},
        {"b": 3, "a": 3, "c": 5, "é": 3, "": 1},  # ties ranked by category
        {"x": 0, "y": 2, "z": 0},  # zero counts are left out
        {"p": np.int64(4), "q": 4, "r": np.uint8(9)},  # numpy integers
        {f"level-{i:03d}" + "x" * (300 if i == 5 else 0): (i * 37) % 11 + 1 for i in range(400)},
    ],
)
def test_from_counts_lists_the_positive_counts_ranked(counts: dict[str, int]) -> None:
    sketch = CategoricalSketch.from_counts(counts, other_count=2, max_categories=8)
    assert sketch.top() == _ranked(counts)
    assert list(sketch._counts) == [k for k, _ in _ranked(counts)]
    assert all(type(n) is int for n in sketch._counts.values())
    assert sketch.count == 2 + sum(int(n) for n in counts.values())
    assert sketch.max_categories == max(8, len(_ranked(counts)))


@pytest.mark.parametrize("counts", [{"a": True}, {"a": -1}, {1: 2}, {"a": 1.0}, {None: 1}])
def test_from_counts_refuses_what_it_refused(counts: dict) -> None:
    with pytest.raises(ValueError, match="counts must map category strings"):
        CategoricalSketch.from_counts(counts)


def test_top_and_subtract_rank_ties_by_category() -> None:
    sketch = CategoricalSketch()
    sketch.update(["b", "a", "c", "c", "b", "a", "d"])
    assert sketch.top() == [("a", 2), ("b", 2), ("c", 2), ("d", 1)]
    assert sketch.top(2) == [("a", 2), ("b", 2)]
    older = sketch.copy()
    sketch.update(["d", "d", "e", "a"])
    assert list(sketch.subtract(older)._counts) == ["d", "a", "e"]
