"""Numeric descriptors of free text (and of wide vectors), so neither ever leaves the process as values.

A text column becomes a few numeric columns per row (its length, its word count, shares of character classes).
The summaries sketch those like any numeric feature, so the collector compares them with a reference without
knowing they came from text. Vector columns (embeddings) are summarised by
:class:`~otel_mlmon.sketch.vector.VectorSketch` instead; :func:`vector_descriptors` remains for users who want
per-row descriptors of their own vectors (and as the baseline of ``bench/sketch.py``). Both are computed vectorised over a batch: the texts are joined into one
UTF-32 buffer and the character classes counted with numpy, not per character in Python.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TEXT_DESCRIPTORS", "VECTOR_DESCRIPTORS", "text_descriptors", "vector_descriptors"]

#: The descriptors of a text value, in export order (``{column}.{descriptor}``):
#:
#: * ``chars``: length in characters (Unicode code points);
#: * ``words``: whitespace-separated words;
#: * ``digits``: share of characters that are the digits 0-9;
#: * ``uppercase``: share of characters that are the uppercase letters A-Z;
#: * ``non_letters``: share of characters that are ASCII but neither letters nor whitespace (digits,
#:   punctuation, symbols, controls);
#: * ``non_ascii``: share of characters beyond ASCII (accents, other scripts, emoji);
#: * ``blank``: 1 for an empty or whitespace-only text, else 0.
#:
#: Shares of an empty text are 0. A missing text (None) is missing in every descriptor.
TEXT_DESCRIPTORS: tuple[str, ...] = (
    "chars",
    "words",
    "digits",
    "uppercase",
    "non_letters",
    "non_ascii",
    "blank",
)

#: The descriptors of a vector row, in export order (``{column}.{descriptor}``): ``norm`` (L2), ``mean`` and ``std``
#: of the components, ``min`` and ``max`` component, and ``zeros`` (share of components exactly 0). A row with a
#: NaN component is missing in every descriptor.
VECTOR_DESCRIPTORS: tuple[str, ...] = ("norm", "mean", "std", "min", "max", "zeros")

# Whitespace as str.split() sees it (ASCII and the Unicode space separators), as sorted code points.
_SPACES = np.array(
    sorted(
        {9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
        | set(range(0x2000, 0x200B))
    ),
    dtype=np.uint32,
)


def text_descriptors(values: np.ndarray) -> np.ndarray:
    """The :data:`TEXT_DESCRIPTORS` of each text, as an ``(n, 7)`` float64 matrix (NaN rows for missing texts).

    Args:
        values: 1-D object array of ``str`` (other values are formatted with ``str``) or None for missing.

    Example:
        >>> import numpy as np
        >>> text_descriptors(np.array(["Hi 2 you", None, ""], dtype=object)).round(3).tolist()[0]
        [8.0, 3.0, 0.125, 0.125, 0.125, 0.0, 0.0]
    """
    n = values.shape[0]
    out = np.full((n, len(TEXT_DESCRIPTORS)), np.nan)
    present = np.flatnonzero(values != None)  # noqa: E711 - elementwise on an object array
    if present.size == 0:
        return out
    texts = [v if type(v) is str else str(v) for v in values[present]]
    k = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=k)
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    # One row per character class, summed per text in one reduceat over the texts' segments.
    classes = np.empty((5, codes.size), dtype=np.int32)
    space = (codes == 32) | ((codes >= 9) & (codes <= 13)) | ((codes >= 28) & (codes <= 31))
    wide = codes >= 128
    if wide.any():  # Unicode spaces are rare: look them up only among the non-ASCII characters
        space[wide] = np.isin(codes[wide], _SPACES)
    letter = ((codes >= 65) & (codes <= 90)) | ((codes >= 97) & (codes <= 122))
    classes[0] = ~space  # becomes "a word starts here" below
    if codes.size:
        # A word starts at a non-space character that follows a space or starts its text.
        classes[0, 1:] &= space[:-1]
    offsets = np.cumsum(lengths) - lengths
    nonempty = lengths > 0
    classes[0, offsets[nonempty]] = ~space[offsets[nonempty]]
    classes[1] = (codes >= 48) & (codes <= 57)
    classes[2] = (codes >= 65) & (codes <= 90)
    classes[3] = ~wide & ~space & ~letter
    classes[4] = wide
    counts = np.zeros((k, 5))
    if codes.size:
        counts[nonempty] = np.add.reduceat(classes, offsets[nonempty], axis=1).T
    chars = lengths.astype(np.float64)
    block = np.empty((k, len(TEXT_DESCRIPTORS)))
    block[:, 0] = chars
    block[:, 1] = counts[:, 0]
    block[:, 2:6] = counts[:, 1:] / np.maximum(chars, 1.0)[:, None]
    block[:, 6] = counts[:, 0] == 0
    out[present] = block
    return out


def vector_descriptors(matrix: np.ndarray) -> np.ndarray:
    """The :data:`VECTOR_DESCRIPTORS` of each row of an ``(n, d)`` matrix, as an ``(n, 6)`` float64 matrix.

    Example:
        >>> import numpy as np
        >>> vector_descriptors(np.array([[3.0, 4.0, 0.0, 0.0]])).tolist()
        [[5.0, 1.75, 1.7853571071357126, 0.0, 4.0, 0.5]]
    """
    m = np.asarray(matrix, dtype=np.float64)
    n, d = m.shape
    out = np.full((n, len(VECTOR_DESCRIPTORS)), np.nan)
    if d == 0 or n == 0:
        return out
    with np.errstate(over="ignore", invalid="ignore"):
        out[:, 0] = np.sqrt(np.einsum("ij,ij->i", m, m))
        out[:, 1] = m.mean(axis=1)
        out[:, 2] = m.std(axis=1)
        out[:, 3] = m.min(axis=1)
        out[:, 4] = m.max(axis=1)
        out[:, 5] = np.count_nonzero(m == 0.0, axis=1) / d
    out[np.isnan(m).any(axis=1)] = np.nan
    return out
