"""Mergeable vocabulary sketch of a text column: hashed token counts in a fixed number of buckets.

Each text is lower-cased and cut into tokens (maximal runs of letters and digits: ASCII ``a-z 0-9`` and every
non-ASCII character but spaces and punctuation blocks); each token is hashed with a fixed, seeded 64-bit hash
(a polynomial over its code points, finished by the splitmix64 mixer: pure integer arithmetic, the same in every
process, unlike Python's salted ``hash()``) into one of ``buckets`` buckets (256 by default), and the sketch
counts tokens per bucket. Tokens themselves are never stored nor exported: only the bucket counts (a number
per bucket) leave the process, so the words of a text cannot be read back (many words share each bucket).

Beside the counts the sketch keeps three per-text moments: the ``buckets x buckets`` sum over texts of
``c_t c_t'`` (``c_t`` text ``t``'s tokens per bucket), the per-bucket sum of ``c_tb * L_t`` and the sum of
``L_t**2`` (``L_t`` its tokens). They give the covariance of the bucket shares with texts as clusters
(:meth:`VocabularySketch.share_covariance`): tokens of one text are not independent draws (a text repeats its
words and its topic's words, in many buckets at once), which the collector's vocabulary test must know to be
calibrated. Everything is sum-mergeable; updating costs a few vectorised passes over the characters of a batch,
one sort of its tokens and one ``bincount`` over the pairs of buckets that share a text.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from otel_mlmon.conventions import (
    DESCRIPTOR_SEPARATOR,
    VOCABULARY,
    VOCABULARY_BUCKET_PREFIX,
    vocabulary_bucket,
)

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_SEED",
    "HASH_VERSION",
    "MAX_BUCKETS",
    "VocabularySketch",
    "is_vocabulary",
    "pack_products",
    "token_buckets",
    "unpack_products",
]

#: Buckets per text column by default: 256 series per text column on the wire.
DEFAULT_BUCKETS = 256
#: Seed of the default hash (any fixed number: what matters is that the SDK and the profiles use the same).
DEFAULT_SEED = 20_261_203
#: Version of the tokenizer and hash recipe; bumped if tokens or buckets would ever change.
HASH_VERSION = 1
#: Most buckets a vocabulary sketch may have (labels ``h000`` ... ``h1023``).
MAX_BUCKETS = 1024
_MIN_BUCKETS = 16
_LABEL = re.compile(re.escape(VOCABULARY_BUCKET_PREFIX) + r"[0-9]{3,4}")
_FORMAT = "otel-mlmon.vocabulary"
_MASK = (1 << 64) - 1
#: Floats below this magnitude are exact integers when integral (2**53).
_EXACT = float(2**53)
#: Odd 64-bit multiplier of the polynomial hash, and its inverse modulo 2**64.
_P = 0x9E3779B97F4A7C15
_P_INV = pow(_P, -1, 1 << 64)
#: Texts per tokenizing pass (bounds the temporary arrays of a large reference build).
_CHUNK = 4096


def _fmix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (every input bit reaches every output bit), on uint64 arrays."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class _Powers:
    """``P**j`` and ``P**-j`` modulo 2**64 for ``j`` below a length that grows by doubling (shared, read-only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        tables = self._tables
        if tables[0].size >= n:
            return tables
        with self._lock:
            size = max(n, 2 * self._tables[0].size, 1024)
            out = []
            for base in (_P, _P_INV):
                steps = np.full(size, base, dtype=np.uint64)
                steps[0] = 1
                table = np.cumprod(steps, dtype=np.uint64)  # integer products wrap modulo 2**64
                table.flags.writeable = False
                out.append(table)
            self._tables = (out[0], out[1])
            return self._tables


_powers = _Powers()


def _word_mask(codes: np.ndarray) -> np.ndarray:
    """Characters that belong to tokens: ASCII letters and digits, and non-ASCII characters outside Latin-1
    punctuation (U+0080-U+00BF), the Ogham space, general punctuation (U+2000-U+206F) and CJK punctuation
    (U+3000-U+303F)."""
    ascii_word = (
        ((codes >= 48) & (codes <= 57)) | ((codes >= 97) & (codes <= 122)) | ((codes >= 65) & (codes <= 90))
    )
    wide = codes >= 0xC0
    if wide.any():
        punct = (
            ((codes >= 0x2000) & (codes <= 0x206F))
            | ((codes >= 0x3000) & (codes <= 0x303F))
            | (codes == 0x1680)
        )
        return ascii_word | (wide & ~punct)
    return ascii_word


def token_buckets(
    texts: list[str], buckets: int = DEFAULT_BUCKETS, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The bucket of every token of ``texts`` and the index of the text it came from (both int64, in order).

    Example:
        >>> b, t = token_buckets(["The cat", "the CAT!", ""])
        >>> t.tolist(), bool(b[0] == b[2] and b[1] == b[3])
        ([0, 0, 1, 1], True)
    """
    lowered = [t.lower() for t in texts]
    lengths = np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered))
    codes = np.frombuffer("".join(lowered).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = codes.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    word = _word_mask(codes)
    offsets = np.cumsum(lengths) - lengths
    text_start = np.zeros(n, dtype=bool)
    text_start[offsets[lengths > 0]] = True
    previous = np.zeros(n, dtype=bool)
    previous[1:] = word[:-1]
    starts = np.flatnonzero(word & (~previous | text_start))
    following = np.zeros(n, dtype=bool)
    following[:-1] = word[1:] & ~text_start[1:]
    ends = np.flatnonzero(word & ~following)
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    up, down = _powers.get(n)
    # Token [s, e] hashes to sum_j c_j P**(j - s): prefix sums of c_j P**j, differenced, times P**-s.
    prefix = np.cumsum(codes.astype(np.uint64) * up[:n], dtype=np.uint64)
    below = np.where(starts > 0, prefix[np.maximum(starts - 1, 0)], np.uint64(0))
    value = (prefix[ends] - below) * down[starts]
    value += (ends - starts + 1).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    mixed = _fmix(value ^ np.uint64(_fmix(np.array([seed & _MASK], dtype=np.uint64))[0]))
    bucket = (mixed % np.uint64(buckets)).astype(np.int64)
    text = np.searchsorted(offsets, starts, side="right") - 1
    return bucket, text


class VocabularySketch:
    """Hashed token counts of one text column (``buckets`` counts), with per-text moments.

    Args:
        buckets: Hash buckets (16 to 1024; 256 by default): the series one text column exports.
        seed: Seed of the hash; both sides of a comparison must use the same ``(buckets, seed)``.
        moments: Keep the per-text moments (what :meth:`share_covariance` needs): reference profiles do; the SDK
            does not (it exports the counts only), which saves it most of the cost. Without them ``cross`` and
            ``length_squares`` stay 0 and ``products`` is None.

    Example:
        >>> a, b = VocabularySketch(), VocabularySketch()
        >>> a.update(np.array(["a cat sat", None], dtype=object))
        >>> b.update(np.array(["the cat"], dtype=object))
        >>> a.merge(b)
        >>> a.texts, a.tokens, a.missing, int(a.counts.sum())
        (2, 5, 1, 5)
    """

    __slots__ = (
        "buckets",
        "counts",
        "cross",
        "length_squares",
        "missing",
        "products",
        "seed",
        "texts",
        "tokens",
    )

    def __init__(
        self, buckets: int = DEFAULT_BUCKETS, seed: int = DEFAULT_SEED, moments: bool = True
    ) -> None:
        if (
            isinstance(buckets, bool)
            or not isinstance(buckets, int)
            or not _MIN_BUCKETS <= buckets <= MAX_BUCKETS
        ):
            raise ValueError(f"buckets must be an int in [{_MIN_BUCKETS}, {MAX_BUCKETS}], got {buckets!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MASK:
            raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
        self.buckets = buckets
        self.seed = seed
        #: Tokens per bucket.
        self.counts = np.zeros(buckets, dtype=np.int64)
        #: Texts summarised (missing ones excluded; texts without a token included) and their tokens.
        self.texts = 0
        self.tokens = 0
        #: Missing texts (None).
        self.missing = 0
        #: Sum over texts of the outer product of their per-bucket token counts (buckets x buckets); None when
        #: not kept.
        self.products: np.ndarray | None = np.zeros((buckets, buckets)) if moments else None
        #: Per bucket: sum over texts of (tokens in the bucket) * (tokens).
        self.cross = np.zeros(buckets)
        #: Sum over texts of (tokens)**2.
        self.length_squares = 0.0

    @property
    def identity(self) -> tuple[int, int, int]:
        """``(version, buckets, seed)``: two sketches merge and compare only when these match."""
        return (HASH_VERSION, self.buckets, self.seed)

    def update(self, values: np.ndarray) -> None:
        """Add a batch of texts: a 1-D object array of ``str`` (others formatted with ``str``) or None."""
        values = np.asarray(values, dtype=object)
        present = values != None  # noqa: E711 - elementwise on an object array
        self.missing += int(values.size - np.count_nonzero(present))
        texts = [v if type(v) is str else str(v) for v in values[present]]
        for lo in range(0, len(texts), _CHUNK):
            self._add(texts[lo : lo + _CHUNK])

    def _add(self, texts: list[str]) -> None:
        bucket, text = token_buckets(texts, self.buckets, self.seed)
        self.add_tokens(bucket, text, len(texts))

    def add_tokens(self, bucket: np.ndarray, text: np.ndarray, k: int) -> None:
        """Add ``k`` texts already tokenized: each token's bucket and the index (``0 .. k - 1``) of its text.

        :meth:`update` computes them with :func:`token_buckets`; simulations that draw hashed tokens directly
        (tests/collector/drift/vocab_sim.py) call this.
        """
        self.texts += k
        if bucket.size == 0:
            return
        self.counts += np.bincount(bucket, minlength=self.buckets)
        self.tokens += int(bucket.size)
        if self.products is None:
            return  # counts only (the SDK): the per-text moments are what a profile adds
        lengths = np.bincount(text, minlength=k).astype(np.float64)
        self.length_squares += float(lengths @ lengths)
        # Tokens per (text, bucket) pair, from one sort of the pair keys.
        pairs, per_pair = np.unique(text * self.buckets + bucket, return_counts=True)
        c = per_pair.astype(np.float64)
        b = pairs % self.buckets
        owner = pairs // self.buckets
        self.cross += np.bincount(b, weights=c * lengths[owner], minlength=self.buckets)
        # Every ordered pair of (bucket, count) entries of the same text: c_tb * c_tb' into products[b, b'].
        sizes = np.bincount(owner, minlength=k)[owner]  # entries of each entry's text
        first = np.searchsorted(owner, owner)  # index of the first entry of each entry's text
        left = np.repeat(np.arange(owner.size), sizes)
        right = np.repeat(first, sizes) + (np.arange(left.size) - np.repeat(np.cumsum(sizes) - sizes, sizes))
        flat = np.bincount(
            b[left] * self.buckets + b[right], weights=c[left] * c[right], minlength=self.buckets**2
        )
        self.products += flat.reshape(self.buckets, self.buckets)

    def merge(self, other: VocabularySketch) -> None:
        """Add ``other`` (same buckets and seed) into this sketch."""
        if other.identity != self.identity:
            raise ValueError(
                f"cannot merge a vocabulary sketch of {other.identity} into one of {self.identity}"
            )
        self.counts += other.counts
        self.texts += other.texts
        self.tokens += other.tokens
        self.missing += other.missing
        if self.products is not None and other.products is not None:
            self.products += other.products
        else:  # moments of only part of the texts are no moments
            self.products = None
        self.cross += other.cross
        self.length_squares += other.length_squares

    def share_covariance(self) -> np.ndarray | None:
        """The ``buckets x buckets`` covariance of the bucket shares ``p_b = sum_t c_tb / sum_t L_t`` with texts as
        clusters (the linearised variance of a ratio: ``n / (n - 1) * sum_t r_t r_t' / N**2`` with
        ``r_t = c_t - p L_t``). None below two texts with tokens."""
        n, total = self.texts, float(self.tokens)
        if n < 2 or total == 0 or self.products is None:
            return None
        p = self.counts / total
        spread = (
            self.products
            - np.outer(p, self.cross)
            - np.outer(self.cross, p)
            + self.length_squares * np.outer(p, p)
        )
        return n / (n - 1) * spread / total**2

    def design_effects(self) -> np.ndarray | None:
        """Per bucket, how much its share varies beyond independent tokens: ``Var(p_b) / (p_b (1 - p_b) / N)``
        (the diagonal of :meth:`share_covariance` over the multinomial's); NaN for buckets without tokens."""
        covariance = self.share_covariance()
        if covariance is None:
            return None
        p = self.counts / self.tokens
        with np.errstate(divide="ignore", invalid="ignore"):
            effects = np.diag(covariance) * self.tokens / (p * (1 - p))
        effects[(p <= 0) | (p >= 1)] = np.nan
        return effects

    def design_effect(self) -> float | None:
        """The buckets' design effects averaged with weights ``1 - p_b`` (Rao-Scott's first-order factor): about
        how many tokens count as one independent token. None below two texts with tokens."""
        effects = self.design_effects()
        if effects is None:
            return None
        known = np.isfinite(effects)
        if known.sum() < 2:
            return None
        weights = 1 - self.counts[known] / self.tokens
        return float((effects[known] * weights).sum() / weights.sum())

    def bucket_counts(self) -> dict[str, int]:
        """The exported form: bucket label (``h000`` ...) -> tokens, for the buckets with tokens."""
        return {vocabulary_bucket(int(i)): int(self.counts[i]) for i in np.flatnonzero(self.counts)}

    def to_dict(self) -> dict[str, Any]:
        """The sketch as JSON-ready data; the moments packed by :func:`pack_products` (``moments``)."""
        return {
            "format": _FORMAT,
            "version": HASH_VERSION,
            "buckets": self.buckets,
            "seed": self.seed,
            "texts": self.texts,
            "tokens": self.tokens,
            "missing": self.missing,
            "counts": self.counts.tolist(),
            "moments": None if self.products is None else pack_products(self.products),
            "cross": _exact_list(self.cross),
            "length_squares": self.length_squares,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VocabularySketch:
        """Rebuild a sketch from :meth:`to_dict` output.

        Raises:
            ValueError: on another format or version, or fields of the wrong shape.
        """
        if data.get("format") != _FORMAT or data.get("version") != HASH_VERSION:
            raise ValueError(f"not a version-{HASH_VERSION} {_FORMAT} sketch")
        try:
            packed, dense = (
                data.get("moments"),
                data.get("products"),
            )  # products: the dense form written before
            sketch = cls(int(data["buckets"]), int(data["seed"]), packed is not None or dense is not None)
            sketch.texts, sketch.tokens = int(data["texts"]), int(data["tokens"])
            sketch.missing = int(data["missing"])
            sketch.length_squares = float(data["length_squares"])
            b = sketch.buckets
            fields = (("counts", np.int64, b), ("products", np.float64, b * b), ("cross", np.float64, b))
            for field, dtype, size in fields:
                if field == "products" and (sketch.products is None or packed is not None):
                    continue
                value = np.asarray(data[field], dtype=dtype)
                if value.shape != (size,):
                    raise ValueError(f"{field} must have {size} values, got shape {value.shape}")
                setattr(sketch, field, value.reshape(b, b) if field == "products" else value)
            if packed is not None:
                sketch.products = unpack_products(packed, b)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed vocabulary sketch: {exc!r}") from None
        if (sketch.counts < 0).any() or int(sketch.counts.sum()) != sketch.tokens:
            raise ValueError("vocabulary sketch counts must be >= 0 and add up to its tokens")
        return sketch

    def __repr__(self) -> str:
        return (
            f"VocabularySketch(buckets={self.buckets}, seed={self.seed}, texts={self.texts}, "
            f"tokens={self.tokens}, missing={self.missing})"
        )


def _exact_list(values: np.ndarray) -> list:
    """Integral float values (sums of token-count products are) as JSON integers, which are shorter; others as
    floats."""
    if np.all(np.abs(values) < _EXACT) and np.array_equal(values, np.round(values)):
        return values.astype(np.int64).tolist()
    return values.tolist()


def pack_products(products: np.ndarray) -> dict[str, Any]:
    """The symmetric ``buckets x buckets`` moment matrix, exactly, in fewer characters: its upper triangle (row by
    row, ``i <= j``) as integers, and when most of it is zero (a small or topical vocabulary) only the non-zero
    entries, each as its distance from the previous one (``index``) and its value.

    Example:
        >>> m = np.diag([4.0, 0.0, 0.0, 9.0])
        >>> m[0, 1] = m[1, 0] = 2.0
        >>> pack_products(m)
        {'layout': 'sparse-upper', 'index': [0, 1, 8], 'values': [4, 2, 9]}
        >>> bool((unpack_products(pack_products(m), 4) == m).all())
        True
    """
    upper = products[np.triu_indices(products.shape[0])]
    nonzero = np.flatnonzero(upper)
    if 2 * nonzero.size < upper.size:
        gaps = np.diff(nonzero, prepend=0)
        return {"layout": "sparse-upper", "index": gaps.tolist(), "values": _exact_list(upper[nonzero])}
    return {"layout": "upper", "values": _exact_list(upper)}


def unpack_products(packed: Mapping[str, Any], buckets: int) -> np.ndarray:
    """The moment matrix of :func:`pack_products`' output (ValueError on a malformed one)."""
    size = buckets * (buckets + 1) // 2
    values = np.asarray(packed["values"], dtype=np.float64)
    layout = packed.get("layout")
    if layout == "upper":
        upper = values
    elif layout == "sparse-upper":
        index = np.cumsum(np.asarray(packed["index"], dtype=np.int64))
        if index.shape != values.shape or (index.size and (index[0] < 0 or index[-1] >= size)):
            raise ValueError("sparse moments need one index per value, within the upper triangle")
        if index.size > 1 and (np.diff(index) <= 0).any():
            raise ValueError("sparse moment indices must increase")
        upper = np.zeros(size)
        upper[index] = values
    else:
        raise ValueError(f"unknown moments layout {layout!r}")
    if upper.shape != (size,):
        raise ValueError(f"moments must have {size} upper-triangle values, got shape {upper.shape}")
    out = np.zeros((buckets, buckets))
    rows, cols = np.triu_indices(buckets)
    out[rows, cols] = upper
    out[cols, rows] = upper
    return out


def is_vocabulary(column: str, labels: Iterable[str]) -> bool:
    """Whether a categorical column is a vocabulary sketch's exported form: named ``{text column}.vocabulary``,
    every category a bucket label (``h000`` ... ``h1023``)."""
    return column.endswith(DESCRIPTOR_SEPARATOR + VOCABULARY) and all(
        isinstance(label, str) and _LABEL.fullmatch(label) and int(label[1:]) < MAX_BUCKETS
        for label in labels
    )


@functools.lru_cache(maxsize=4)
def bucket_labels(buckets: int) -> tuple[str, ...]:
    """Every bucket's label, in bucket order."""
    return tuple(vocabulary_bucket(i) for i in range(buckets))
