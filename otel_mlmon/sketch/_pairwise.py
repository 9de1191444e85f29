"""Column sums of a row-major chunk, bit for bit the sums numpy gives each column on its own.

``np.add.reduce`` sums a contiguous float64 array pairwise: blocks of at most 128 values, each with eight
running partial sums combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, halved recursively
above that. A histogram fed one column sums it that way; a histogram fed a row-major table must agree to the
last bit without reading the column with a stride (several times an arithmetic pass). For a chunk of ``2**k``
rows (``k >= 7``) the same tree is evaluated on all columns at once from reshaped views; other lengths, and any
numpy whose result differs on a probe (checked once), sum each column with ``np.add.reduce`` itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["column_sums", "combine", "subtree_sums", "tree_fits"]

_LEAF = 128
_agrees: bool | None = None


def _tree(part: np.ndarray) -> np.ndarray:
    rows, width = part.shape
    lanes = np.add.reduce(part.reshape(rows // _LEAF, _LEAF // 8, 8, width), axis=1)  # in order, as numpy's
    level = ((lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])) + (
        (lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7])
    )
    while level.shape[0] > 1:
        level = level[0::2] + level[1::2]
    return level[0]


def _strided(part: np.ndarray) -> np.ndarray:
    return np.array([np.add.reduce(part[:, j]) for j in range(part.shape[1])], dtype=np.float64)


def _check() -> bool:
    probe = np.random.default_rng(17).standard_cauchy(size=(1024, 3)) * np.array([1e-3, 1.0, 1e5])
    return bool(np.array_equal(_tree(probe), _strided(probe)))


def tree_fits(rows: int) -> bool:
    """Whether ``rows`` rows (and any power-of-two share of them of at least 128) are summed by the tree here."""
    global _agrees
    if rows < _LEAF or rows & (rows - 1):
        return False
    if _agrees is None:
        _agrees = _check()
    return _agrees


def subtree_sums(block: np.ndarray) -> np.ndarray:
    """Column sums of a C-contiguous block of ``2**k >= 128`` rows, as subtrees of a longer chunk's sums."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _tree(block)


def combine(parts: list[np.ndarray]) -> np.ndarray:
    """The chunk's column sums from its ``2**k`` equal consecutive blocks' subtree sums, in order."""
    level = np.array(parts)
    with np.errstate(over="ignore", invalid="ignore"):
        while level.shape[0] > 1:
            level = level[0::2] + level[1::2]
    return level[0]


def column_sums(part: np.ndarray) -> np.ndarray:
    """``[np.add.reduce(part[:, j]) for j in columns]`` for a C-contiguous 2-D float64 ``part``, as float64."""
    global _agrees
    rows = part.shape[0]
    if rows >= _LEAF and rows & (rows - 1) == 0 and part.flags.c_contiguous:
        if _agrees is None:
            _agrees = _check()
        if _agrees:
            with np.errstate(over="ignore", invalid="ignore"):
                return _tree(part)
    with np.errstate(over="ignore", invalid="ignore"):
        return _strided(part)
