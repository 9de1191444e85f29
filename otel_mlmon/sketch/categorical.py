"""Categorical distribution sketch: bounded top-K counts, an explicit "other" mass and a distinct count."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from otel_mlmon.sketch._fields import int_field
from otel_mlmon.sketch._kmv import KMinValues, hash64

__all__ = ["CategoricalSketch"]

_FORMAT = "otel-mlmon.categorical-sketch"
_FORMAT_VERSION = 1
_NUMERIC_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


class CategoricalSketch:
    """Bounded top-K category counts (mergeable Misra–Gries) with an explicit "other" mass.

    Each batch is counted exactly (``np.unique`` for numpy arrays, a C-level ``Counter`` for object data)
    and folded into at most ``max_categories`` (K) counters: when more than K keys are present, the
    (K+1)-th largest count ``c`` is subtracted from every counter and keys at or below zero are dropped.
    Counts therefore never over-estimate, and for every category ``x`` with true count ``f(x)``::

        f(x) - error_bound <= kept_count(x) <= f(x),   error_bound <= other_count / (K + 1)

    where ``other_count = count - sum(kept counts)`` is the mass not attributed to a kept category, and a
    category that is not kept has ``f(x) <= error_bound``. With at most K distinct categories every count
    is exact and ``other_count == 0``. The same bound holds after any sequence of merges of sketches with
    the same K (mergeable summaries, Agarwal et al. 2012). ``error_bound`` is tracked explicitly (the sum of
    every subtraction applied), so the first inequality holds even when sketches with different K merge.

    Values are turned into category strings by a documented, stable rule: ``None``, float NaN and other
    values unequal to themselves or without a truth value for ``!=`` (NaT, ``pandas.NA``) are missing and
    ignored (the caller counts them); ``True``/``False`` become ``"true"``/``"false"``;
    integers their decimal form (``3`` -> ``"3"``); integral floats the same as integers (``3.0`` ->
    ``"3"``), other floats numpy's shortest round-trip form (``0.1`` -> ``"0.1"``); bytes are decoded as
    UTF-8 (invalid bytes replaced); anything else uses ``str()``. Strings longer than ``max_length``
    characters are truncated. With ``hash_salt``, each category string (before truncation) is replaced by
    the keyed hash ``blake2b(utf8(string), key=blake2b(utf8(salt), digest_size=32, person="otelmlmon-salt"),
    digest_size=8)`` as 16 hex digits, so raw values never leave the process; the salt itself
    is never serialised (only a fingerprint, to refuse merging sketches hashed with different salts).

    The number of distinct categories is estimated with a K-minimum-values sketch of ``distinct_k``
    64-bit hashes: exact below ``distinct_k`` distinct values, relative standard error
    ``1 / sqrt(distinct_k - 2)`` (3.1 % for the default 1024) above.

    Parameters:
        max_categories: K, the number of categories kept with counts (>= 1).
        max_length: Maximum length of a category string in characters (>= 1).
        hash_salt: If given, categories are replaced by salted hashes before counting.
        distinct_k: Size of the distinct-count sketch (>= 3).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(7)
        >>> colours = np.array(["red", "green", "blue", "cyan"])[rng.zipf(2.0, 10_000) % 4]
        >>> sketch = CategoricalSketch(max_categories=2)
        >>> sketch.update(colours)
        >>> sketch.update([True, None, 3, 3.0])
        >>> sketch.count, sketch.top(), sketch.other_count
        (10003, [('green', 5609), ('blue', 862)], 3532)
        >>> sketch.error_bound <= sketch.other_count / 3, sketch.distinct_estimate()
        (True, 6.0)

    References:
        Misra, Gries (1982), "Finding repeated elements". Agarwal, Cormode, Huang, Phillips, Wei, Yi (2012),
        "Mergeable summaries". Beyer et al. (2007), "On synopses for distinct-value estimation under
        multiset operations" (KMV).
    """

    def __init__(
        self,
        max_categories: int = 64,
        max_length: int = 128,
        hash_salt: str | None = None,
        distinct_k: int = 1024,
    ) -> None:
        if not isinstance(max_categories, int) or isinstance(max_categories, bool) or max_categories < 1:
            raise ValueError(f"max_categories must be an int >= 1, got {max_categories!r}")
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"max_length must be an int >= 1, got {max_length!r}")
        if hash_salt is not None and (not isinstance(hash_salt, str) or not hash_salt):
            raise ValueError(f"hash_salt must be a non-empty str or None, got {hash_salt!r}")
        if not isinstance(distinct_k, int) or isinstance(distinct_k, bool) or distinct_k < 3:
            raise ValueError(f"distinct_k must be an int >= 3, got {distinct_k!r}")
        self.max_categories = max_categories
        self.max_length = max_length
        self.hash_salt = hash_salt
        self.distinct_k = distinct_k
        self._salt_key = _salt_key(hash_salt) if hash_salt is not None else None
        self._salt_id = _salt_id(hash_salt) if hash_salt is not None else None
        self._reset()

    def _reset(self) -> None:
        self._counts: dict[str, int] = {}
        self.count = 0
        self._error = 0
        self._distinct = KMinValues(self.distinct_k)

    # ------------------------------------------------------------------ updating
    def update(self, values: np.ndarray | Sequence[Any] | Iterable[Any]) -> None:
        """Count a batch of values (see the class docstring for how values become category strings).

        Raises:
            ValueError: if the sketch holds salted hashes but was loaded without its ``hash_salt``.
        """
        if self._salt_id is not None and self._salt_key is None:
            raise ValueError("this sketch holds salted hashes: load it with its hash_salt to update it")
        batch = self._finish_keys(_count_values(values))
        if not batch:
            return
        self.count += sum(batch.values())
        self._distinct.update(hash64(batch))
        self._fold(batch)

    def _finish_keys(self, raw: dict[str, int]) -> dict[str, int]:
        """Hash (with a salt) or truncate category strings, adding up the counts of keys that collide."""
        if self._salt_key is not None:
            key = self._salt_key
            finished: dict[str, int] = {}
            for text, n in raw.items():
                digest = hashlib.blake2b(
                    text.encode("utf-8", "surrogatepass"), key=key, digest_size=8
                ).hexdigest()
                finished[digest] = finished.get(digest, 0) + n
            return finished
        limit = self.max_length
        if all(len(text) <= limit for text in raw):
            return raw
        finished = {}
        for text, n in raw.items():
            short = text[:limit]
            finished[short] = finished.get(short, 0) + n
        return finished

    def _fold(self, batch: Mapping[str, int]) -> None:
        """Misra–Gries merge of an exactly counted batch into the kept counters."""
        counts = self._counts
        for key, n in batch.items():
            counts[key] = counts.get(key, 0) + n
        self._counts, cut = _prune(counts, self.max_categories)
        self._error += cut

    def merge(self, other: CategoricalSketch) -> None:
        """Add ``other`` into this sketch, in place (kept counters, count, error bound, distinct hashes).

        Raises:
            TypeError: if ``other`` is not a ``CategoricalSketch``.
            ValueError: if the two sketches hash categories with different salts (or one hashes, one not).
        """
        if not isinstance(other, CategoricalSketch):
            raise TypeError(f"other must be a CategoricalSketch, got {type(other).__name__}")
        if other._salt_id != self._salt_id:
            raise ValueError(
                "cannot merge sketches whose categories are hashed with different hash_salt values"
            )
        counts = dict(self._counts)
        for key, n in other._counts.items():
            counts[key] = counts.get(key, 0) + n
        self._counts, cut = _prune(counts, self.max_categories)
        self._error += other._error + cut
        self.count += other.count
        self._distinct.merge(other._distinct)

    def subtract(self, older: CategoricalSketch) -> CategoricalSketch | None:
        """The counts added since ``older``, an earlier cumulative state of this sketch; None on a reset.

        Turns two cumulative exports of one series into the delta between them, as a new sketch (both operands
        are left unchanged). A kept count of a cumulative Misra–Gries sketch may go down (the sketch subtracts
        when it prunes) and a category may move between the kept list and the other mass, so only the total
        decides a reset. Kept categories get their (non-negative) increase, the other mass the rest of the
        total's increase; when the increases of categories that were not kept before add up to more than the
        total's increase (their earlier counts are unknown), they are scaled down to fit. Exact whenever the
        sketch kept every category. The result has no distinct-count hashes (a set difference is unknowable).

        Raises:
            TypeError: if ``older`` is not a ``CategoricalSketch``.
            ValueError: if the two sketches hash categories with different salts (or one hashes, one not).
        """
        if not isinstance(older, CategoricalSketch):
            raise TypeError(f"older must be a CategoricalSketch, got {type(older).__name__}")
        if older._salt_id != self._salt_id:
            raise ValueError(
                "cannot subtract sketches whose categories are hashed with different hash_salt values"
            )
        if self.count < older.count:
            return None
        growth = self.count - older.count
        delta = {key: max(n - older._counts.get(key, 0), 0) for key, n in self._counts.items()}
        attributed = sum(delta.values())
        if attributed > growth:
            scale = growth / attributed
            delta = {key: math.floor(n * scale) for key, n in delta.items()}
            attributed = sum(delta.values())
        return CategoricalSketch.from_counts(
            delta,
            other_count=growth - attributed,
            max_categories=self.max_categories,
            max_length=self.max_length,
        )

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        other_count: int = 0,
        max_categories: int = 64,
        max_length: int = 128,
    ) -> CategoricalSketch:
        """A sketch holding exported top-K counts (as OTLP points carry them), without pruning them.

        Categories with a zero count are left out; ``max_categories`` is raised to the number of categories
        given, so every one is kept. ``other_count`` is the mass outside them. The counts of a Misra–Gries
        exporter are lower bounds with error at most ``other_count / (K + 1)`` for its K, which is at least the
        number of categories it kept, so ``other_count // (kept + 1)`` is a valid error bound. The distinct
        count starts empty.

        Raises:
            ValueError: if a count or ``other_count`` is negative or not an integer, or a category not a string.
        """
        kept = []
        for key, n in counts.items():
            if (
                not isinstance(key, str)
                or isinstance(n, bool)
                or not isinstance(n, int | np.integer)
                or n < 0
            ):
                raise ValueError(f"counts must map category strings to integers >= 0, got {key!r}: {n!r}")
            if n > 0:
                kept.append((key, int(n)))
        if isinstance(other_count, bool) or not isinstance(other_count, int | np.integer) or other_count < 0:
            raise ValueError(f"other_count must be an integer >= 0, got {other_count!r}")
        kept.sort(key=lambda item: (-item[1], item[0]))
        sketch = cls(max_categories=max(max_categories, len(kept)), max_length=max_length)
        sketch._counts = dict(kept)
        sketch.count = int(other_count) + sum(n for _, n in kept)
        sketch._error = int(other_count) // (len(kept) + 1)
        return sketch

    def copy(self) -> CategoricalSketch:
        """Return an independent copy."""
        clone = CategoricalSketch.__new__(CategoricalSketch)
        clone.__dict__.update(self.__dict__)
        clone._counts = dict(self._counts)
        clone._distinct = KMinValues(self.distinct_k)
        clone._distinct.hashes = self._distinct.hashes.copy()
        return clone

    # ------------------------------------------------------------------ reading
    def top(self, k: int | None = None) -> list[tuple[str, int]]:
        """The kept categories with their counts, largest first (ties by category), at most ``k`` of them."""
        ranked = sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
        return ranked if k is None else ranked[: max(k, 0)]

    @property
    def other_count(self) -> int:
        """Mass not attributed to a kept category: ``count - sum(kept counts)`` (>= 0)."""
        return self.count - sum(self._counts.values())

    @property
    def error_bound(self) -> int:
        """Largest possible under-count of any category's count (0 while counts are exact)."""
        return self._error

    def distinct_estimate(self) -> float:
        """Estimated number of distinct categories (exact below ``distinct_k``)."""
        return self._distinct.estimate()

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return a compact, JSON-friendly, versioned representation (never the salt itself)."""
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "max_categories": self.max_categories,
            "max_length": self.max_length,
            "hashed": self._salt_id,
            "count": self.count,
            "error_bound": self._error,
            "counts": [[key, n] for key, n in self.top()],
            "distinct": {"k": self.distinct_k, "hashes": self._distinct.to_text()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], hash_salt: str | None = None) -> CategoricalSketch:
        """Rebuild a sketch from :meth:`to_dict` output, validating every field.

        Args:
            data: The dictionary.
            hash_salt: For a hashed sketch, its salt (checked against the stored fingerprint); without it
                the sketch can be read and merged but not updated.

        Raises:
            ValueError: naming the field, on an unknown format or version, a mistyped field, too many or
                negative counts, counts exceeding ``count``, or a salt that does not match.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"categorical sketch must be a mapping, got {type(data).__name__}")
        if data.get("format") != _FORMAT:
            raise ValueError(f"format must be {_FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported categorical sketch version {data.get('version')!r}")
        distinct = data.get("distinct")
        if not isinstance(distinct, Mapping):
            raise ValueError("distinct must be a mapping with 'k' and 'hashes'")
        sketch = cls(
            max_categories=int_field(data, "max_categories"),
            max_length=int_field(data, "max_length"),
            distinct_k=int_field(distinct, "k"),
        )
        salt_id = data.get("hashed")
        if salt_id is not None and not isinstance(salt_id, str):
            raise ValueError(f"hashed must be a salt fingerprint string or null, got {salt_id!r}")
        if hash_salt is not None:
            if salt_id != _salt_id(hash_salt):
                raise ValueError("hash_salt does not match the salt this sketch was hashed with")
            sketch.hash_salt, sketch._salt_key = hash_salt, _salt_key(hash_salt)
        sketch._salt_id = salt_id
        sketch.count = int_field(data, "count", minimum=0)
        sketch._error = int_field(data, "error_bound", minimum=0)
        raw = data.get("counts")
        if not isinstance(raw, list) or len(raw) > sketch.max_categories:
            raise ValueError(f"counts must be a list of at most max_categories={sketch.max_categories} pairs")
        for pair in raw:
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not isinstance(pair[0], str)
                or isinstance(pair[1], bool)
                or not isinstance(pair[1], int)
                or pair[1] <= 0
            ):
                raise ValueError(f"counts entries must be [category, positive int] pairs, got {pair!r}")
            if pair[0] in sketch._counts:
                raise ValueError(f"counts lists category {pair[0]!r} twice")
            sketch._counts[pair[0]] = pair[1]
        if sketch.other_count < 0:
            raise ValueError(f"counts add up to more than count={sketch.count}")
        hashes = distinct.get("hashes")
        if not isinstance(hashes, str):
            raise ValueError("distinct.hashes must be a base64 string")
        sketch._distinct = KMinValues.from_text(sketch.distinct_k, hashes)
        return sketch

    # ------------------------------------------------------------------ dunder
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalSketch):
            return NotImplemented
        return (
            self.max_categories == other.max_categories
            and self.max_length == other.max_length
            and self.distinct_k == other.distinct_k
            and self._salt_id == other._salt_id
            and self.count == other.count
            and self._error == other._error
            and self._counts == other._counts
            and np.array_equal(self._distinct.hashes, other._distinct.hashes)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"CategoricalSketch(max_categories={self.max_categories}, count={self.count}, "
            f"kept={len(self._counts)}, other_count={self.other_count}, error_bound={self._error})"
        )


# ---------------------------------------------------------------------- private helpers
def _prune(counts: dict[str, int], capacity: int) -> tuple[dict[str, int], int]:
    """Subtract the (capacity+1)-th largest count from all counters and drop those left at <= 0."""
    if len(counts) <= capacity:
        return counts, 0
    values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    cut = int(np.partition(values, values.size - capacity - 1)[values.size - capacity - 1])
    return {key: n - cut for key, n in counts.items() if n > cut}, cut


def _salt_key(salt: str) -> bytes:
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=32, person=b"otelmlmon-salt").digest()


def _salt_id(salt: str) -> str:
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=8, person=b"otelmlmon-sid").hexdigest()


def _float_key(value: float) -> str | None:
    """Category string of a float: None for NaN, integral values as integers, else shortest repr."""
    if math.isnan(value):
        return None
    if math.isfinite(value) and value == math.floor(value):
        return str(int(value))
    return repr(float(value))


def _scalar_key(value: Any) -> str | None:
    """Category string of one Python/numpy scalar (None when the value is missing)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_key(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        if value != value:  # NaN-like missing markers (NaT, Decimal NaN)
            return None
    except (TypeError, ValueError):  # pandas.NA and friends have no truth value: missing
        return None
    return str(value)


def _add(out: dict[str, int], key: str | None, n: int) -> None:
    if key is not None:
        out[key] = out.get(key, 0) + n


def _count_values(values: Any) -> dict[str, int]:
    """Exact counts of the category strings in one batch (before truncation or hashing)."""
    if isinstance(values, np.ndarray):
        return _count_array(values.ravel())
    if not isinstance(values, list | tuple) and hasattr(values, "__array__"):
        return _count_array(np.asarray(values).ravel())
    return _count_objects(values if isinstance(values, list | tuple) else list(values))


def _count_array(array: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    kind = array.dtype.kind
    if array.size == 0:
        return out
    if kind == "b":
        trues = int(np.count_nonzero(array))
        counted = {"true": trues, "false": int(array.size) - trues}
        return {key: n for key, n in counted.items() if n}
    if kind in "iu":
        uniques, counts = np.unique(array, return_counts=True)
        return dict(zip(uniques.astype(str).tolist(), counts.tolist()))
    if kind == "f":
        array = array[~np.isnan(array)]
        uniques, counts = np.unique(array, return_counts=True)
        for value, n in zip(uniques.tolist(), counts.tolist()):
            _add(out, _float_key(value), n)
        return out
    if kind == "U":
        uniques, counts = np.unique(array, return_counts=True)
        return dict(zip(uniques.tolist(), counts.tolist()))
    if kind == "S":
        uniques, counts = np.unique(array, return_counts=True)
        for value, n in zip(uniques.tolist(), counts.tolist()):
            _add(out, value.decode("utf-8", "replace"), n)
        return out
    if kind in "mM":
        array = array[~np.isnat(array)]
        uniques, counts = np.unique(array, return_counts=True)
        return dict(zip(uniques.astype(str).tolist(), counts.tolist()))
    return _count_objects(array.tolist())


def _count_objects(items: Sequence[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        counter = Counter(items)
    except TypeError:  # unhashable values: stringify one by one
        for value in items:
            _add(out, _scalar_key(value), 1)
        return out
    # Counter merges keys that compare equal: True with 1, 0.0 with False. Recount with the type as part of
    # the key when such keys are present, so each value is stringified by its own type.
    if any(isinstance(key, _NUMERIC_SCALARS) and key in (0, 1) for key in counter):
        counter = Counter(zip(map(type, items), items))
        pairs = ((key[1], n) for key, n in counter.items())
    else:
        pairs = iter(counter.items())
    for value, n in pairs:
        _add(out, _scalar_key(value), n)
    return out
